// Must not compile: a struct that is no column type cannot be bound as a SQL value.
import keel;
#include "orm_tables_for_misuse.hpp"

struct Point {
  int x = 0;
};

auto misuse() {
  using keel::c;
  return keel::select<Band>().where(c<&Band::name> == Point{1});
}
