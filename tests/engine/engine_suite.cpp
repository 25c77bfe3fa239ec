// Engine behaviour, written once and run against every engine (see engine_fixture.hpp). Its SQL is what both
// dialects accept; the one difference, a generated key column, comes from key_column().
#include <catch2/catch.hpp>
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
import keel;
#include "engine_fixture.hpp"
#include "suite_support.hpp"

TEST_CASE_METHOD(Fixture, "engine: reports its dialect and version") {
  CHECK((db.dialect() == keel::Dialect::sqlite || db.dialect() == keel::Dialect::postgres));
  CHECK_FALSE(db.version_sync().empty());
}

TEST_CASE_METHOD(Fixture, "raw queries bind values and read rows by index and by name") {
  auto inserted = db.raw_sync("INSERT INTO band (name, popularity) VALUES ({}, {})", "Pythonistas", 1000);
  CHECK(inserted.rows_affected() == 1);
  db.raw_sync("INSERT INTO band (name, popularity) VALUES ({}, {})", "Rustaceans", 2000);
  // A value that looks like SQL stays a value.
  db.raw_sync("INSERT INTO band (name) VALUES ({})", "x'); DROP TABLE band; --");
  auto rows =
      db.raw_sync("SELECT id, name, popularity FROM band WHERE popularity >= {} ORDER BY popularity DESC", 1000);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].get<std::string>("name") == "Rustaceans");
  CHECK(rows[0].get<int>(2) == 2000);
  CHECK(rows[1].get<std::string>(1) == "Pythonistas");
  CHECK(rows[0].columns() == std::vector<std::string>{"id", "name", "popularity"});
  CHECK(count("x'); DROP TABLE band; --") == 1);
  // Literal braces are written doubled.
  CHECK(db.raw_sync("SELECT '{{}}' AS braces")[0].get<std::string>(0) == "{}");
}

namespace {
// The names of the bands, read by a sink that says how many rows it wants (RowSink::max_rows).
struct NamesWanted {
  std::size_t wanted;
  using result_type = std::vector<std::string>;
  struct Collector final : keel::RowSink {
    explicit Collector(std::size_t w) : wanted(w) {}
    std::size_t wanted;
    std::vector<std::string> names;
    void on_row(const keel::RowReader& row) override { names.push_back(row.get<std::string>(0)); }
    std::size_t max_rows() const noexcept override { return wanted; }
    std::vector<std::string> result(const keel::ExecResult&) { return std::move(names); }
  };
  keel::Statement statement(keel::Dialect dialect) const {
    return keel::raw("SELECT name FROM band ORDER BY name").statement(dialect);
  }
  Collector collector() const { return Collector(wanted); }
};
}  // namespace

TEST_CASE_METHOD(Fixture, "a sink's max_rows is the most it is handed; 0 means all") {
  for (const char* name : {"a", "b", "c"}) db.raw_sync("INSERT INTO band (name) VALUES ({})", std::string(name));
  const std::vector<std::string> all{"a", "b", "c"};
  for (int run = 0; run < 3; ++run) {  // the later runs are known to be fast
    CHECK(keel::run_sync(keel::run_query(db, NamesWanted{0})) == all);
    CHECK(keel::run_sync(keel::run_query(db, NamesWanted{5})) == all);
  }
  // Through a query logger's sink too; it counts every row handed over.
  auto logged = std::make_shared<std::uint64_t>(0);
  db.add_query_logger([logged](const keel::LoggedStatement& s) { *logged = s.rows; });
  CHECK(keel::run_sync(keel::run_query(db, NamesWanted{0})) == all);
  CHECK(*logged == 3);
}

namespace {
// A query that cannot make its statement.
struct Unrenderable {
  using result_type = std::vector<std::string>;
  keel::Statement statement(keel::Dialect) const { throw keel::MisuseError("this query has no text"); }
  NamesWanted::Collector collector() const { return NamesWanted::Collector(0); }
};
}  // namespace

TEST_CASE_METHOD(Fixture, "a query that cannot make its statement fails where it is awaited, and the engine goes on") {
  std::optional<boost::asio::awaitable<std::vector<std::string>>> pending;
  REQUIRE_NOTHROW(pending.emplace(keel::run_query(db, Unrenderable{})));  // made, not run: nothing thrown yet
  CHECK_THROWS_AS(keel::run_sync(std::move(*pending)), keel::MisuseError);
  CHECK_THROWS_AS(db.run_sync(Unrenderable{}), keel::MisuseError);
  db.raw_sync("INSERT INTO band (name) VALUES ({})", std::string("after"));
  CHECK(keel::run_sync(keel::run_query(db, NamesWanted{0})) == std::vector<std::string>{"after"});
}

TEST_CASE_METHOD(Fixture, "values round-trip, and reading the wrong type or NULL is a clear error") {
  // BIGINT, DOUBLE PRECISION and BYTEA have SQLite's integer, real and blob affinities too.
  db.raw_sync("CREATE TABLE sample (i BIGINT, r DOUBLE PRECISION, t TEXT, b BYTEA, flag BOOLEAN, missing TEXT)");
  const keel::Blob blob{std::byte{0}, std::byte{255}, std::byte{7}};
  db.raw_sync("INSERT INTO sample VALUES ({}, {}, {}, {}, {}, {})", INT64_MIN, 2.5, std::string("héllo"), blob, true,
              std::optional<std::string>{});
  auto row = db.raw_sync("SELECT i, r, t, b, flag, missing FROM sample")[0];
  CHECK(row.get<std::int64_t>("i") == INT64_MIN);
  CHECK(row.get<double>("r") == 2.5);
  CHECK(row.get<std::string>("t") == "héllo");
  CHECK(row.get<keel::Blob>("b") == blob);
  CHECK(row.get<bool>("flag") == true);
  CHECK(row.get<std::optional<std::string>>("missing") == std::nullopt);
  CHECK(row["missing"].is_null());
  CHECK_THROWS_AS(row.get<std::string>("missing"), keel::NullValueError);
  CHECK_THROWS_WITH(row.get<std::string>("missing"),
                    Catch::Contains("column 'missing'") && Catch::Contains("std::optional"));
  CHECK_THROWS_AS(row.get<std::int64_t>("t"), keel::TypeMismatchError);
  CHECK_THROWS_AS(row.get<std::int32_t>("i"), keel::ValueOutOfRangeError);
  CHECK_THROWS_AS(row.get<int>("nope"), keel::ColumnNotFoundError);
  CHECK_THROWS_AS(row.get<int>(17), keel::ColumnNotFoundError);
  // Empty text and an empty blob are values, not NULL (an empty vector's data() may be null).
  db.raw_sync("INSERT INTO sample (t, b) VALUES ({}, {})", std::string(), keel::Blob{});
  auto empty = db.raw_sync("SELECT t, b FROM sample WHERE i IS NULL")[0];
  CHECK_FALSE(empty["t"].is_null());
  CHECK_FALSE(empty["b"].is_null());
  CHECK(empty.get<std::string>("t").empty());
  CHECK(empty.get<keel::Blob>("b").empty());
}

