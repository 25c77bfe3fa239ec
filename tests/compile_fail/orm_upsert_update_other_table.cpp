// Must not compile: do_update() sets columns of the table inserted into; Manager's "name" would be written as
// Band's own "name" = excluded."name".
import keel;
#include "orm_tables_for_misuse.hpp"

void misuse(keel::Engine& engine, const Band& band) {
  (void)keel::insert(band).on_conflict(keel::c<&Band::name>).do_update(keel::c<&Manager::name>).run_sync(engine);
}
