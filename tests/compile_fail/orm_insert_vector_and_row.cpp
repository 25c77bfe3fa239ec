// Must not compile: insert() takes rows, or one vector of rows, not both.
import keel;
#include "orm_tables_for_misuse.hpp"
#include <vector>

auto misuse() { return keel::insert(std::vector<Band>{}, Band{.name = "Pythonistas"}); }
