// Must not compile: into<keel::Json>() gives the text column's select the element type of the JSON column's, but
// the union would combine text with JSON (which PostgreSQL refuses, and SQLite would return names as documents).
#include <chrono>
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  return keel::union_all(keel::select(keel::c<&Band::name>).into<keel::Json>(), keel::select(keel::c<&Event::payload>));
}
