// The bulk writer without a database: where batches split at the byte and parameter limits, the collector's
// records, retries of transient failures only, the circuit breaker on a fake clock, dry runs, savepoints per
// statement, and the scope that flushes on exit. It runs on the recording engine; the suite on every engine
// (tests/engine/writer_suite.cpp) runs it against real databases.
#include <catch2/catch.hpp>
#include <boost/asio/awaitable.hpp>
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>
import keel;

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Texts = std::vector<std::string>;
using Ends = std::vector<std::size_t>;

namespace {
keel::Statement text_of(std::size_t bytes, std::size_t values = 0) {
  return keel::Statement(std::string(bytes, 'x'), std::vector<keel::Value>(values, keel::Value(1)));
}
keel::RetryPolicy quick_retries(std::size_t attempts) {
  return keel::RetryPolicy{.max_attempts = attempts, .first_delay = 0ms, .max_delay = 0ms, .jitter = false};
}
}  // namespace

TEST_CASE("writer: batches split exactly at the byte and parameter limits", "[writer]") {
  const keel::BatchLimits limits{.max_bytes = 100, .max_parameters = 10};
  // 40 + 60 fill 100 bytes exactly; one byte more starts a new batch.
  CHECK(keel::batch_ends(std::vector{text_of(40), text_of(60), text_of(1)}, limits) == Ends{2, 3});
  CHECK(keel::batch_ends(std::vector{text_of(40), text_of(61)}, limits) == Ends{1, 2});
  // A statement over the byte limit on its own goes alone, never cut.
  CHECK(keel::batch_ends(std::vector{text_of(10), text_of(150), text_of(10)}, limits) == Ends{1, 2, 3});
  // Values: 4 + 6 fill 10; 4 + 7 do not.
  CHECK(keel::batch_ends(std::vector{text_of(1, 4), text_of(1, 6), text_of(1, 1)}, limits) == Ends{2, 3});
  CHECK(keel::batch_ends(std::vector{text_of(1, 4), text_of(1, 7)}, limits) == Ends{1, 2});
  CHECK_THROWS_AS(keel::batch_ends(std::vector{text_of(1, 11)}, limits), keel::MisuseError);
  CHECK(keel::batch_ends(std::vector<keel::Statement>{}, limits).empty());
}

TEST_CASE("writer: add_statement says when a flush is due; flush sends each batch in a transaction", "[writer]") {
  keel::RecordingEngine db(keel::Dialect::postgres);
  keel::QueryCollector collector;
  keel::BulkWriter writer(db, {.max_bytes = 60, .collector = &collector});
  CHECK_FALSE(writer.add_statement("INSERT INTO t VALUES (1)"));       // 24 bytes
  CHECK_FALSE(writer.add(keel::raw("INSERT INTO t VALUES ({})", 2)));  // 25
  CHECK(writer.add_statement("INSERT INTO t VALUES (3)"));             // 73 >= 60: due
  CHECK(writer.pending() == 3);
  CHECK(writer.flush_sync({{"job", "nightly"}}) == 3);
  CHECK(writer.pending() == 0);
  // Each batch is split by the statements' own texts, then its one-row inserts into t go as one statement.
  CHECK(db.sql() ==
        Texts{"BEGIN", "INSERT INTO t VALUES (1), ($1)", "COMMIT", "BEGIN", "INSERT INTO t VALUES (3)", "COMMIT"});
  CHECK(db.statements()[1].params == std::vector<keel::Value>{keel::Value(2)});
  const auto records = collector.records();
  REQUIRE(records.size() == 2);
  CHECK(records[0].statements == 2);
  CHECK(records[0].bytes == 30);
  CHECK(records[0].parameters == 1);
  CHECK(records[0].sql == Texts{"INSERT INTO t VALUES (1), ($1)"});
  CHECK(records[0].attempts == 1);
  CHECK(records[0].succeeded);
  CHECK(records[0].metadata.at("job") == "nightly");
  CHECK(records[1].statements == 1);
  CHECK(db.connections_in_use() == 0);
}

