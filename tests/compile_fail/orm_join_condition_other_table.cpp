// Must not compile: a join's condition reads a table that is neither joined nor in the query.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using keel::c;
  return keel::select<Band>().join<Manager>(c<&Employee::name> == c<&Manager::name>);
}
