// Must not compile: having() filters the groups of a GROUP BY; without group_by() there are none.
import keel;
#include "orm_tables_for_misuse.hpp"

void misuse(keel::Engine& engine) {
  (void)keel::select(keel::c<&Band::name>).having(keel::count_all() > 1).run_sync(engine);
}