TEST_CASE("writer: in the add-then-flush loop, flush_full_batches sends full batches and keeps the last one open",
          "[writer]") {
  // Every statement is 24 bytes: two fill a batch of 60 bytes, the third reaches the limit and makes add() true.
  auto batch_sizes = [](bool full_only) {
    keel::RecordingEngine db(keel::Dialect::postgres);
    keel::QueryCollector collector;
    keel::BulkWriter writer(db, {.max_bytes = 60, .collector = &collector});
    for (int i = 0; i < 9; ++i) {
      if (writer.add_statement("INSERT INTO t VALUES (" + std::to_string(i) + ")")) {
        if (full_only)
          writer.flush_full_batches_sync();
        else
          writer.flush_sync();
      }
    }
    writer.flush_sync();
    std::vector<std::size_t> sizes;
    for (const auto& record : collector.records()) sizes.push_back(record.statements);
    return sizes;
  };
  CHECK(batch_sizes(true) == std::vector<std::size_t>{2, 2, 2, 2, 1});
  // flush() sends the statement that reached the limit alone: what the loop did before flush_full_batches.
  CHECK(batch_sizes(false) == std::vector<std::size_t>{2, 1, 2, 1, 2, 1});
}

TEST_CASE("writer: a serialization failure is retried, a unique violation is not", "[writer]") {
  keel::RecordingEngine db;
  keel::QueryCollector collector;
  keel::BulkWriter writer(db, {.retry = quick_retries(3), .collector = &collector});
  db.fails_with_sqlstate("UPDATE", "40001", "could not serialize access", 2);
  CHECK(writer.process_statements_sync({keel::Statement("UPDATE t SET a = 1")}) == 1);
  CHECK(db.sql() == Texts{"BEGIN", "UPDATE t SET a = 1", "ROLLBACK", "BEGIN", "UPDATE t SET a = 1", "ROLLBACK", "BEGIN",
                          "UPDATE t SET a = 1", "COMMIT"});
  CHECK(collector.records().back().attempts == 3);
  db.clear();
  db.fails_with_sqlstate("INSERT", "23505", "duplicate key value violates unique constraint");
  writer.add_statement("INSERT INTO t VALUES (1)");
  CHECK_THROWS_AS(writer.flush_sync(), keel::UniqueViolation);
  CHECK(db.sql() == Texts{"BEGIN", "INSERT INTO t VALUES (1)", "ROLLBACK"});  // once
  CHECK(writer.pending() == 1);  // kept, not lost: flush again or discard()
  CHECK_FALSE(collector.records().back().succeeded);
  CHECK_THAT(collector.records().back().error, Catch::Contains("duplicate key"));
  CHECK(writer.discard() == 1);
  // A COMMIT whose outcome is unknown is never retried: it may have committed.
  db.clear();
  db.fails("COMMIT", keel::CommitOutcomeUnknown("the connection was lost while the COMMIT was in flight"), 1);
  CHECK_THROWS_AS(writer.process_statements_sync({keel::Statement("DELETE FROM t")}), keel::CommitOutcomeUnknown);
  CHECK(db.sql() == Texts{"BEGIN", "DELETE FROM t", "COMMIT"});
  // A lost connection before the COMMIT: the transaction never committed, so it runs again.
  db.clear();
  writer.discard();
  db.fails("DELETE", keel::ConnectionError("the connection was lost"), 1);
  CHECK(writer.process_statements_sync({keel::Statement("DELETE FROM t")}) == 1);
  CHECK(db.sql().back() == "COMMIT");
}

