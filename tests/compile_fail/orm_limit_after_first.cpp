// Must not compile: first() already limits the query to one row, so a later limit() would be ignored.
import keel;
#include "orm_tables_for_misuse.hpp"

void misuse(keel::Engine& engine) { (void)keel::select<Band>().first().limit(5).run_sync(engine); }
