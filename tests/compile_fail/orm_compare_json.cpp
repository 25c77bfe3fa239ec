// Must not compile: a JSON column compared with an operator (json has no =; jsonb's is not SQLite's).
#include <chrono>
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() { return keel::select<Event>().where(keel::c<&Event::payload> == keel::Json{"{}"}); }