TEST_CASE("writer: the circuit breaker opens, half-opens after its cool-down, and closes on success", "[writer]") {
  keel::RecordingEngine db;
  auto now = std::chrono::steady_clock::time_point{};
  auto breaker = std::make_shared<keel::CircuitBreaker>(
      keel::CircuitBreakerOptions{.failure_threshold = 2, .cool_down = 10s, .clock = [&] { return now; }});
  keel::BulkWriter writer(db, {.retry = quick_retries(1), .breaker = breaker});
  db.fails("INSERT", keel::ConnectionError("connection refused"));
  using State = keel::CircuitBreaker::State;
  for (int i = 0; i < 2; ++i) {
    CHECK_THROWS_AS(writer.process_statements_sync({keel::Statement("INSERT INTO t VALUES (1)")}),
                    keel::ConnectionError);
    writer.discard();
  }
  CHECK(breaker->state() == State::open);
  db.clear();
  CHECK_THROWS_AS(writer.process_statements_sync({keel::Statement("INSERT INTO t VALUES (1)")}),
                  keel::CircuitOpenError);
  CHECK(db.sql().empty());  // failed fast: nothing sent
  writer.discard();
  now += 11s;
  CHECK(breaker->state() == State::half_open);
  // The trial batch fails: open again for another cool-down.
  CHECK_THROWS_AS(writer.process_statements_sync({keel::Statement("INSERT INTO t VALUES (1)")}), keel::ConnectionError);
  writer.discard();
  CHECK(breaker->state() == State::open);
  now += 11s;
  db.affects("INSERT", 1);  // the database is back
  CHECK(writer.process_statements_sync({keel::Statement("INSERT INTO t VALUES (1)")}) == 1);
  CHECK(breaker->state() == State::closed);
}

TEST_CASE("writer: a dry run records every batch and sends nothing", "[writer]") {
  keel::QueryCollector collector;
  keel::BulkWriter writer(keel::Dialect::sqlite, collector, {.max_bytes = 30});
  writer.add(keel::raw("INSERT INTO t VALUES ({}, {})", 1, "a"));
  writer.add(keel::raw("INSERT INTO t VALUES ({}, {})", 2, "b"));
  CHECK(writer.flush_sync() == 0);
  const auto records = collector.records();
  REQUIRE(records.size() == 2);
  CHECK(records[0].sql == Texts{"INSERT INTO t VALUES (?, ?)"});
  CHECK(records[0].parameters == 2);
  CHECK(records[0].attempts == 0);
}

TEST_CASE("writer: with a savepoint per statement a failing statement alone is undone", "[writer]") {
  keel::RecordingEngine db;
  keel::QueryCollector collector;
  keel::BulkWriter writer(db, {.savepoint_per_statement = true, .collector = &collector});
  db.fails_with_sqlstate("VALUES (2)", "23505", "duplicate key");
  const auto results = writer.process_batch_sync({keel::Statement("INSERT INTO t VALUES (1)"),
                                                  keel::Statement("INSERT INTO t VALUES (2)"),
                                                  keel::Statement("INSERT INTO t VALUES (3)")});
  CHECK(results.size() == 3);
  CHECK(db.sql() == Texts{"BEGIN", "SAVEPOINT keel_savepoint_1", "INSERT INTO t VALUES (1)",
                          "RELEASE SAVEPOINT keel_savepoint_1", "SAVEPOINT keel_savepoint_2",
                          "INSERT INTO t VALUES (2)", "ROLLBACK TO SAVEPOINT keel_savepoint_2",
                          "SAVEPOINT keel_savepoint_3", "INSERT INTO t VALUES (3)",
                          "RELEASE SAVEPOINT keel_savepoint_3", "COMMIT"});
  REQUIRE(collector.records().back().statement_errors.size() == 1);
  CHECK_THAT(collector.records().back().statement_errors[0],
             Catch::StartsWith("INSERT INTO t VALUES (2): duplicate key"));
}

