// Must not compile: an update's where() reads a table the update does not.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using keel::c;
  return keel::update<Band>().set(c<&Band::popularity>, 1).where(c<&Manager::name> == "Brian");
}
