// Must not compile: a row lock belongs to the outer query; PostgreSQL refuses FOR UPDATE in some subqueries and
// would lock rows the caller never sees in others.
import keel;
#include "orm_tables_for_misuse.hpp"

void misuse(keel::Engine& engine) {
  using keel::c;
  (void)keel::select<Band>().where(c<&Band::manager>.in(keel::select(c<&Manager::id>).for_update())).run_sync(engine);
}
