// Must not compile: ON CONFLICT DO UPDATE needs the conflicting columns (PostgreSQL has no DO UPDATE on any
// constraint), so on_conflict() without columns offers do_nothing() only.
import keel;
#include "orm_tables_for_misuse.hpp"

void misuse(keel::Engine& engine, const Band& band) {
  (void)keel::insert(band).on_conflict().do_update(keel::c<&Band::popularity>).run_sync(engine);
}
