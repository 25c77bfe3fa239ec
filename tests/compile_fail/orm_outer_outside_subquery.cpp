// Must not compile: keel::outer names a column of the query around a subquery, and this select is not inside one.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using keel::c;
  return keel::select(c<&Band::name>).where(keel::outer(c<&Band::popularity>) > 10).run_sync();
}
