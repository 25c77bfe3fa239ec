// Must not compile: do_update() without columns and without set() would update nothing on a conflict.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using keel::c;
  return keel::insert(Band{.name = "Pythonistas"}).on_conflict(c<&Band::name>).do_update().run_sync();
}
