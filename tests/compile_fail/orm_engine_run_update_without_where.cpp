// Must not compile: an update without where(), given to engine.run(), would change every row. It is no run
// form of the query's own, so keel reports it inside keel, with its message.
import keel;
#include "orm_tables_for_misuse.hpp"

void misuse(keel::Engine& engine) {
  using keel::c;
  (void)engine.run(keel::update<Band>().set(c<&Band::popularity>, 1));
}