TEST_CASE_METHOD(Fixture, "database errors are typed by SQLSTATE and leave the engine usable") {
  ddl("CREATE TABLE member (" + key_column() +
      ", band_id BIGINT NOT NULL REFERENCES band (id), age INTEGER CHECK (age > 0))");
  db.raw_sync("INSERT INTO band (name) VALUES ('Pythonistas')");
  try {
    db.raw_sync("INSERT INTO band (name) VALUES ('Pythonistas')");
    FAIL("expected a unique violation");
  } catch (const keel::UniqueViolation& e) {
    CHECK(e.sqlstate() == "23505");
    CHECK(std::string(e.what()).find("23505") != std::string::npos);
  }
  CHECK_THROWS_AS(db.raw_sync("INSERT INTO band (name) VALUES ({})", std::optional<std::string>{}),
                  keel::NotNullViolation);
  CHECK_THROWS_AS(db.raw_sync("INSERT INTO member (band_id) VALUES (99)"), keel::ForeignKeyViolation);
  CHECK_THROWS_AS(db.raw_sync("INSERT INTO member (band_id, age) VALUES (1, -3)"), keel::CheckViolation);
  CHECK_THROWS_AS(db.raw_sync("SELEC 1"), keel::SyntaxError);
  CHECK_THROWS_AS(db.raw_sync("SELECT * FROM no_such_table"), keel::UndefinedTable);
  CHECK_THROWS_AS(db.raw_sync("SELECT no_such_column FROM band"), keel::UndefinedColumn);
  // Every one of them is a DatabaseError and a keel::Error.
  CHECK_THROWS_AS(db.raw_sync("SELEC 1"), keel::DatabaseError);
  CHECK_THROWS_AS(db.raw_sync("SELEC 1"), keel::Error);
  CHECK(total() == 1);
}

TEST_CASE_METHOD(Fixture, "a transaction commits when its body returns") {
  const int result = keel::run_sync(db.transaction([&](keel::Transaction&) -> asio::awaitable<int> {
    co_await raw("INSERT INTO band (name) VALUES ({})", "Pythonistas").run();  // no engine named: the context's
    co_await db.raw("INSERT INTO band (name) VALUES ({})", "Rustaceans");
    co_return 42;
  }));
  CHECK(result == 42);
  CHECK(total() == 2);
}

TEST_CASE_METHOD(Fixture, "a transaction rolls back when its body throws, and the error reaches the caller") {
  auto failing = db.transaction([&]() -> asio::awaitable<void> {
    co_await db.raw("INSERT INTO band (name) VALUES ({})", "Pythonistas");
    throw std::runtime_error("changed my mind");
  });
  CHECK_THROWS_WITH(keel::run_sync(std::move(failing)), "changed my mind");
  CHECK(total() == 0);
  // The engine goes on.
  db.raw_sync("INSERT INTO band (name) VALUES ({})", "Rustaceans");
  CHECK(total() == 1);
}

TEST_CASE_METHOD(Fixture, "transactions are context-local: a concurrent coroutine is untouched") {
  for (const bool commit : {false, true}) {
    db.raw_sync("DELETE FROM band");
    asio::io_context loop;
    Event inserted(loop.get_executor()), looked(loop.get_executor()), outsider_wrote(loop.get_executor());
    std::optional<std::int64_t> outsider_saw;
    std::optional<bool> outsider_in_transaction;

    auto in_transaction = [&]() -> asio::awaitable<void> {
      try {
        co_await db.transaction([&]() -> asio::awaitable<void> {
          co_await db.raw("INSERT INTO band (name) VALUES ('inside')");
          inserted.fire();
          co_await looked.wait();
          if (!commit) throw std::runtime_error("roll back");
        });
      } catch (const std::runtime_error&) {}
    };
    auto outsider = [&]() -> asio::awaitable<void> {
      co_await inserted.wait();
      outsider_in_transaction = (co_await db.current_transaction()).has_value();
      std::exception_ptr read_failure;
      try {
        auto rows = co_await db.raw("SELECT count(*) FROM band WHERE name = 'inside'");
        outsider_saw = rows[0].get<std::int64_t>(0);
      } catch (...) {
        read_failure = std::current_exception();
      }
      looked.fire();  // whatever happened, so that the transaction never waits forever
      if (read_failure) std::rethrow_exception(read_failure);
      // May wait for the transaction's write lock (SQLite); it must not be rolled back with it.
      co_await db.raw("INSERT INTO band (name) VALUES ('outside')");
      outsider_wrote.fire();
    };
    std::exception_ptr failure;
    auto done = [&](std::exception_ptr e) {
      if (e) failure = e;
    };
    asio::co_spawn(loop, in_transaction(), done);
    asio::co_spawn(loop, outsider(), done);
    loop.run();
    if (failure) std::rethrow_exception(failure);

    INFO("commit = " << commit);
    CHECK(outsider_in_transaction == false);
    CHECK(outsider_saw == 0);
    CHECK(count("outside") == 1);
    CHECK(count("inside") == (commit ? 1 : 0));
  }
}

namespace {
asio::awaitable<std::optional<keel::Transaction>> child_inserts(keel::Engine& db, std::string name) {
  co_await raw("INSERT INTO band (name) VALUES ({})", name).run(db);
  co_return co_await db.current_transaction();
}
}  // namespace

TEST_CASE_METHOD(Fixture, "a child coroutine awaited inside the scope uses the transaction") {
  std::shared_ptr<keel::TransactionState> outer, seen_by_child, seen_after_timer;
  CHECK_THROWS_WITH(keel::run_sync(db.transaction([&](keel::Transaction& tx) -> asio::awaitable<void> {
                      outer = tx.state();
                      seen_by_child = (co_await child_inserts(db, "child"))->state();
                      // Across a suspension on a timer, the context is still there.
                      asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(5));
                      co_await timer.async_wait(asio::use_awaitable);
                      seen_after_timer = (co_await db.current_transaction())->state();
                      throw std::runtime_error("undo the child's insert too");
                    })),
                    "undo the child's insert too");
  CHECK(outer != nullptr);
  CHECK(seen_by_child == outer);
  CHECK(seen_after_timer == outer);
  CHECK(count("child") == 0);
  // Outside any scope there is no transaction.
  CHECK_FALSE(keel::run_sync(db.current_transaction()).has_value());
}

namespace {
// The transaction that a coroutine spawned on `executor` runs in, once it has inserted a row named `name` through
// the context (no engine named).
asio::awaitable<std::shared_ptr<keel::TransactionState>> spawned_child_sees(keel::Engine& db,
                                                                            asio::any_io_executor executor,
                                                                            std::string name) {
  auto child = [&db, name]() -> asio::awaitable<std::shared_ptr<keel::TransactionState>> {
    co_await raw("INSERT INTO band (name) VALUES ({})", name).run();
    std::optional<keel::Transaction> transaction = co_await db.current_transaction();
    co_return transaction ? transaction->state() : nullptr;
  };
  co_return co_await asio::co_spawn(executor, child, asio::use_awaitable);
}
}  // namespace

// The scope's executor comes in several types (the loop's own executor, tracked or not, or any other executor wrapped
// whole) and takes properties that Asio's copies of it require or prefer; a strand made inside the scope holds
// it: each carries the transaction.
TEST_CASE_METHOD(Fixture,
                 "a coroutine spawned inside the scope on its executor, with any properties, uses the transaction") {
  for (const bool on_strand : {false, true}) {
    INFO("on a strand: " << on_strand);
    asio::io_context loop;
    std::shared_ptr<keel::TransactionState> outer;
    std::vector<std::shared_ptr<keel::TransactionState>> seen;
    auto scope = [&]() -> asio::awaitable<void> {
      try {
        co_await db.transaction([&](keel::Transaction& tx) -> asio::awaitable<void> {
          outer = tx.state();
          const asio::any_io_executor here = co_await asio::this_coro::executor;
          seen.push_back(co_await spawned_child_sees(db, here, "plain"));
          seen.push_back(co_await spawned_child_sees(db, asio::prefer(here, asio::execution::outstanding_work.tracked),
                                                     "tracked"));
          seen.push_back(
              co_await spawned_child_sees(db, asio::require(here, asio::execution::blocking.never), "never blocking"));
          seen.push_back(co_await spawned_child_sees(
              db,
              asio::prefer(asio::require(here, asio::execution::blocking.never),
                           asio::execution::relationship.continuation, asio::execution::outstanding_work.tracked),
              "all three"));
          // A strand made inside the scope orders work that is still in the scope.
          seen.push_back(co_await spawned_child_sees(db, asio::make_strand(here), "strand"));
          throw std::runtime_error("undo the children's inserts");
        });
      } catch (const std::runtime_error&) {}
    };
    std::exception_ptr failure;
    auto done = [&](std::exception_ptr e) { failure = e; };
    if (on_strand)
      asio::co_spawn(asio::make_strand(loop), scope(), done);
    else
      asio::co_spawn(loop, scope(), done);
    loop.run();
    if (failure) std::rethrow_exception(failure);
    REQUIRE(outer != nullptr);
    REQUIRE(seen.size() == 5);
    for (const auto& state : seen) CHECK(state == outer);
    CHECK(count("plain") + count("tracked") + count("never blocking") + count("all three") + count("strand") == 0);
  }
}

