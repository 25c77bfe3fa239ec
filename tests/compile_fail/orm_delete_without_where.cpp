// Must not compile: a delete without where() and without force() would remove every row.
import keel;
#include "orm_tables_for_misuse.hpp"

void misuse(keel::Engine& engine) { keel::delete_from<Band>().run_sync(engine); }
