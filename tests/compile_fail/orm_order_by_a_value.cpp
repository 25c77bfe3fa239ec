// Must not compile: order_by() takes columns or expressions, not a C++ value.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() { return keel::select<Band>().order_by(42); }
