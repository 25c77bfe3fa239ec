// Must not compile: a delete returns columns of its own table only.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using keel::c;
  return keel::delete_from<Band>().where(c<&Band::id> == 1).returning(c<&Manager::name>);
}
