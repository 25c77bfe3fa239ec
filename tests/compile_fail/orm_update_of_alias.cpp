// Must not compile: an UPDATE names a table, not an alias.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using Other = keel::Alias<Band, "other">;
  return keel::update<Other>();
}