TEST_CASE("writer: with_writer flushes when its body returns, and sends nothing when it throws", "[writer]") {
  keel::RecordingEngine db;
  const auto sent = keel::run_sync(keel::with_writer(db, {}, [](keel::BulkWriter& writer) -> asio::awaitable<void> {
    writer.add_statement("INSERT INTO t VALUES (1)");
    writer.add_statement("INSERT INTO t VALUES (2)");
    co_return;
  }));
  CHECK(sent == 2);
  CHECK(db.sql() == Texts{"BEGIN", "INSERT INTO t VALUES (1), (2)", "COMMIT"});
  db.clear();
  CHECK_THROWS_AS(keel::run_sync(keel::with_writer(db, {},
                                                   [](keel::BulkWriter& writer) -> asio::awaitable<void> {
                                                     writer.add_statement("INSERT INTO t VALUES (1)");
                                                     throw std::runtime_error("the source failed");
                                                     co_return;
                                                   })),
                  std::runtime_error);
  CHECK(db.sql().empty());
  // The sync form, from a plain thread.
  CHECK(keel::with_writer_sync(db, {}, [](keel::BulkWriter& writer) {
          writer.add_statement("INSERT INTO t VALUES (3)");
          CHECK(writer.flush_sync() == 1);
          writer.add_statement("INSERT INTO t VALUES (4)");
        }) == 1);  // what it flushed on the way out
  CHECK(db.sql().size() == 6);
  db.clear();
  CHECK_THROWS_AS(keel::with_writer_sync(db, {},
                                         [](keel::BulkWriter& writer) {
                                           writer.add_statement("INSERT INTO t VALUES (5)");
                                           throw std::runtime_error("the source failed");
                                         }),
                  std::runtime_error);
  CHECK(db.sql().empty());
}

TEST_CASE(
    "writer: a function adapter gets each batch; its max_query_size bounds batches and refuses a statement over it",
    "[writer]") {
  std::vector<std::vector<std::string>> sent;
  bool closed = false;
  auto adapter = std::make_shared<keel::FunctionAdapter>(
      [&](std::span<const keel::Statement> batch) -> asio::awaitable<void> {
        auto& texts = sent.emplace_back();
        for (const auto& statement : batch) texts.emplace_back(statement.sql());
        co_return;
      },
      [&]() -> asio::awaitable<void> {
        closed = true;
        co_return;
      },
      keel::FunctionAdapterOptions{.max_query_size = 50});
  keel::BulkWriter writer(adapter, {.max_bytes = 1000});
  CHECK(writer.limits().max_bytes == 50);  // the target's limit is the tighter one
  CHECK_THROWS_WITH(writer.add_statement(std::string(51, 'x')), Catch::Contains("over the 50 bytes"));
  CHECK(writer.pending() == 0);
  const auto ran = keel::run_sync(keel::with_writer(adapter, {}, [](keel::BulkWriter& w) -> asio::awaitable<void> {
    w.add_statement(std::string(30, 'a'));
    w.add_statement(std::string(20, 'b'));
    w.add_statement(std::string(1, 'c'));
    co_return;
  }));
  CHECK(ran == 3);
  CHECK(sent == std::vector<std::vector<std::string>>{{std::string(30, 'a'), std::string(20, 'b')}, {"c"}});
  CHECK(closed);
}

TEST_CASE("writer: after a lost connection only an all-or-nothing batch is retried", "[writer]") {
  int calls = 0;
  auto flaky = [&](bool atomic) {
    return std::make_shared<keel::FunctionAdapter>(
        [&](std::span<const keel::Statement>) -> asio::awaitable<void> {
          if (++calls == 1) throw keel::ConnectionError("the connection was lost");
          co_return;
        },
        keel::FunctionAdapter::Close{}, keel::FunctionAdapterOptions{.atomic_batches = atomic});
  };
  keel::BulkWriter atomic(flaky(true), {.retry = quick_retries(3)});
  CHECK(atomic.process_statements_sync({keel::Statement("INSERT INTO t VALUES (1)")}) == 1);
  CHECK(calls == 2);
  calls = 0;
  keel::BulkWriter autocommit(flaky(false), {.retry = quick_retries(3)});
  CHECK_THROWS_AS(autocommit.process_statements_sync({keel::Statement("INSERT INTO t VALUES (1)")}),
                  keel::ConnectionError);
  CHECK(calls == 1);  // some of it may have been applied: not run twice
}

