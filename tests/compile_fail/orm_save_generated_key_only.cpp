// Must not compile: a table of its generated key alone has nothing that save() could update.
import keel;
#include "orm_tables_for_misuse.hpp"

struct Ticket {
  keel::Id id;
};

auto misuse() { return keel::save(Ticket{}).run_sync(); }
