// Must not compile: get_or_create's first argument is a condition on the row's table, not a value.
import keel;
#include "orm_tables_for_misuse.hpp"

void misuse(keel::Engine& engine) { (void)keel::get_or_create(42, Band{.name = "Pythonistas"}).run_sync(engine); }
