// Must not compile: keel::select(...) takes columns and expressions, not a C++ value.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() { return keel::select(42); }
