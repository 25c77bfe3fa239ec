// Must not compile: count<T>() gives one value, so group_by() would give the first group's count alone.
import keel;
#include "orm_tables_for_misuse.hpp"

void misuse(keel::Engine& engine) { (void)keel::count<Band>().group_by(keel::c<&Band::manager>).run_sync(engine); }
