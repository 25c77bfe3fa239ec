// Must not compile: join<S>(condition) takes a condition, not a column.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using keel::c;
  return keel::select<Band>().join<Manager>(c<&Manager::name>);
}