TEST_CASE_METHOD(Fixture, "nested transactions join the outer one, or are refused") {
  SECTION("joined by default") {
    std::shared_ptr<keel::TransactionState> outer, inner;
    CHECK_THROWS(keel::run_sync(db.transaction([&](keel::Transaction& tx) -> asio::awaitable<void> {
      outer = tx.state();
      co_await db.raw("INSERT INTO band (name) VALUES ('outer')");
      co_await db.transaction([&](keel::Transaction& nested) -> asio::awaitable<void> {
        inner = nested.state();
        co_await db.raw("INSERT INTO band (name) VALUES ('inner')");
      });
      CHECK(tx.active());  // the inner scope's end did not commit
      throw std::runtime_error("roll back both");
    })));
    CHECK(inner == outer);
    CHECK(total() == 0);
  }
  SECTION("refused when allow_nested is false") {
    CHECK_THROWS_AS(keel::run_sync(db.transaction([&]() -> asio::awaitable<void> {
                      co_await db.transaction(keel::TransactionOptions{.allow_nested = false},
                                              []() -> asio::awaitable<void> { co_return; });
                    })),
                    keel::TransactionError);
    CHECK_THROWS_WITH(keel::run_sync(db.transaction([&]() -> asio::awaitable<void> {
                        co_await db.transaction(keel::TransactionOptions{.allow_nested = false},
                                                []() -> asio::awaitable<void> { co_return; });
                      })),
                      Catch::Contains("allow_nested"));
  }
  SECTION("allow_nested = false outside a transaction simply opens one") {
    keel::run_sync(db.transaction(keel::TransactionOptions{.allow_nested = false}, [&]() -> asio::awaitable<void> {
      co_await db.raw("INSERT INTO band (name) VALUES ('alone')");
    }));
    CHECK(count("alone") == 1);
  }
}

TEST_CASE_METHOD(Fixture, "explicit transactions: begin, commit, rollback; a finished one refuses work") {
  keel::Transaction tx = db.begin_sync();
  CHECK(tx.active());
  raw("INSERT INTO band (name) VALUES ('explicit')").run_sync(tx);
  CHECK(count("explicit") == 0);
  tx.commit_sync();
  CHECK_FALSE(tx.active());
  CHECK(count("explicit") == 1);
  CHECK_THROWS_AS(raw("SELECT 1").run_sync(tx), keel::TransactionError);
  CHECK_THROWS_WITH(tx.commit_sync(), Catch::Contains("already committed"));

  keel::Transaction undone = db.begin_sync();
  raw("INSERT INTO band (name) VALUES ('undone')").run_sync(undone);
  undone.rollback_sync();
  CHECK(count("undone") == 0);
  CHECK_THROWS_WITH(undone.rollback_sync(), Catch::Contains("already rolled back"));
}

TEST_CASE_METHOD(Fixture, "an explicit transaction dropped without commit is rolled back") {
  {
    keel::Transaction tx = db.begin_sync();
    raw("INSERT INTO band (name) VALUES ('dropped')").run_sync(tx);
  }
  CHECK(count("dropped") == 0);
  db.raw_sync("INSERT INTO band (name) VALUES ('after')");  // the connection came back clean
  CHECK(count("after") == 1);
}

TEST_CASE_METHOD(Fixture, "savepoints: generated and named, rollback_to and release") {
  std::vector<std::string> names;
  keel::run_sync(db.transaction([&](keel::Transaction& tx) -> asio::awaitable<void> {
    co_await db.raw("INSERT INTO band (name) VALUES ('kept')");
    keel::Savepoint first = co_await tx.savepoint();
    keel::Savepoint second = co_await tx.savepoint();
    names = {first.name(), second.name()};
    co_await db.raw("INSERT INTO band (name) VALUES ('undone')");
    co_await second.rollback_to();
    co_await second.release();

    keel::Savepoint named = co_await tx.savepoint("before_bad_news");
    CHECK(named.name() == "before_bad_news");
    co_await db.raw("INSERT INTO band (name) VALUES ('bad news')");
    co_await tx.rollback_to("before_bad_news");
    co_await db.raw("INSERT INTO band (name) VALUES ('good news')");
    co_await tx.release("before_bad_news");
    co_await first.release();
  }));
  CHECK(names == std::vector<std::string>{"keel_savepoint_1", "keel_savepoint_2"});
  CHECK(count("kept") == 1);
  CHECK(count("undone") == 0);
  CHECK(count("bad news") == 0);
  CHECK(count("good news") == 1);
}

TEST_CASE_METHOD(Fixture, "savepoint names are validated identifiers") {
  keel::Transaction tx = db.begin_sync();
  CHECK_THROWS_AS(tx.savepoint_sync("x; drop table band"), keel::InvalidIdentifierError);
  CHECK_THROWS_WITH(tx.savepoint_sync("x; drop table band"), Catch::Contains("not a valid identifier"));
  CHECK_THROWS_AS(tx.savepoint_sync("1starts_with_digit"), keel::InvalidIdentifierError);
  CHECK_THROWS_AS(tx.savepoint_sync(""), keel::InvalidIdentifierError);
  CHECK_THROWS_AS(tx.savepoint_sync(std::string(64, 'a')), keel::InvalidIdentifierError);
  CHECK_THROWS_AS(tx.rollback_to_sync("bad name"), keel::InvalidIdentifierError);
  CHECK_THROWS_AS(tx.release_sync("bad\"name"), keel::InvalidIdentifierError);
  CHECK(tx.savepoint_sync(std::string(63, 'a')).name().size() == 63);
  tx.commit_sync();
  CHECK(total() == 0);
  CHECK(db.raw_sync("SELECT count(*) FROM band")[0].get<int>(0) == 0);  // the table survived
}

TEST_CASE_METHOD(Fixture, "atomic runs are all or nothing, and clear their queue") {
  keel::Atomic atomic = db.atomic();
  atomic.add(raw("INSERT INTO band (name) VALUES ({})", "a"), raw("INSERT INTO band (name) VALUES ({})", "b"));
  atomic.add(raw("INSERT INTO band (name) VALUES ({})", "a"));  // a unique violation: nothing may stay
  CHECK(atomic.size() == 3);
  CHECK_THROWS_AS(atomic.run_sync(), keel::UniqueViolation);
  CHECK(total() == 0);
  CHECK(atomic.size() == 0);

  atomic.add(raw("INSERT INTO band (name) VALUES ({})", "c"), raw("INSERT INTO band (name) VALUES ({})", "d"));
  keel::run_sync(
      [](keel::Atomic a) -> asio::awaitable<void> { co_await std::move(a); }(atomic));  // awaiting the atomic itself
  CHECK(total() == 2);
  CHECK(atomic.size() == 0);

  atomic.add(raw("INSERT INTO band (name) VALUES ({})", "e"));
  keel::run_sync(atomic.run());
  CHECK(count("e") == 1);
  keel::run_sync(
      [&]() -> asio::awaitable<void> { co_await db.atomic().add(raw("INSERT INTO band (name) VALUES ('f')")); }());
  CHECK(count("f") == 1);
  // Any Asio completion token: here a callback.
  std::exception_ptr outcome = std::make_exception_ptr(std::runtime_error("not called"));
  {
    asio::io_context loop;
    db.atomic().add(raw("INSERT INTO band (name) VALUES ('g')"))(
        asio::bind_executor(loop.get_executor(), [&](std::exception_ptr e) { outcome = e; }));
    loop.run();
  }
  CHECK(outcome == nullptr);
  CHECK(count("g") == 1);
  atomic.run_sync();  // an empty queue runs nothing
  CHECK(total() == 5);
}