TEST_CASE("writer: a batch that was not all or nothing is never retried; the breaker ignores the batch's own errors",
          "[writer]") {
  keel::RecordingEngine db;
  // Each statement commits alone: after a deadlock on the second, the first is already in, so no retry.
  keel::BulkWriter autocommit(db, {.transaction_per_batch = false, .merge_inserts = false, .retry = quick_retries(3)});
  db.fails_with_sqlstate("VALUES (2)", "40P01", "deadlock detected", 1);
  CHECK_THROWS_AS(autocommit.process_statements_sync(
                      {keel::Statement("INSERT INTO t VALUES (1)"), keel::Statement("INSERT INTO t VALUES (2)")}),
                  keel::DeadlockDetected);
  CHECK(db.sql() == Texts{"INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)"});
  // A unique violation is the batch's own fault: it does not count towards opening a shared breaker.
  auto breaker = std::make_shared<keel::CircuitBreaker>(keel::CircuitBreakerOptions{.failure_threshold = 1});
  keel::BulkWriter writer(db, {.breaker = breaker});
  db.fails_with_sqlstate("DUPLICATE", "23505", "duplicate key");
  CHECK_THROWS_AS(writer.process_statements_sync({keel::Statement("INSERT DUPLICATE")}), keel::UniqueViolation);
  CHECK(breaker->state() == keel::CircuitBreaker::State::closed);
  // With a savepoint per statement, a deadlock still fails (and retries) the whole batch.
  db.clear();
  keel::BulkWriter forgiving(db, {.savepoint_per_statement = true, .retry = quick_retries(2)});
  db.fails_with_sqlstate("VALUES (5)", "40P01", "deadlock detected", 1);
  CHECK(forgiving.process_statements_sync({keel::Statement("INSERT INTO t VALUES (5)")}) == 1);
  const Texts sent = db.sql();
  CHECK(sent.front() == "BEGIN");
  CHECK(sent.back() == "COMMIT");
  CHECK(std::count(sent.begin(), sent.end(), std::string("ROLLBACK")) == 1);
}

TEST_CASE("writer: one-row inserts merge within a batch; not with merging off, a savepoint each, or in process_batch",
          "[writer][merge]") {
  keel::RecordingEngine db(keel::Dialect::postgres);
  keel::QueryCollector collector;
  const auto rows = [] {
    std::vector<keel::Statement> statements;
    for (int i = 1; i <= 3; ++i)
      statements.push_back(
          keel::raw("INSERT INTO t (a, b) VALUES ({}, {})", i, "r").statement(keel::Dialect::postgres));
    statements.push_back(keel::Statement("DELETE FROM u"));
    return statements;
  };
  keel::BulkWriter writer(db, {.copy_rows = false, .collector = &collector});
  CHECK(writer.process_statements_sync(rows()) == 4);
  CHECK(db.sql() ==
        Texts{"BEGIN", "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6)", "DELETE FROM u", "COMMIT"});
  CHECK(db.statements()[1].params == std::vector<keel::Value>{1, "r", 2, "r", 3, "r"});
  CHECK(collector.records().back().statements == 4);
  CHECK(collector.records().back().sql.size() == 2);
  db.clear();
  keel::BulkWriter separate(db, {.merge_inserts = false});
  CHECK(separate.process_statements_sync(rows()) == 4);
  CHECK(db.sql().size() == 6);
  db.clear();
  CHECK(writer.process_batch_sync(rows()).size() == 4);  // each statement's own result
  CHECK(db.sql().size() == 6);
  db.clear();
  keel::BulkWriter forgiving(db, {.savepoint_per_statement = true});
  CHECK(forgiving.process_statements_sync(rows()) == 4);
  const Texts sent = db.sql();
  CHECK(std::count_if(sent.begin(), sent.end(), [](const std::string& s) { return s.starts_with("INSERT"); }) == 3);
}

