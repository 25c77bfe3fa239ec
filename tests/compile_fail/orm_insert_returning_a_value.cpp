// Must not compile: returning() takes columns and expressions, not a C++ value.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() { return keel::insert(Band{.name = "Pythonistas"}).returning(42); }
