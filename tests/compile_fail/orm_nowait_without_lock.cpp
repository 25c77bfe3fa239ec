// Must not compile: nowait() says what a row lock does when another transaction holds the row, so it needs a
// row lock first.
#include <chrono>
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() { return keel::select<Band>().nowait(); }