TEST_CASE_METHOD(Fixture, "an atomic run inside a transaction joins it") {
  CHECK_THROWS(keel::run_sync(db.transaction([&]() -> asio::awaitable<void> {
    auto atomic = db.atomic();
    atomic.add(raw("INSERT INTO band (name) VALUES ('joined')"));
    co_await atomic.run();
    throw std::runtime_error("roll back the atomic's work too");
  })));
  CHECK(count("joined") == 0);
}

namespace {
std::vector<std::size_t> batch_sizes(keel::Engine& db, std::size_t batch_size,
                                     std::vector<std::int64_t>* ids = nullptr) {
  std::vector<std::size_t> sizes;
  auto batches = db.batch_sync(raw("SELECT id FROM band ORDER BY id"), batch_size);
  while (auto batch = batches.next_sync()) {
    sizes.push_back(batch->size());
    if (ids)
      for (const auto& row : *batch) ids->push_back(row.get<std::int64_t>(0));
  }
  return sizes;
}
}  // namespace

TEST_CASE_METHOD(Fixture, "batch iteration yields batches of at most batch_size rows") {
  SECTION("an exact multiple") {
    insert_numbered(10);
    std::vector<std::int64_t> ids;
    CHECK(batch_sizes(db, 5, &ids) == std::vector<std::size_t>{5, 5});
    CHECK(ids == std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  }
  SECTION("a remainder") {
    insert_numbered(10);
    CHECK(batch_sizes(db, 3) == std::vector<std::size_t>{3, 3, 3, 1});
    CHECK(batch_sizes(db, 100) == std::vector<std::size_t>{10});
    CHECK(batch_sizes(db, 1).size() == 10);
  }
  SECTION("an empty result gives no batch") { CHECK(batch_sizes(db, 4).empty()); }
  SECTION("batch_size 0 is refused") {
    CHECK_THROWS_AS(db.batch_sync(raw("SELECT id FROM band"), 0), keel::MisuseError);
  }
  SECTION("async, with the batch's rows typed") {
    insert_numbered(7);
    std::int64_t sum = 0;
    int batches_seen = 0;
    keel::run_sync([&]() -> asio::awaitable<void> {
      auto batches = co_await db.batch(raw("SELECT popularity FROM band"), 3);
      while (auto batch = co_await batches.next()) {
        ++batches_seen;
        for (const keel::Row& row : *batch) sum += row.get<std::int64_t>("popularity");
      }
    }());
    CHECK(batches_seen == 3);
    CHECK(sum == 280);
  }
}

TEST_CASE_METHOD(Fixture, "an error in the middle of a batch iteration rolls back and reaches the caller") {
  insert_numbered(10);
  // Row 7 overflows a 64-bit integer on every engine, so the error comes from the third batch's fetch.
  auto failing =
      raw("SELECT id, CASE WHEN id = 7 THEN abs(id - id - 9223372036854775807 - 1) ELSE id END AS v "
          "FROM band ORDER BY id");
  SECTION("inside a transaction scope, the whole transaction rolls back") {
    std::vector<std::size_t> sizes;
    CHECK_THROWS_AS(keel::run_sync(db.transaction([&]() -> asio::awaitable<void> {
                      co_await db.raw("INSERT INTO band (id, name) VALUES (100, 'written before the batches')");
                      auto batches = co_await db.batch(failing, 3);
                      while (auto batch = co_await batches.next()) sizes.push_back(batch->size());
                    })),
                    keel::DatabaseError);
    CHECK(sizes == std::vector<std::size_t>{3, 3});
    CHECK(count("written before the batches") == 0);
  }
  SECTION("in the batch's own transaction, and the engine stays usable") {
    auto batches = db.batch_sync(failing, 3);
    CHECK(batches.next_sync()->size() == 3);
    CHECK(batches.next_sync()->size() == 3);
    CHECK_THROWS_AS(batches.next_sync(), keel::DatabaseError);
    CHECK_FALSE(batches.next_sync().has_value());
    CHECK(total() == 10);
  }
  SECTION("the caller's own exception between batches") {
    CHECK_THROWS_WITH(keel::run_sync(db.transaction([&]() -> asio::awaitable<void> {
                        co_await db.raw("INSERT INTO band (id, name) VALUES (100, 'mine')");
                        auto batches = co_await db.batch(raw("SELECT id FROM band"), 4);
                        co_await batches.next();
                        throw std::runtime_error("stop here");
                      })),
                      "stop here");
    CHECK(count("mine") == 0);
  }
}

TEST_CASE_METHOD(Fixture, "sync wrappers: a sync transaction scope carries its transaction to sync calls") {
  CHECK_THROWS_WITH(db.transaction_sync([&](keel::Transaction& tx) {
    raw("INSERT INTO band (name) VALUES ('sync')").run_sync();  // no engine named: the scope's transaction
    db.raw_sync("INSERT INTO band (name) VALUES ('sync 2')");
    CHECK(keel::run_sync(db.current_transaction())->state() == tx.state());
    throw std::runtime_error("roll back");
  }),
                    "roll back");
  CHECK(total() == 0);
  const int returned = db.transaction_sync([&] {
    db.raw_sync("INSERT INTO band (name) VALUES ('sync')");
    return 7;
  });
  CHECK(returned == 7);
  CHECK(count("sync") == 1);
  CHECK_THROWS_AS(
      db.transaction_sync([&] { db.transaction_sync(keel::TransactionOptions{.allow_nested = false}, [] {}); }),
      keel::TransactionError);
}

TEST_CASE_METHOD(Fixture, "a sync call on a thread running an event loop is a clear error, not a deadlock") {
  asio::io_context loop;
  std::string message;
  asio::co_spawn(
      loop,
      [&]() -> asio::awaitable<void> {
        try {
          db.raw_sync("SELECT 1");
        } catch (const keel::SyncCallInEventLoopError& e) {
          message = e.what();
        }
        co_return;
      },
      asio::detached);
  loop.run();
  CHECK_THAT(message, Catch::Contains("co_await the async form"));
  CHECK(db.raw_sync("SELECT 1")[0].get<int>(0) == 1);  // fine outside the loop
}

TEST_CASE_METHOD(Fixture, "queries with no engine named use the default engine") {
  keel::set_default_engine(engine);
  raw("INSERT INTO band (name) VALUES ({})", "default").run_sync();
  CHECK(raw("SELECT name FROM band").run_sync()[0].get<std::string>(0) == "default");
  keel::set_default_engine(nullptr);
  CHECK_THROWS_AS(raw("SELECT 1").run_sync(), keel::MisuseError);
}

TEST_CASE_METHOD(Fixture, "many concurrent coroutines share the engine's connections") {
  asio::io_context loop;
  int finished = 0;
  for (int worker = 0; worker < 16; ++worker) {
    asio::co_spawn(
        loop,
        [&, worker]() -> asio::awaitable<void> {
          for (int i = 0; i < 5; ++i) {
            if (i % 2 == 0) {
              co_await db.transaction([&]() -> asio::awaitable<void> {
                co_await db.raw("INSERT INTO band (name) VALUES ({})",
                                "w" + std::to_string(worker) + "-" + std::to_string(i));
              });
            } else {
              co_await db.raw("INSERT INTO band (name) VALUES ({})",
                              "w" + std::to_string(worker) + "-" + std::to_string(i));
            }
          }
          ++finished;
        },
        [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        });
  }
  loop.run();
  CHECK(finished == 16);
  CHECK(total() == 80);
}

TEST_CASE_METHOD(Fixture, "a transaction that a failed statement aborted never reports a commit") {
  // The body catches the database's error and goes on. PostgreSQL has aborted the transaction: its COMMIT
  // rolls back, and the caller must hear TransactionAborted, not success. SQLite undoes only the statement.
  auto body = [&]() -> asio::awaitable<void> {
    co_await db.raw("INSERT INTO band (name) VALUES ('kept?')");
    try {
      co_await db.raw("INSERT INTO band (name) VALUES ('kept?')");
    } catch (const keel::UniqueViolation&) {}
  };
  if (on_postgres()) {
    CHECK_THROWS_AS(keel::run_sync(db.transaction(body)), keel::TransactionAborted);
    CHECK_THROWS_WITH(keel::run_sync(db.transaction(body)), Catch::Contains("rolled back, not committed"));
    CHECK(count("kept?") == 0);
    // An explicit transaction, and the sync scope, say the same.
    keel::Transaction tx = db.begin_sync();
    raw("INSERT INTO band (name) VALUES ('explicit')").run_sync(tx);
    CHECK_THROWS_AS(raw("SELECT no_such_column FROM band").run_sync(tx), keel::UndefinedColumn);
    CHECK_THROWS_AS(raw("SELECT 1").run_sync(tx), keel::TransactionAborted);  // 25P02: commands ignored
    CHECK_THROWS_AS(tx.commit_sync(), keel::TransactionAborted);
    CHECK_FALSE(tx.active());
    CHECK_THROWS_AS(db.transaction_sync([&] {
      try {
        db.raw_sync("SELECT no_such_column FROM band");
      } catch (const keel::UndefinedColumn&) {}
    }),
                    keel::TransactionAborted);
    CHECK(total() == 0);
  } else {
    keel::run_sync(db.transaction(body));
    CHECK(count("kept?") == 1);
  }
  db.raw_sync("INSERT INTO band (name) VALUES ('after')");  // the engine goes on
  CHECK(count("after") == 1);
}

// One connection: a lease that a failed COMMIT kept would stop the next statement.
struct OneConnection : Fixture {
  OneConnection() : Fixture({.max_connections = 1}) {}
};

TEST_CASE_METHOD(OneConnection,
                 "a COMMIT the database refuses reaches the caller typed, keeps nothing, and frees the "
                 "connection") {
  ddl("CREATE TABLE member (" + key_column() + ", band_id BIGINT REFERENCES band (id) DEFERRABLE INITIALLY DEFERRED)");
  auto body = [&]() -> asio::awaitable<void> {
    co_await db.raw("INSERT INTO band (name) VALUES ('kept?')");
    co_await db.raw("INSERT INTO member (band_id) VALUES (99)");  // no band 99: refused at COMMIT
  };
  // Several times: from the second on, SQLite's BEGIN and COMMIT are known to be fast and run at once.
  for (int round = 0; round < 3; ++round) {
    CHECK_THROWS_AS(keel::run_sync(db.transaction(body)), keel::ForeignKeyViolation);
    CHECK(count("kept?") == 0);
  }
  CHECK_THROWS_AS(db.transaction_sync([&] {
    db.raw_sync("INSERT INTO band (name) VALUES ('kept?')");
    db.raw_sync("INSERT INTO member (band_id) VALUES (99)");
  }),
                  keel::ForeignKeyViolation);
  keel::Transaction explicit_tx = db.begin_sync();
  raw("INSERT INTO member (band_id) VALUES (99)").run_sync(explicit_tx);
  CHECK_THROWS_AS(explicit_tx.commit_sync(), keel::ForeignKeyViolation);
  CHECK_FALSE(explicit_tx.active());
  CHECK(db.raw_sync("SELECT count(*) FROM member")[0].get<std::int64_t>(0) == 0);
  // The one connection is back, and the next transactions commit.
  for (int round = 0; round < 3; ++round)
    keel::run_sync(db.transaction([&]() -> asio::awaitable<void> {
      co_await db.raw("INSERT INTO band (name) VALUES ({})", "after " + std::to_string(round));
    }));
  CHECK(total() == 3);
}

TEST_CASE_METHOD(Fixture, "generated savepoint names never repeat a name given in the transaction") {
  std::vector<std::string> generated;
  keel::run_sync(db.transaction([&](keel::Transaction& tx) -> asio::awaitable<void> {
    co_await tx.savepoint("keel_savepoint_2");
    co_await db.raw("INSERT INTO band (name) VALUES ('after the given savepoint')");
    generated.push_back((co_await tx.savepoint()).name());
    generated.push_back((co_await tx.savepoint()).name());
    co_await tx.rollback_to("keel_savepoint_2");  // the given one: both generated ones and the row go
  }));
  CHECK(generated == std::vector<std::string>{"keel_savepoint_1", "keel_savepoint_3"});
  CHECK(count("after the given savepoint") == 0);
}

TEST_CASE_METHOD(Fixture, "a savepoint that was never made, or was released, is InvalidSavepoint on every engine") {
  {
    keel::Transaction tx = db.begin_sync();
    CHECK_THROWS_AS(tx.rollback_to_sync("never_made"), keel::InvalidSavepoint);
    tx.rollback_sync();
  }
  {
    keel::Transaction tx = db.begin_sync();
    keel::Savepoint sp = tx.savepoint_sync("once");
    sp.release_sync();
    CHECK_THROWS_AS(sp.release_sync(), keel::InvalidSavepoint);
    tx.rollback_sync();
  }
  {
    keel::Transaction tx = db.begin_sync();
    keel::Savepoint sp = tx.savepoint_sync();
    sp.release_sync();
    CHECK_THROWS_AS(sp.rollback_to_sync(), keel::InvalidSavepoint);
    tx.rollback_sync();
  }
  CHECK(total() == 0);
}

TEST_CASE_METHOD(Fixture, "transaction_exists and version_number") {
  CHECK_FALSE(keel::run_sync(db.transaction_exists()));
  CHECK(keel::run_sync(db.transaction([&]() -> asio::awaitable<bool> { co_return co_await db.transaction_exists(); })));
  const double version = keel::run_sync(db.version_number());
  CHECK(version >= (on_postgres() ? 10.0 : 3.0));
  CHECK(version < 100.0);
}

TEST_CASE_METHOD(Fixture, "query loggers hear every statement: values, rows, time and errors, in transactions too") {
  std::vector<keel::LoggedStatement> heard;
  std::vector<std::vector<keel::Value>> values;
  std::vector<std::string> sql;
  const auto id = db.add_query_logger([&](const keel::LoggedStatement& s) {
    heard.push_back(s);
    sql.emplace_back(s.sql);
    values.emplace_back(s.params.begin(), s.params.end());
  });
  db.raw_sync("INSERT INTO band (name, popularity) VALUES ({}, {})", "logged", 7);
  db.raw_sync("INSERT INTO band (name) VALUES ({})", "also logged");
  CHECK(db.raw_sync("SELECT name FROM band WHERE popularity >= {}", 0).size() == 2);
  CHECK_THROWS_AS(db.raw_sync("SELECT no_such_column FROM band"), keel::UndefinedColumn);
  keel::run_sync(
      db.transaction([&]() -> asio::awaitable<void> { co_await db.raw("DELETE FROM band WHERE name = 'logged'"); }));
  db.atomic().add(raw("INSERT INTO band (name) VALUES ('atomic')")).run_sync();
  REQUIRE(heard.size() == 6);
  CHECK(sql[0].find("INSERT INTO band") != std::string::npos);
  CHECK(values[0] == std::vector<keel::Value>{"logged", 7});
  CHECK(heard[0].rows_affected == 1);
  CHECK(heard[0].error == nullptr);
  CHECK(heard[2].rows == 2);
  CHECK(values[2] == std::vector<keel::Value>{0});
  CHECK(heard[3].error != nullptr);
  CHECK(sql[4] == "DELETE FROM band WHERE name = 'logged'");
  CHECK(heard[4].rows_affected == 1);
  CHECK(sql[5] == "INSERT INTO band (name) VALUES ('atomic')");
  for (const auto& s : heard) CHECK(s.elapsed.count() > 0);
  db.remove_query_logger(id);
  db.raw_sync("SELECT 1");
  CHECK(heard.size() == 6);
}

TEST_CASE("a printing logger shows the statement, its values and what came back", "[engine]") {
  std::ostringstream captured;
  auto* saved = std::clog.rdbuf(captured.rdbuf());
  const std::vector<keel::Value> params{nullptr, true, 42, 2.5, "it's", keel::Blob{std::byte{10}, std::byte{255}}};
  keel::printing_logger()(keel::LoggedStatement{.sql = "SELECT x", .params = params, .rows = 3});
  std::clog.rdbuf(saved);
  CHECK_THAT(captured.str(), Catch::Contains("keel query: SELECT x -- values: NULL, true, 42, 2.5, 'it''s', \\x0aff"));
  CHECK_THAT(captured.str(), Catch::Contains("keel response: 3 rows, 0 changed in"));
}

TEST_CASE_METHOD(Fixture, "an atomic run keeps its statements' order, and reports its first failure") {
  auto popularity = [&](const std::string& name) {
    return db.run_sync(raw("SELECT popularity FROM band WHERE name = {}", name))[0].get<std::int64_t>(0);
  };
  // Twice: once with statements new to the engine, once with them prepared already.
  for (const std::string name : {"ordered", "ordered again"}) {
    db.atomic()
        .add(raw("INSERT INTO band (name, popularity) VALUES ({}, {})", name, 1),
             raw("UPDATE band SET popularity = popularity * {} WHERE name = {}", 10, name),
             raw("UPDATE band SET popularity = popularity + {} WHERE name = {}", 5, name))
        .run_sync();
    CHECK(popularity(name) == 15);  // (1 * 10) + 5: any other order gives 60 or 1
  }
  CHECK_THROWS_AS(db.atomic()
                      .add(raw("INSERT INTO band (name, popularity) VALUES ({}, {})", "second", 2),
                           raw("INSERT INTO band (name, popularity) VALUES ({}, {})", "ordered", 3),  // taken
                           raw("UPDATE band SET popularity = {} WHERE name = {}", 0, "ordered"))
                      .run_sync(),
                  keel::UniqueViolation);
  CHECK(count("second") == 0);
  CHECK(popularity("ordered") == 15);
}

TEST_CASE_METHOD(Fixture, "execute_each runs one statement once per group of values, and stops at an error") {
  const keel::Statement insert(
      keel::render_placeholders("INSERT INTO band (name, popularity) VALUES ({}, {})", db.dialect()),
      {"a", 1, "b", 2, "c", 3});
  const keel::ExecResult result = keel::run_sync(db.transaction(
      [&]() -> asio::awaitable<keel::ExecResult> { co_return co_await db.execute_each(insert, 2, nullptr); }));
  CHECK(result.rows_affected == 3);
  CHECK(total() == 3);
  if (!on_postgres()) {  // SQLite reports each row's key
    REQUIRE(result.insert_ids.size() == 3);
    CHECK(db.raw_sync("SELECT id FROM band WHERE name = 'c'")[0].get<std::int64_t>(0) == result.insert_ids[2]);
  }
  // Again, the text known now (SQLite runs it on the caller's thread this time).
  const keel::Statement more(insert.shared_sql(), {"f", 7, "g", 8});
  CHECK(keel::run_sync(db.transaction([&]() -> asio::awaitable<keel::ExecResult> {
          co_return co_await db.execute_each(more, 2, nullptr);
        })).rows_affected == 2);
  CHECK(total() == 5);
  // The second run fails (a duplicate name): the error reaches the caller, and the transaction keeps nothing.
  const keel::Statement clashing(insert.shared_sql(), {"d", 4, "a", 5, "e", 6});
  CHECK_THROWS_AS(keel::run_sync(db.transaction(
                      [&]() -> asio::awaitable<void> { co_await db.execute_each(clashing, 2, nullptr); })),
                  keel::UniqueViolation);
  CHECK(total() == 5);
  CHECK(count("d") == 0);
  CHECK(count("e") == 0);
  // Values that are not whole groups are a misuse.
  CHECK_THROWS_AS(keel::run_sync(db.execute_each(insert, 4, nullptr)), keel::MisuseError);
  CHECK(total() == 5);
}

namespace {
// Gigs as runs of (name, fee): a name as text or as a Value, a fee as a number or NULL.
struct GigRuns final : keel::RunValueSource {
  struct Run {
    std::string name;
    std::optional<std::int64_t> fee;
    bool name_as_value = false;
  };
  std::vector<Run> rows;
  std::size_t per_run = 2;
  mutable std::vector<std::size_t> bound;  // the runs bound, in order
  std::size_t runs() const override { return rows.size(); }
  std::size_t values_per_run() const override { return 2; }
  void bind_run(std::size_t run, keel::RunBinder& binder) const override {
    bound.push_back(run);
    const Run& row = rows[run];
    if (row.name_as_value)
      binder.bind_value(keel::Value(row.name));
    else
      binder.bind_text(row.name);
    if (per_run < 2) return;
    if (row.fee)
      binder.bind_integer(*row.fee);
    else
      binder.bind_null();
  }
};
}  // namespace

TEST_CASE_METHOD(Fixture, "execute_each_from binds each run from its source, and stops at an error") {
  ddl("CREATE TABLE gig (" + key_column() + ", name TEXT NOT NULL UNIQUE, fee INTEGER)");
  const auto text = std::make_shared<const std::string>(
      keel::render_placeholders("INSERT INTO gig (name, fee) VALUES ({}, {})", db.dialect()));
  auto gigs = [&]() { return db.raw_sync("SELECT count(*) FROM gig")[0].get<std::int64_t>(0); };
  auto insert_all = [&](const GigRuns& runs) {
    return keel::run_sync(db.transaction(
        [&]() -> asio::awaitable<keel::ExecResult> { co_return co_await db.execute_each_from(text, runs, nullptr); }));
  };
  GigRuns runs;
  runs.rows = {{"a", 1}, {"b", std::nullopt, true}, {"c", 3}};
  const keel::ExecResult result = insert_all(runs);
  CHECK(result.rows_affected == 3);
  CHECK(runs.bound == std::vector<std::size_t>{0, 1, 2});
  CHECK(db.raw_sync("SELECT count(*) FROM gig WHERE fee IS NULL AND name = 'b'")[0].get<std::int64_t>(0) == 1);
  CHECK(db.raw_sync("SELECT fee FROM gig WHERE name = 'c'")[0].get<std::int64_t>(0) == 3);
  if (!on_postgres()) {  // SQLite reports each row's key
    REQUIRE(result.insert_ids.size() == 3);
    CHECK(db.raw_sync("SELECT id FROM gig WHERE name = 'c'")[0].get<std::int64_t>(0) == result.insert_ids[2]);
  }
  // The second run fails (a duplicate name): the error reaches the caller, and the transaction keeps nothing.
  GigRuns clashing;
  clashing.rows = {{"d", 4}, {"a", 5}, {"e", 6}};
  CHECK_THROWS_AS(insert_all(clashing), keel::UniqueViolation);
  CHECK(gigs() == 3);
  CHECK(db.raw_sync("SELECT count(*) FROM gig WHERE name = 'd'")[0].get<std::int64_t>(0) == 0);
  // A source that binds fewer values than the text has placeholders is a misuse, and nothing of it stays.
  GigRuns short_runs;
  short_runs.rows = {{"f", 1}, {"g", 2}};
  short_runs.per_run = 1;
  CHECK_THROWS_AS(insert_all(short_runs), keel::MisuseError);
  CHECK(gigs() == 3);
  // A query logger hears every run's values, as it hears execute_each's.
  std::vector<keel::Value> heard;
  const auto logger = db.add_query_logger(
      [&](const keel::LoggedStatement& s) { heard.insert(heard.end(), s.params.begin(), s.params.end()); });
  GigRuns logged;
  logged.rows = {{"h", 8}, {"i", std::nullopt}};
  CHECK(insert_all(logged).rows_affected == 2);
  db.remove_query_logger(logger);
  CHECK(heard == std::vector<keel::Value>{"h", 8, "i", nullptr});
  CHECK(gigs() == 5);
}

namespace {
// Rated gigs as runs of (name, rating); an empty name as an empty view, whose data() is null; `extra` values
// more than the text takes.
struct RatedRuns final : keel::RunValueSource {
  std::vector<std::pair<std::string, double>> rows;
  int extra = 0;
  std::size_t runs() const override { return rows.size(); }
  std::size_t values_per_run() const override { return 2; }
  void bind_run(std::size_t run, keel::RunBinder& binder) const override {
    const auto& [name, rating] = rows[run];
    binder.bind_text(name.empty() ? std::string_view() : std::string_view(name));
    binder.bind_real(rating);
    for (int i = 0; i < extra; ++i) binder.bind_integer(i);
  }
};
}  // namespace

TEST_CASE_METHOD(Fixture, "execute_each_from outside a transaction: numbers, empty text, and too many values") {
  ddl("CREATE TABLE rated (" + key_column() + ", name TEXT NOT NULL, rating " +
      (on_postgres() ? "DOUBLE PRECISION" : "REAL") + ")");
  const auto text = std::make_shared<const std::string>(
      keel::render_placeholders("INSERT INTO rated (name, rating) VALUES ({}, {})", db.dialect()));
  auto rated = [&]() { return db.raw_sync("SELECT count(*) FROM rated")[0].get<std::int64_t>(0); };
  RatedRuns runs;
  runs.rows = {{"", 2.5}, {"x", -1.25}};
  // On a connection of the engine's own, each run committing by itself.
  CHECK(keel::run_sync(db.execute_each_from(text, runs, nullptr)).rows_affected == 2);
  CHECK(db.raw_sync("SELECT count(*) FROM rated WHERE name = '' AND rating = 2.5")[0].get<std::int64_t>(0) == 1);
  CHECK(db.raw_sync("SELECT rating FROM rated WHERE name = 'x'")[0].get<double>(0) == -1.25);
  RatedRuns too_many;
  too_many.rows = {{"y", 1.0}};
  too_many.extra = 1;
  CHECK_THROWS_AS(keel::run_sync(db.execute_each_from(text, too_many, nullptr)), keel::MisuseError);
  CHECK(rated() == 2);
}

namespace {
// One booking's (name, fee) for execute_at_once_from: the name as text, the fee as a number or NULL; `values` says
// how many it binds (two, as the text takes); `throws`, that it fails after the name.
struct BookingValues final : keel::StatementValues {
  BookingValues(std::string n, std::optional<std::int64_t> f, int v = 2, bool t = false)
      : name(std::move(n)), fee(f), values(v), throws(t) {}
  std::string name;
  std::optional<std::int64_t> fee;
  int values;
  bool throws;
  void bind(keel::RunBinder& binder) const override {
    if (values >= 1) binder.bind_text(name);
    if (throws) throw std::runtime_error("no fee for " + name);
    if (values >= 2) {
      if (fee)
        binder.bind_integer(*fee);
      else
        binder.bind_null();
    }
    for (int i = 2; i < values; ++i) binder.bind_integer(i);
  }
};
}  // namespace

// On one connection: a failure that kept its lease would leave none for the statements after it.
TEST_CASE_METHOD(OneConnection,
                 "execute_at_once_from binds a statement's values straight where the engine runs it at once") {
  ddl("CREATE TABLE booking (" + key_column() + ", name TEXT NOT NULL, fee INTEGER)");
  const std::string text = keel::render_placeholders("INSERT INTO booking (name, fee) VALUES ({}, {})", db.dialect());
  auto bookings = [&](const std::string& name) {
    return db.raw_sync("SELECT count(*) FROM booking WHERE name = {}", name)[0].get<std::int64_t>(0);
  };
  // At once on `executor`'s context; an engine that cannot says so and runs nothing. One that can may need the
  // text run by execute() first (prepared and timed there), again after a run that took long on a busy machine.
  auto at_once = [&](const BookingValues& values,
                     const asio::any_io_executor& executor) -> asio::awaitable<std::optional<keel::ExecResult>> {
    for (int attempt = 0; attempt < 20; ++attempt) {
      if (auto done = db.execute_at_once_from(text, values, nullptr, executor)) co_return done;
      if (!db.runs_at_once()) co_return std::nullopt;
      co_await db.execute(keel::Statement(text, {"warm-up", 0}), nullptr);
    }
    co_return std::nullopt;
  };
  auto at_once_here = [&](const BookingValues& values) {
    return keel::run_sync([&]() -> asio::awaitable<std::optional<keel::ExecResult>> {
      co_return co_await at_once(values, co_await asio::this_coro::executor);
    }());
  };

  const std::optional<keel::ExecResult> paid = at_once_here(BookingValues("paid", 250));
  if (!db.runs_at_once()) {  // PostgreSQL: nothing ran, for execute() to run
    CHECK(!paid);
    CHECK(bookings("paid") == 0);
    return;
  }
  REQUIRE(paid);
  CHECK(paid->rows_affected == 1);
  REQUIRE(paid->last_insert_id);
  CHECK(db.raw_sync("SELECT fee FROM booking WHERE id = {}", *paid->last_insert_id)[0].get<std::int64_t>(0) == 250);
  const std::optional<keel::ExecResult> free = at_once_here(BookingValues("free", std::nullopt));
  REQUIRE(free);
  CHECK(db.raw_sync("SELECT count(*) FROM booking WHERE name = 'free' AND fee IS NULL")[0].get<std::int64_t>(0) == 1);
  // Fewer or more values than the text's placeholders: a misuse, and nothing ran.
  CHECK_THROWS_AS(at_once_here(BookingValues("short", 1, 1)), keel::MisuseError);
  CHECK_THROWS_AS(at_once_here(BookingValues("long", 1, 3)), keel::MisuseError);
  CHECK(bookings("short") + bookings("long") == 0);
  // Values that fail as they are bound: the failure reaches the caller, nothing ran, and the connection is back.
  CHECK_THROWS_WITH(at_once_here(BookingValues("thrown", 1, 2, true)), "no fee for thrown");
  CHECK(bookings("thrown") == 0);
  CHECK(db.try_acquire());
  REQUIRE(at_once_here(BookingValues("after the failure", 7)));
  CHECK(bookings("after the failure") == 1);
  // Inside a transaction it runs on the transaction: seen there, and gone with its rollback.
  std::int64_t seen_inside = -1;
  CHECK_THROWS_AS(keel::run_sync(db.transaction([&]() -> asio::awaitable<void> {
                    REQUIRE(co_await at_once(BookingValues("undone", 3), co_await asio::this_coro::executor));
                    seen_inside =
                        (co_await db.raw("SELECT count(*) FROM booking WHERE name = 'undone'"))[0].get<std::int64_t>(0);
                    throw std::runtime_error("roll back");
                  })),
                  std::runtime_error);
  CHECK(seen_inside == 1);
  CHECK(bookings("undone") == 0);
}

TEST_CASE_METHOD(Fixture, "a script of several statements runs, inside a transaction too") {
  db.raw_sync("CREATE TABLE one (x INTEGER); CREATE TABLE two (y INTEGER)");
  keel::run_sync(db.transaction([&]() -> asio::awaitable<void> {
    co_await db.raw("INSERT INTO one VALUES (1); INSERT INTO two VALUES (2); -- and a comment");
    co_await db.raw("INSERT INTO band (name) VALUES ('after the script')");
  }));
  CHECK(db.raw_sync("SELECT (SELECT sum(x) FROM one) + (SELECT sum(y) FROM two)")[0].get<std::int64_t>(0) == 3);
  CHECK(count("after the script") == 1);
}

// PostgreSQL's types, stored natively there and as their text on SQLite (ISO 8601, canonical UUIDs, JSON arrays).
TEST_CASE_METHOD(Fixture, "dates, times, intervals, UUIDs, JSON, exact numbers and arrays round-trip") {
  using namespace std::chrono;
  auto type = [&](std::string pg) { return on_postgres() ? pg : std::string("TEXT"); };
  ddl("CREATE TABLE typed (" + key_column() + ", d " + type("DATE") + ", t " + type("TIME") + ", ts " +
      type("TIMESTAMP") + ", tz " + type("TIMESTAMPTZ") + ", iv " + type("INTERVAL") + ", u " + type("UUID") + ", j " +
      type("JSONB") + ", n " + type("NUMERIC(14,4)") + ", ints " + type("BIGINT[]") + ", names " + type("TEXT[]") +
      ", days " + type("DATE[]") + ")");
  const sys_days day = 2024y / February / 29d;
  const keel::TimeOfDay clock{hours(23) + minutes(59) + seconds(58) + microseconds(123456)};
  const keel::Timestamp wall = local_days(2024y / March / 31d) + hours(2) + minutes(30) + microseconds(5);
  const keel::TimestampTz instant = sys_days(1999y / December / 31d) + hours(23) + seconds(59) + microseconds(999999);
  const keel::Interval span{14, -3, -(hours(4) + microseconds(500000))};
  const keel::Uuid id = *keel::text_form::parse_uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  const boost::json::value doc = boost::json::parse(R"({"name":"Pythonistas","tags":["a","b"],"n":1.5})");
  const keel::Numeric price{"12345678.0125"};
  const std::vector<std::int64_t> ints{1, -2, INT64_MAX};
  const std::vector<std::optional<std::string>> names{"a", std::nullopt, "quote\"d, {braced}"};
  const std::vector<sys_days> dates{day, sys_days::max()};
  db.raw_sync(
      "INSERT INTO typed (d, t, ts, tz, iv, u, j, n, ints, names, days) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, "
      "{}, {})",
      day, clock, wall, instant, span, id, doc, price, ints, names, dates);
  db.raw_sync("INSERT INTO typed (d, iv, ints, names) VALUES ({}, {}, {}, {})", sys_days::min(),
              keel::Interval::minus_infinity(), std::vector<std::int64_t>{},
              std::vector<std::optional<std::string>>{std::nullopt});

  auto row = db.raw_sync("SELECT d, t, ts, tz, iv, u, j, n, ints, names, days FROM typed ORDER BY id")[0];
  CHECK(row.get<sys_days>("d") == day);
  CHECK(row.get<year_month_day>("d") == 2024y / February / 29d);
  CHECK(row.get<keel::TimeOfDay>("t") == clock);
  CHECK(row.get<keel::Timestamp>("ts") == wall);
  CHECK(row.get<keel::TimestampTz>("tz") == instant);
  CHECK(row.get<sys_time<nanoseconds>>("tz") == instant);
  CHECK(row.get<keel::Interval>("iv") == span);
  CHECK(row.get<keel::Uuid>("u") == id);
  CHECK(row.get<std::string>("u") == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  CHECK(row.get<boost::json::value>("j") == doc);
  CHECK(row.get<keel::Numeric>("n") == price);
  CHECK(row.get<std::vector<std::int64_t>>("ints") == ints);
  CHECK(row.get<std::vector<std::optional<std::string>>>("names") == names);
  CHECK(row.get<std::vector<sys_days>>("days") == dates);
  // The text forms, the same on both engines.
  CHECK(row.get<std::string>("d") == "2024-02-29");
  CHECK(row.get<std::string>("t") == "23:59:58.123456");
  CHECK(row.get<std::string>("ts") == "2024-03-31 02:30:00.000005");
  CHECK(row.get<std::string>("iv") == "P1Y2M-3DT-4H-0.5S");
  // An instant is not a wall-clock reading. (SQLite's text of a timestamp names no offset, and is read as UTC
  // when an instant is asked for, as its CURRENT_TIMESTAMP writes.)
  CHECK_THROWS_AS(row.get<keel::Timestamp>("tz"), keel::TypeMismatchError);
  if (on_postgres()) {
    CHECK_THROWS_AS(row.get<keel::TimestampTz>("ts"), keel::TypeMismatchError);
    CHECK(row.get<double>("n") == 12345678.0125);  // numeric asked for as a double; SQLite's is text
  }
  CHECK_THROWS_AS(row.get<keel::Uuid>("j"), keel::TypeMismatchError);

  auto second = db.raw_sync("SELECT d, iv, ints, names FROM typed ORDER BY id")[1];
  CHECK(second.get<sys_days>("d") == sys_days::min());
  CHECK(second.get<keel::Interval>("iv") == keel::Interval::minus_infinity());  // PostgreSQL 17's -infinity
  CHECK(second.get<std::vector<std::int64_t>>("ints").empty());
  CHECK(second.get<std::vector<std::optional<std::string>>>("names") ==
        std::vector<std::optional<std::string>>{std::nullopt});

  // Bound values compare with stored ones, and times sort in time order on both engines.
  CHECK(db.raw_sync("SELECT count(*) FROM typed WHERE u = {}", id)[0].get<std::int64_t>(0) == 1);
  CHECK(db.raw_sync("SELECT count(*) FROM typed WHERE d < {}", day)[0].get<std::int64_t>(0) == 1);
  db.raw_sync("INSERT INTO typed (tz) VALUES ({})", instant + microseconds(1));
  db.raw_sync("INSERT INTO typed (tz) VALUES ({})", instant - hours(1));
  auto order = db.raw_sync("SELECT tz FROM typed WHERE tz IS NOT NULL ORDER BY tz");
  REQUIRE(order.size() == 3);
  CHECK(order[0].get<keel::TimestampTz>(0) == instant - hours(1));
  CHECK(order[2].get<keel::TimestampTz>(0) == instant + microseconds(1));
  if (on_postgres()) {
    CHECK(db.raw_sync("SELECT count(*) FROM typed WHERE d = ANY({})", std::vector<sys_days>{day, sys_days(days{0})})[0]
              .get<std::int64_t>(0) == 1);
    CHECK(db.raw_sync("SELECT {} + {}", price, keel::Numeric{"0.0001"})[0].get<keel::Numeric>(0).text ==
          "12345678.0126");
    CHECK(db.raw_sync("SELECT {}::jsonb -> 'tags' ->> 1", doc)[0].get<std::string>(0) == "b");
  }
}
