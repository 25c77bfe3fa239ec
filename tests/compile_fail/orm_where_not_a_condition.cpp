// Must not compile: where() takes a condition, not a text column.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using keel::c;
  return keel::select<Band>().where(c<&Band::name>);
}
