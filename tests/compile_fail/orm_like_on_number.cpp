// Must not compile: like() on a number column.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using keel::c;
  return keel::select<Band>().where(c<&Band::popularity>.like("1%"));
}
