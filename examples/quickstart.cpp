// keel's quickstart on the embedded SQLite engine: tables as plain structs, typed queries, a transaction
// with a savepoint, an atomic run and a batch iteration, each step printed. Run it with scripts/demo.
#include <boost/asio.hpp>
#include <cstdint>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>
import keel;

namespace asio = boost::asio;
using keel::c;

// ---- Tables are plain structs: the members are the columns, the types say the rest.
struct Manager {
  keel::Id id;                     // a generated primary key
  keel::Unique<std::string> name;  // NOT NULL, UNIQUE
};

struct Band {
  keel::Id id;
  keel::Unique<std::string> name;
  keel::ForeignKey<Manager> manager;                                          // REFERENCES manager (id)
  keel::Column<std::int64_t, keel::default_to<0>, keel::indexed> popularity;  // DEFAULT 0, with an index
  std::optional<std::string> country;                                         // nullable
};

namespace {

asio::awaitable<void> print_bands(std::string heading) {
  std::cout << heading << "\n";
  // Chosen columns come back as tuples; the query runs on the default engine installed in main().
  for (auto [name, popularity] : co_await keel::select(c<&Band::name>, c<&Band::popularity>)
                                     .order_by(c<&Band::popularity>.desc(), c<&Band::name>)
                                     .run())
    std::cout << "    " << name << " (" << popularity << ")\n";
}

asio::awaitable<void> tour(keel::Engine& db) {
  // On a database file, a second run starts over: the tables of an earlier run go first (bands refer to managers).
  co_await keel::drop_table<Band>().if_exists().run();
  co_await keel::drop_table<Manager>().if_exists().run();
  std::cout << "1. create the tables from the structs\n";
  co_await keel::create_table<Manager>().run();
  co_await keel::create_table<Band>().run();
  for (const auto& statement : keel::create_table<Band>().statements(db.dialect()))
    std::cout << "    " << statement.sql() << "\n";

  std::cout << "2. insert: every value bound as a parameter, generated keys filled in\n";
  Manager guido = co_await keel::insert(Manager{.name = "Guido"}).run();
  Manager graydon = co_await keel::insert(Manager{.name = "Graydon"}).run();
  std::vector<Band> bands =
      co_await keel::insert(
          std::vector<Band>{{.name = "Pythonistas", .manager = guido, .popularity = 1000, .country = "NL"},
                            {.name = "Rustaceans", .manager = graydon, .popularity = 2000},
                            {.name = "C-Sharps", .manager = guido, .popularity = 10}})
          .run();
  for (const Band& band : bands) std::cout << "    inserted " << band.name << " as id " << band.id << "\n";

  std::cout << "3. typed queries: rows decode straight into the struct\n";
  auto query = keel::select<Band>().where(c<&Band::popularity> > 500).order_by(c<&Band::name>);
  std::cout << "    SQL: " << query.statement(db.dialect()).sql() << "\n";
  for (const Band& band : co_await query.run())
    std::cout << "    popular: " << band.name << ", country " << band.country.value_or("unknown") << "\n";
  std::optional<Band> sharps = co_await keel::select<Band>().where(c<&Band::name>.like("C-%")).first().run();
  std::cout << "    first like 'C-%': " << (sharps ? *sharps->name : "none") << "\n";
  std::cout << "    count: " << co_await keel::count<Band>().run() << ", any above 1500: "
            << (co_await keel::exists<Band>().where(c<&Band::popularity> > 1500).run() ? "yes" : "no") << "\n";

  std::cout << "4. a join along the foreign key, and aggregates per group\n";
  for (auto [manager, count, total] :
       co_await keel::select(c<&Manager::name>, keel::count_all(), keel::sum(c<&Band::popularity>))
           .join<&Band::manager>()
           .group_by(c<&Manager::name>)
           .order_by(c<&Manager::name>)
           .run())
    std::cout << "    " << manager << " manages " << count << " band(s), popularity " << total.value_or(0) << "\n";

  std::cout << "5. a transaction with a savepoint: the queries inside run on it without being told\n";
  co_await db.transaction([&](keel::Transaction& tx) -> asio::awaitable<void> {
    co_await keel::update<Band>()
        .set(c<&Band::popularity>, c<&Band::popularity> + 500)
        .where(c<&Band::name> == "C-Sharps")
        .run();
    keel::Savepoint savepoint = co_await tx.savepoint("before_mistake");
    co_await keel::delete_from<Band>().where(c<&Band::name> == "Rustaceans").run();
    std::cout << "    deleted Rustaceans inside the transaction, then rolled back to " << savepoint.name() << "\n";
    co_await savepoint.rollback_to();
  });
  co_await print_bands("    after commit:");

  std::cout << "6. a transaction that throws is rolled back\n";
  try {
    co_await db.transaction([&]() -> asio::awaitable<void> {
      co_await keel::delete_from<Band>().force().run();  // deleting every row needs force()
      throw std::runtime_error("changed my mind");
    });
  } catch (const std::runtime_error& e) {
    std::cout << "    caught '" << e.what() << "'\n";
  }
  std::cout << "    the bands are still there: " << co_await keel::count<Band>().run() << "\n";

  std::cout << "7. an atomic run: all or nothing\n";
  auto atomic = db.atomic();
  atomic.add(keel::insert(Band{.name = "Gophers", .manager = graydon}),
             keel::insert(Band{.name = "Pythonistas", .manager = guido}));  // a duplicate name
  try {
    co_await atomic.run();
  } catch (const keel::UniqueViolation& e) {
    std::cout << "    unique violation (SQLSTATE " << e.sqlstate() << ")\n";
  }
  std::cout << "    so Gophers was not inserted either: "
            << co_await keel::count<Band>().where(c<&Band::name> == "Gophers").run() << " rows\n";
  co_await db.atomic().add(keel::insert(Band{.name = "Gophers", .manager = graydon, .popularity = 800}),
                           keel::insert(Band{.name = "Haskellers", .manager = guido, .popularity = 300}));
  std::cout << "    the second atomic run inserted both\n";

  std::cout << "8. batch iteration: rows in batches of 2, read through a cursor in a transaction\n";
  auto batches = co_await db.batch(keel::select<Band>().order_by(c<&Band::id>), 2);
  int number = 0;
  while (auto batch = co_await batches.next()) {
    std::cout << "    batch " << ++number << ":";
    for (const Band& band : *batch) std::cout << " " << band.name;
    std::cout << "\n";
  }

  std::cout << "9. typed errors, and the raw escape hatch\n";
  try {
    co_await keel::insert(Band{.name = "Orphans", .manager = 999}).run();
  } catch (const keel::ForeignKeyViolation& e) {
    std::cout << "    ForeignKeyViolation: " << e.server_message() << "\n";
  }
  keel::Rows rows = co_await db.raw("SELECT count(*) AS n FROM band WHERE popularity > {}", 100);
  std::cout << "    raw count above 100: " << rows[0].get<std::int64_t>("n") << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : ":memory:";
  try {
    auto db = std::make_shared<keel::SqliteEngine>(path);
    keel::set_default_engine(db);  // queries with no engine named run here (tests install another)
    std::cout << "keel quickstart on SQLite " << db->version_sync() << " (" << path << ")\n";
    keel::run_sync(tour(*db));
    std::cout << "10. the same with the sync wrappers, for code without coroutines\n";
    db->transaction_sync(
        [&] { keel::update<Band>().set(c<&Band::popularity>, c<&Band::popularity> * 2).force().run_sync(); });
    keel::run_sync(print_bands("    final table:"));
    keel::set_default_engine(nullptr);
    std::cout << "done\n";
  } catch (const std::exception& e) {
    std::cerr << "quickstart failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
