// Must not compile: an index covers columns of one table.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using keel::c;
  return keel::create_index(c<&Band::name>, c<&Manager::name>);
}
