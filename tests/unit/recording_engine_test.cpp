// RecordingEngine: the statements it is given, recorded with their values and connections; scripted rows,
// results and failures; transactions, savepoints, atomic runs and batches on it, as a user's unit test would
// use them.
#include <catch2/catch.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
import keel;
#include "../orm/orm_tables.hpp"

namespace asio = boost::asio;
using namespace orm_test;
using keel::c;
using keel::Value;
using Texts = std::vector<std::string>;

TEST_CASE("recording: each statement is recorded with its values, in the engine's dialect", "[recording]") {
  keel::RecordingEngine db(keel::Dialect::postgres);
  keel::select<Band>().where(c<&Band::popularity> > 100).run_sync(db);
  keel::update<Band>().set(c<&Band::country>, "NL").where(c<&Band::name> == "Gophers").run_sync(db);
  const auto recorded = db.statements();
  REQUIRE(recorded.size() == 2);
  CHECK(
      recorded[0].sql ==
      R"(SELECT "band"."id", "band"."name", "band"."manager", "band"."popularity", "band"."country" FROM "band" WHERE ("band"."popularity" > $1))");
  CHECK(recorded[0].params == std::vector<Value>{Value(100)});
  CHECK(recorded[1].params == std::vector<Value>{Value("NL"), Value("Gophers")});
  CHECK(recorded[0].connection != recorded[1].connection);  // each on a connection of its own
  CHECK(db.connections_in_use() == 0);
  db.clear();
  CHECK(db.sql().empty());
}

TEST_CASE("recording: scripted rows are decoded as from a database; the latest matching rule answers", "[recording]") {
  keel::RecordingEngine db;
  db.returns("FROM \"band\"", {"id", "name", "manager", "popularity", "country"},
             {{1, "Pythonistas", 7, 1000, nullptr}, {2, "Rustaceans", 8, 500, "NL"}});
  auto bands = keel::select<Band>().run_sync(db);
  REQUIRE(bands.size() == 2);
  CHECK(*bands[1].name == "Rustaceans");
  CHECK(bands[1].country == std::optional<std::string>("NL"));
  CHECK_FALSE(bands[0].country.has_value());
  // A later rule for the same statements wins; one given a count steps aside after it.
  db.returns("FROM \"band\"", {"id", "name", "manager", "popularity", "country"}, {}, 1);
  CHECK(keel::select<Band>().run_sync(db).empty());
  CHECK(keel::select<Band>().run_sync(db).size() == 2);
  // A statement no rule matches: no rows, nothing affected.
  CHECK(db.raw_sync("SELECT 1").empty());
  CHECK_THROWS_AS(db.returns("x", {"one"}, {{1, 2}}), keel::MisuseError);
}

TEST_CASE("recording: a scripted failure reaches the caller, and a transaction rolls back", "[recording]") {
  keel::RecordingEngine db;
  db.affects("INSERT", 1, 41);
  db.fails_with_sqlstate("UPDATE", "40001", "could not serialize access", 1);
  CHECK_THROWS_AS(db.transaction_sync([&] {
    keel::insert(Manager{.name = "Guido"}).run_sync();
    keel::update<Manager>().set(c<&Manager::name>, "G").where(c<&Manager::id> == 41).run_sync();
  }),
                  keel::SerializationFailure);
  const auto recorded = db.statements();
  REQUIRE(recorded.size() == 4);
  CHECK(recorded[0].sql == "BEGIN");
  CHECK(recorded[1].sql.starts_with("INSERT INTO \"manager\""));
  CHECK(recorded[2].sql.starts_with("UPDATE \"manager\""));
  CHECK(recorded[3].sql == "ROLLBACK");
  for (const auto& r : recorded) CHECK(r.connection == recorded[0].connection);  // all on the transaction's
  // The rule was for one statement: the same transaction now commits.
  db.clear();
  db.transaction_sync(
      [&] { keel::update<Manager>().set(c<&Manager::name>, "G").where(c<&Manager::id> == 41).run_sync(); });
  CHECK(db.sql().back() == "COMMIT");
  CHECK(db.connections_in_use() == 0);
  db.fails("DROP", keel::MisuseError("scripted"));
  CHECK_THROWS_AS(db.raw_sync("DROP TABLE band"), keel::MisuseError);
}

TEST_CASE("recording: savepoints, atomic runs and batches record what they send", "[recording]") {
  keel::RecordingEngine db;
  keel::run_sync([&]() -> asio::awaitable<void> {
    co_await db.transaction([&](keel::Transaction& tx) -> asio::awaitable<void> {
      auto savepoint = co_await tx.savepoint("before_delete");
      co_await keel::delete_from<Band>().force().run();
      co_await savepoint.rollback_to();
    });
  }());
  CHECK(db.sql() == Texts{"BEGIN", "SAVEPOINT before_delete", "DELETE FROM \"band\"",
                          "ROLLBACK TO SAVEPOINT before_delete", "COMMIT"});
  db.clear();
  db.atomic()
      .add(keel::raw("UPDATE band SET popularity = 0"), keel::raw("DELETE FROM band WHERE id = {}", 3))
      .run_sync();
  CHECK(db.sql() == Texts{"BEGIN", "UPDATE band SET popularity = 0", "DELETE FROM band WHERE id = ?", "COMMIT"});
  db.clear();
  db.returns("SELECT name", {"name"}, {{"a"}, {"b"}, {"c"}});
  auto batches = db.batch_sync(keel::raw("SELECT name FROM band"), 2);
  std::vector<std::size_t> sizes;
  while (auto batch = batches.next_sync()) sizes.push_back(batch->size());
  CHECK(sizes == std::vector<std::size_t>{2, 1});
  CHECK(db.sql() == Texts{"BEGIN", "SELECT name FROM band", "COMMIT"});
}
