// Must not compile: a date column compared with text, which would compare as text on SQLite; dates compare with
// std::chrono::sys_days.
#include <chrono>
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() { return keel::select<Event>().where(keel::c<&Event::day> == "2026-12-01"); }
