// Must not compile: keel::excluded<...> is the row an insert proposed, readable only in its ON CONFLICT DO UPDATE.
import keel;
#include "orm_tables_for_misuse.hpp"

void misuse(keel::Engine& engine) {
  (void)keel::select<Band>().where(keel::excluded<&Band::popularity> > 1).run_sync(engine);
}
