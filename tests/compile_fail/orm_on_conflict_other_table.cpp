// Must not compile: on_conflict() names columns of the table inserted into.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using keel::c;
  return keel::insert(Band{.name = "Pythonistas"}).on_conflict(c<&Manager::name>).do_nothing();
}
