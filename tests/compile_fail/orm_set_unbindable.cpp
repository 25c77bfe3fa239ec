// Must not compile: set() of a struct that is no column type, which cannot be bound as a SQL value.
import keel;
#include "orm_tables_for_misuse.hpp"

struct Point {
  int x = 0;
};

auto misuse() {
  using keel::c;
  return keel::update<Band>().set(c<&Band::name>, Point{1}).where(c<&Band::id> == 1);
}
