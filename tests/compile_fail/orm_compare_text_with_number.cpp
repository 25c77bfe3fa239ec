// Must not compile: a text column compared with a number.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() { return keel::select<Band>().where(keel::c<&Band::name> > 5); }
