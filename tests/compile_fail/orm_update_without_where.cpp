// Must not compile: an update without where() and without force() would change every row.
import keel;
#include "orm_tables_for_misuse.hpp"

void misuse(keel::Engine& engine) { (void)keel::update<Band>().set(keel::c<&Band::popularity>, 1).run_sync(engine); }
