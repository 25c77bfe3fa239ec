// Must not compile: && joins conditions, not numbers.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using keel::c;
  return keel::select<Band>().where(c<&Band::popularity> > 1 && c<&Band::popularity>);
}
