// Must not compile: a union sorts by the columns its first select lists.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using keel::c;
  return keel::union_all(keel::select(c<&Band::name>), keel::select(c<&Manager::name>)).order_by(c<&Band::popularity>);
}
