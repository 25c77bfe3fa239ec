// Must not compile: an update sets columns of its own table, not of an alias of it.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using Boss = keel::Alias<Employee, "boss">;
  return keel::update<Employee>().set(Boss::c<&Employee::salary>, 1).where(keel::c<&Employee::id> == 1);
}
