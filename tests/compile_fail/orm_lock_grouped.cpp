// Must not compile: a grouped row stands for many rows, none of which it could lock; PostgreSQL refuses FOR
// UPDATE with GROUP BY (and so with HAVING, which needs group_by()).
#include <chrono>
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() { return keel::select(keel::c<&Band::country>).group_by(keel::c<&Band::country>).for_update(); }
