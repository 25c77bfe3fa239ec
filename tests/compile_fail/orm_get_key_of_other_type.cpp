// Must not compile: get<T>(key) with a key that does not compare with the primary key.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() { return keel::get<Band>(std::string("one")); }
