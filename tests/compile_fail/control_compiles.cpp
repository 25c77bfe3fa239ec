// Must compile: the harness's control, proving that the failures above come from the misuse they show.
#include <chrono>
#include <string>
import keel;
#include "orm_tables_for_misuse.hpp"

using keel::c;

void fine(keel::Engine& engine) {
  engine.atomic().add(keel::raw("INSERT INTO band VALUES ({})", std::string("x")));
  auto query = keel::raw("SELECT * FROM band WHERE a = {} AND b = {}", 1, 2);
  // The correct forms of each ORM misuse below.
  (void)keel::select(c<&Band::name>)
      .where(c<&Band::name> > "M" && c<&Band::popularity> > 5)
      .statement(engine.dialect());
  (void)keel::select<Band>().join<&Band::manager>().where(c<&Manager::name> == "x").statement(engine.dialect());
  (void)keel::insert<Band>(Band{}).statement(engine.dialect());
  (void)keel::delete_from<Band>().force().statement(engine.dialect());
  (void)keel::update<Band>().set(c<&Band::country>, std::nullopt).force().statement(engine.dialect());
  engine.atomic().add(keel::insert(Band{}), keel::delete_from<Band>().where(c<&Band::id> == 1));
  (void)keel::select(c<&Band::popularity> + 1, c<&Band::name>.like("M%")).for_update().statement(engine.dialect());
}

// Public names of the modules whose details must not compile (detail_*).
void public_neighbours(keel::pg::PgConnection& connection) {
  keel::SqliteEngine engine(keel::SqliteOptions{.path = ":memory:"});
  const keel::pg::Timeout limit = keel::pg::timeout(std::chrono::seconds(1));
  (void)connection.execute("SELECT 1", limit);
  (void)sizeof(keel::pg::CanceledError);
}
