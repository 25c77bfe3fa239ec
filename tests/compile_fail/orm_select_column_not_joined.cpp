// Must not compile: the select lists a column of a table it never joins; running it is refused.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using keel::c;
  return keel::select(c<&Band::name>, c<&Manager::name>).run_sync();
}
