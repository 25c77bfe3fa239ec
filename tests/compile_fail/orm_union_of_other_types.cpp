// Must not compile: a union of selects whose columns have different types (text and an integer).
#include <chrono>
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() { return keel::union_all(keel::select(keel::c<&Band::name>), keel::select(keel::c<&Band::popularity>)); }
