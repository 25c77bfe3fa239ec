// Must not compile: a condition on a column of a table the query does not read (no join to Manager).
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() { return keel::select<Band>().where(keel::c<&Manager::name> == "Guido"); }
