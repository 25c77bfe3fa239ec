// Must not compile: a Manager inserted into the band table.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() { return keel::insert<Band>(Manager{}); }
