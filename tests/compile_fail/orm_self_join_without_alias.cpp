// Must not compile: a table joined to itself along its own key without an alias; both ends are in the query.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() { return keel::select<Employee>().join<&Employee::manager>(); }