TEST_CASE("writer: auto_adjust_for_columns gives wide rows smaller batches, within its factors", "[writer][merge]") {
  const auto insert_of = [](std::size_t columns) {
    std::string sql = "INSERT INTO t VALUES (";
    for (std::size_t i = 0; i < columns; ++i) sql += i ? ", 1" : "1";
    return sql + ")";
  };
  const auto limit_after = [&](std::size_t columns) {
    keel::QueryCollector dry_run;
    keel::BulkWriter writer(
        keel::Dialect::postgres, dry_run,
        {.max_bytes = 1000, .auto_adjust_for_columns = keel::ColumnAdjustment{.reference_columns = 10}});
    writer.add_statement("UPDATE t SET a = 1");  // not an insert: no adjustment yet
    CHECK(writer.limits().max_bytes == 1000);
    writer.add_statement(insert_of(columns));
    writer.add_statement(insert_of(1));  // only the first insert counts
    CHECK(writer.detected_columns() == columns);
    return writer.limits().max_bytes;
  };
  CHECK(limit_after(10) == 1000);
  CHECK(limit_after(16) == 625);
  CHECK(limit_after(40) == 500);  // at most halved
  CHECK(limit_after(5) == 2000);
  CHECK(limit_after(1) == 2000);  // at most doubled
  keel::QueryCollector collector;
  keel::BulkWriter plain(keel::Dialect::postgres, collector, {.max_bytes = 1000});
  plain.add_statement(insert_of(40));
  CHECK(plain.limits().max_bytes == 1000);
  CHECK_FALSE(plain.detected_columns());
}

TEST_CASE("writer: a merged insert of enough rows goes by the engine's insert_rows (COPY on PostgreSQL)",
          "[writer][merge]") {
  keel::RecordingEngine db(keel::Dialect::postgres);
  const auto rows = [](std::string table) {
    std::vector<keel::Statement> statements;
    for (int i = 1; i <= 3; ++i)
      statements.emplace_back("INSERT INTO \"" + table + "\" (a, b) VALUES ($1, $2)", std::vector<keel::Value>{i, "r"});
    return statements;
  };
  keel::BulkWriter writer(db, {.copy_min_rows = 3});
  CHECK(writer.process_statements_sync(rows("t")) == 3);
  CHECK(db.sql() == Texts{"BEGIN", R"(COPY "t" ("a", "b") FROM STDIN)", "COMMIT"});
  CHECK(db.statements()[1].params == std::vector<keel::Value>{1, "r", 2, "r", 3, "r"});
  // In the caller's transaction too.
  db.clear();
  db.transaction_sync([&] { CHECK(writer.process_statements_sync(rows("t")) == 3); });
  CHECK(db.sql()[1].starts_with("COPY"));
  // Fewer rows than copy_min_rows, or copy_rows off: the merged insert.
  db.clear();
  keel::BulkWriter few(db, {.copy_min_rows = 4});
  CHECK(few.process_statements_sync(rows("t")) == 3);
  CHECK(db.sql() == Texts{"BEGIN", R"(INSERT INTO "t" (a, b) VALUES ($1, $2), ($3, $4), ($5, $6))", "COMMIT"});
  db.clear();
  keel::BulkWriter off(db, {.copy_rows = false, .copy_min_rows = 2});
  CHECK(off.process_statements_sync(rows("t")) == 3);
  CHECK(db.sql()[1].starts_with("INSERT"));
  // When each statement commits alone, one row's failure must not take the others with it: no merge, no COPY.
  db.clear();
  keel::BulkWriter autocommit(db, {.transaction_per_batch = false, .copy_min_rows = 2});
  CHECK(autocommit.process_statements_sync(rows("t")) == 3);
  CHECK(db.sql() == Texts(3, R"(INSERT INTO "t" (a, b) VALUES ($1, $2))"));
  // SQLite has no COPY: the merged insert goes as it is.
  keel::RecordingEngine lite(keel::Dialect::sqlite);
  keel::BulkWriter on_sqlite(lite, {.copy_min_rows = 2});
  CHECK(on_sqlite.add(keel::raw("INSERT INTO t VALUES ({})", 1)) == false);
  on_sqlite.add(keel::raw("INSERT INTO t VALUES ({})", 2));
  CHECK(on_sqlite.flush_sync() == 2);
  CHECK(lite.sql() == Texts{"BEGIN", "INSERT INTO t VALUES (?), (?)", "COMMIT"});
}
