// Must not compile: exists() of a count always finds its one row.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() { return keel::select<Band>().where(keel::exists(keel::count<Manager>())); }
