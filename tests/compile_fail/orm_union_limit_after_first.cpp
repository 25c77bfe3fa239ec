// Must not compile: a union's first() already limits it to one row.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using keel::c;
  return keel::union_all(keel::select(c<&Band::name>), keel::select(c<&Manager::name>)).first().limit(3);
}
