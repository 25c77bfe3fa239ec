// keel's quickstart on the embedded SQLite engine: a table, inserts, queries, a transaction with a savepoint,
// an atomic run and a batch iteration, each step printed. Run it with scripts/demo.
#include <boost/asio.hpp>
#include <cstdint>
#include <exception>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
import keel;

namespace asio = boost::asio;
using keel::raw;

namespace {

asio::awaitable<void> print_bands(keel::Engine& db, std::string heading) {
  std::cout << heading << "\n";
  for (const keel::Row& row : co_await db.raw("SELECT name, popularity FROM band ORDER BY popularity DESC, name"))
    std::cout << "    " << row.get<std::string>("name") << " (" << row.get<std::int64_t>("popularity") << ")\n";
}

asio::awaitable<void> tour(keel::Engine& db) {
  std::cout << "1. create a table\n";
  co_await db.raw(
      "CREATE TABLE band (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, popularity INTEGER NOT NULL DEFAULT 0)");

  std::cout << "2. insert, every value bound as a parameter\n";
  for (auto [name, popularity] : {std::pair{"Pythonistas", 1000}, {"Rustaceans", 2000}, {"C-Sharps", 10}}) {
    keel::Rows inserted = co_await db.raw("INSERT INTO band (name, popularity) VALUES ({}, {})", name, popularity);
    std::cout << "    inserted " << name << " as id " << inserted.last_insert_id().value_or(-1) << "\n";
  }

  std::cout << "3. query\n";
  keel::Rows popular = co_await db.raw("SELECT name FROM band WHERE popularity > {} ORDER BY name", 500);
  for (const keel::Row& row : popular) std::cout << "    popular: " << row.get<std::string>("name") << "\n";

  std::cout << "4. a transaction with a savepoint: the queries inside run on it without being told\n";
  co_await db.transaction([&](keel::Transaction& tx) -> asio::awaitable<void> {
    co_await raw("UPDATE band SET popularity = popularity + {} WHERE name = {}", 500, "C-Sharps").run();
    keel::Savepoint savepoint = co_await tx.savepoint("before_mistake");
    co_await raw("DELETE FROM band WHERE name = {}", "Rustaceans").run();
    std::cout << "    deleted Rustaceans inside the transaction, then rolled back to " << savepoint.name() << "\n";
    co_await savepoint.rollback_to();
  });
  co_await print_bands(db, "    after commit:");

  std::cout << "5. a transaction that throws is rolled back\n";
  try {
    co_await db.transaction([&]() -> asio::awaitable<void> {
      co_await db.raw("DELETE FROM band");
      throw std::runtime_error("changed my mind");
    });
  } catch (const std::runtime_error& e) {
    std::cout << "    caught '" << e.what() << "'\n";
  }
  std::cout << "    the bands are still there: " << (co_await db.raw("SELECT count(*) FROM band"))[0].get<int>(0) << "\n";

  std::cout << "6. an atomic run: all or nothing\n";
  auto atomic = db.atomic();
  atomic.add(raw("INSERT INTO band (name) VALUES ({})", "Gophers"),
             raw("INSERT INTO band (name) VALUES ({})", "Pythonistas"));  // a duplicate name
  try {
    co_await atomic.run();
  } catch (const keel::UniqueViolation& e) {
    std::cout << "    unique violation (SQLSTATE " << e.sqlstate() << ")\n";
  }
  std::cout << "    so Gophers was not inserted either: "
            << (co_await db.raw("SELECT count(*) FROM band WHERE name = 'Gophers'"))[0].get<int>(0) << " rows\n";
  co_await db.atomic().add(raw("INSERT INTO band (name, popularity) VALUES ('Gophers', 800)"),
                           raw("INSERT INTO band (name, popularity) VALUES ('Haskellers', 300)"));
  std::cout << "    the second atomic run inserted both\n";

  std::cout << "7. batch iteration: rows in batches of 2, read through a cursor in a transaction\n";
  auto batches = co_await db.batch(raw("SELECT name FROM band ORDER BY id"), 2);
  int number = 0;
  while (auto batch = co_await batches.next()) {
    std::cout << "    batch " << ++number << ":";
    for (const keel::Row& row : *batch) std::cout << " " << row.get<std::string>(0);
    std::cout << "\n";
  }

  std::cout << "8. typed errors and typed reads\n";
  try {
    co_await db.raw("INSERT INTO band (name) VALUES ({})", std::optional<std::string>{});
  } catch (const keel::NotNullViolation& e) {
    std::cout << "    NotNullViolation: " << e.server_message() << "\n";
  }
  keel::Row row = (co_await db.raw("SELECT NULL AS missing"))[0];
  std::cout << "    NULL read as std::optional<int>: " << (row.get<std::optional<int>>("missing") ? "a value" : "nullopt")
            << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : ":memory:";
  try {
    keel::SqliteEngine db(path);
    std::cout << "keel quickstart on SQLite " << db.version_sync() << " (" << path << ")\n";
    keel::run_sync(tour(db));
    std::cout << "9. the same with the sync wrappers, for code without coroutines\n";
    db.transaction_sync([&] { raw("UPDATE band SET popularity = popularity * 2").run_sync(db); });
    keel::run_sync(print_bands(db, "    final table:"));
    std::cout << "done\n";
  } catch (const std::exception& e) {
    std::cerr << "quickstart failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
