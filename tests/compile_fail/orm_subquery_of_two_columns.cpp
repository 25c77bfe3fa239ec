// Must not compile: in() compares one value with each row of the subquery, so the subquery has one column.
import keel;
#include "orm_tables_for_misuse.hpp"

void misuse(keel::Engine& engine) {
  using keel::c;
  (void)keel::select<Band>()
      .where(c<&Band::manager>.in(keel::select(c<&Manager::id>, c<&Manager::name>)))
      .run_sync(engine);
}
