// Must not compile: sum() of a text column.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using keel::c;
  return keel::select(keel::sum(c<&Band::name>));
}
