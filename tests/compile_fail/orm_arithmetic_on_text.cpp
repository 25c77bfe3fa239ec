// Must not compile: arithmetic on a text column.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using keel::c;
  return keel::select(c<&Band::name> + 1);
}
