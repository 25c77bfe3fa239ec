// Must not compile: a key join of an alias whose name a table of the query already has.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() { return keel::select<Band>().join<&Band::manager, keel::Alias<Manager, "band">>(); }
