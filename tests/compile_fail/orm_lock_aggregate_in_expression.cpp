// Must not compile: an aggregate inside an expression (max(x) + 1) makes the select aggregate its rows, as one
// listed alone does, and PostgreSQL refuses FOR UPDATE with aggregate functions.
#include <chrono>
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() { return keel::select(keel::max(keel::c<&Band::popularity>) + 1).for_update(); }
