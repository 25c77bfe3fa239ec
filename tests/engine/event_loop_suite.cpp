// An engine and the event loop it runs on: a slow statement does not stall the loop's other coroutines, a
// statement waiting for a lock does not either, and a cancellation or a command_timeout stops a running
// statement with a typed error and leaves the engine usable. Run against every engine.
#include <catch2/catch.hpp>
#include <boost/asio.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
import keel;
#include "engine_fixture.hpp"
#include "suite_support.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Counts to its bound, the same SQL on every engine: the bound sets how long it runs.
constexpr char kCount[] =
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {}) SELECT count(*) FROM n";
// The same, handing out every 1,000th number as it goes: its rows come while it still runs.
constexpr char kEveryThousandth[] =
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {}) SELECT x FROM n WHERE x % 1000 = 0";

// kCount as a query that wants one row, as the ORM's first() and count() do: an engine may run such a query at
// once on the caller's thread (StatementRunner::execute_at_once) when its last run was fast.
struct CountOneRow {
  std::int64_t bound;
  using result_type = std::int64_t;
  struct Collector final : keel::RowSink {
    std::int64_t value = -1;
    void on_row(const keel::RowReader& row) override { value = row.get<std::int64_t>(0); }
    std::size_t max_rows() const noexcept override { return 1; }
    std::int64_t result(const keel::ExecResult&) const { return value; }
  };
  keel::Statement statement(keel::Dialect dialect) const { return raw(kCount, bound).statement(dialect); }
  Collector collector() const { return {}; }
};

// CountOneRow with its text fixed and its bound bound straight where it runs (execute_at_once_from), as the ORM's
// queries of a fixed text run by .run() (on the transaction in scope, else the default engine).
struct CountOneRowStraight : CountOneRow, keel::Runnable<CountOneRowStraight> {
  const std::string* fixed_text(keel::Dialect dialect) const {
    static const std::string sqlite_text(raw(kCount, std::int64_t{0}).statement(keel::Dialect::sqlite).sql());
    static const std::string postgres_text(raw(kCount, std::int64_t{0}).statement(keel::Dialect::postgres).sql());
    return dialect == keel::Dialect::sqlite ? &sqlite_text : &postgres_text;
  }
  void bind_values(keel::Dialect, keel::RunBinder& binder) const { binder.bind_integer(bound); }
};

// The engine that .run() uses while it lives.
struct DefaultEngine {
  explicit DefaultEngine(std::shared_ptr<keel::Engine> engine) { keel::set_default_engine(std::move(engine)); }
  ~DefaultEngine() { keel::set_default_engine(nullptr); }
};

// A bound that makes kCount run at least 150 ms here, found by doubling.
std::int64_t slow_bound(keel::Engine& db) {
  for (std::int64_t bound = 50'000; bound < (std::int64_t{1} << 31); bound *= 2) {
    const auto start = Clock::now();
    db.run_sync(raw(kCount, bound));
    if (Clock::now() - start >= 150ms) return bound;
  }
  FAIL("no bound made the query slow");
  return 0;
}

// Ticks a 2 ms timer on the loop until stopped; counts the ticks.
asio::awaitable<void> tick(int& ticks, const bool& stop) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!stop) {
    timer.expires_after(2ms);
    co_await timer.async_wait(asio::use_awaitable);
    ++ticks;
  }
}

}  // namespace

TEST_CASE_METHOD(Fixture, "a slow statement does not stall the other coroutines of its event loop") {
  const std::int64_t bound = slow_bound(db);
  const DefaultEngine default_engine(engine);
  // The count with all its rows; the rows as the statement hands them out; the count as a query of one row, made
  // into a statement or bound straight.
  enum class Variant { count, rows_as_it_goes, one_row, one_row_straight };
  for (const Variant variant :
       {Variant::count, Variant::rows_as_it_goes, Variant::one_row, Variant::one_row_straight}) {
    const bool rows_as_it_goes = variant == Variant::rows_as_it_goes;
    INFO("variant: " << static_cast<int>(variant));
    // The same texts, fast first: an engine that runs fast statements on the caller's thread now expects them fast.
    for (int i = 0; i < 3; ++i) {
      db.run_sync(raw(kCount, std::int64_t{10}));
      db.run_sync(raw(kEveryThousandth, std::int64_t{10}));
      CHECK(keel::run_sync(keel::run_query(db, CountOneRow{10})) == 10);
      CHECK(CountOneRowStraight{{10}, {}}.run_sync() == 10);
    }
    int ticks = 0;
    bool stop = false;
    std::int64_t rows = 0, last = 0;
    double took_ms = 0;
    auto slow = [&]() -> asio::awaitable<void> {
      const auto start = Clock::now();
      if (rows_as_it_goes) {
        const keel::Rows found = co_await raw(kEveryThousandth, bound).run(db);
        rows = static_cast<std::int64_t>(found.size());
        last = found.empty() ? 0 : found[found.size() - 1].get<std::int64_t>(0);
      } else if (variant == Variant::one_row) {
        rows = co_await keel::run_query(db, CountOneRow{bound});
      } else if (variant == Variant::one_row_straight) {
        rows = co_await CountOneRowStraight{{bound}, {}}.run();
      } else {
        rows = (co_await raw(kCount, bound).run(db))[0].get<std::int64_t>(0);
      }
      took_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      stop = true;
    };
    run_concurrently(slow(), tick(ticks, stop));
    INFO("the query took " << took_ms << " ms");
    // About 75 ticks in 150 ms; a loop held by the statement gets one or two.
    CHECK(ticks >= 10);
    // Every row once, also when the statement went on elsewhere after its first rows.
    CHECK(rows == (rows_as_it_goes ? bound / 1000 : bound));
    if (rows_as_it_goes) CHECK(last == bound / 1000 * 1000);
  }
}

TEST_CASE_METHOD(Fixture, "a write waiting for another transaction's lock does not stall the loop") {
  // Two connections learn the insert as a fast statement (SQLite runs it on the caller's thread then): one here,
  // one while a read-only transaction (no write lock) holds the first.
  for (int i = 0; i < 3; ++i) db.raw_sync("INSERT INTO band (name) VALUES ({})", "warm-up " + std::to_string(i));
  {
    asio::io_context warm_up;
    Event written(warm_up.get_executor());
    auto reader = [&]() -> asio::awaitable<void> {
      co_await db.transaction(keel::TransactionOptions{.read_only = true}, [&]() -> asio::awaitable<void> {
        co_await db.raw("SELECT count(*) FROM band");
        co_await written.wait();
      });
    };
    auto writer = [&]() -> asio::awaitable<void> {
      for (int i = 0; i < 4; ++i)
        co_await db.raw("INSERT INTO band (name) VALUES ({})", "warm-up b" + std::to_string(i));
      written.fire();
    };
    asio::co_spawn(warm_up, reader(), asio::detached);
    asio::co_spawn(warm_up, writer(), asio::detached);
    warm_up.run();
  }
  asio::io_context loop;
  Event inserted(loop.get_executor());
  Clock::duration held{};
  auto holder = [&]() -> asio::awaitable<void> {
    co_await db.transaction([&]() -> asio::awaitable<void> {
      co_await db.raw("INSERT INTO band (name) VALUES ({})", "holder");
      inserted.fire();
      // SQLite: the other writer waits for this transaction's lock meanwhile, and the loop must go on.
      const auto start = Clock::now();
      asio::steady_timer timer(co_await asio::this_coro::executor, 200ms);
      co_await timer.async_wait(asio::use_awaitable);
      held = Clock::now() - start;
    });
  };
  auto waiter = [&]() -> asio::awaitable<void> {
    co_await inserted.wait();
    co_await db.raw("INSERT INTO band (name) VALUES ({})", "waiter");
  };
  std::exception_ptr failure;
  auto done = [&](std::exception_ptr e) {
    if (e && !failure) failure = e;
  };
  asio::co_spawn(loop, holder(), done);
  asio::co_spawn(loop, waiter(), done);
  loop.run();
  if (failure) std::rethrow_exception(failure);
  CHECK(count("holder") == 1);
  CHECK(count("waiter") == 1);
  // The holder's 200 ms timer fired on time, give or take a busy machine: a loop held by the waiting write
  // would have fired it only after the busy timeout (5 s).
  CHECK(held < 2s);
}

TEST_CASE_METHOD(Fixture,
                 "an Asio cancellation stops a running statement with CanceledError; the engine stays usable") {
  const std::int64_t forever = std::int64_t{1} << 30;  // minutes of counting
  for (int attempt = 0; attempt < 2; ++attempt) {      // twice: the engine stays usable after a cancellation
    INFO("attempt " << attempt);
    asio::io_context loop;
    asio::cancellation_signal signal;
    std::exception_ptr outcome;
    bool finished = false;
    asio::co_spawn(loop, raw(kCount, forever).run(db),
                   asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, keel::Rows) {
                     outcome = e;
                     finished = true;
                   }));
    asio::steady_timer timer(loop, 100ms);
    timer.async_wait([&](boost::system::error_code) { signal.emit(asio::cancellation_type::all); });
    const auto start = Clock::now();
    loop.run();
    REQUIRE(finished);
    REQUIRE(outcome);
    CHECK_THROWS_AS(std::rethrow_exception(outcome), keel::CanceledError);
    CHECK(Clock::now() - start < 10s);  // a deadline that holds, not a speed: the statement would run for minutes
    db.raw_sync("INSERT INTO band (name) VALUES ({})", "after " + std::to_string(attempt));
    CHECK(count("after " + std::to_string(attempt)) == 1);
  }
}

namespace {
struct TimedFixture : Fixture {
  TimedFixture() : Fixture(keel_test::EngineTuning{.command_timeout = 300ms}) {}
};
}  // namespace

TEST_CASE_METHOD(TimedFixture, "command_timeout stops a statement that runs past it with TimeoutError") {
  const std::int64_t forever = std::int64_t{1} << 30;
  for (int attempt = 0; attempt < 2; ++attempt) {
    INFO("attempt " << attempt);
    const auto start = Clock::now();
    CHECK_THROWS_AS(db.run_sync(raw(kCount, forever)), keel::TimeoutError);
    CHECK(Clock::now() - start < 10s);
    CHECK(db.run_sync(raw(kCount, std::int64_t{1000}))[0].get<std::int64_t>(0) == 1000);
  }
}

TEST_CASE_METHOD(TimedFixture, "a write stopped by command_timeout inside a transaction: TimeoutError, nothing kept") {
  // SQLite rolls back the whole transaction of an interrupted write; PostgreSQL aborts it. Either way the caller
  // hears the timeout, not the rollback's complaint, and nothing of the transaction stays.
  static constexpr char slow_insert[] =
      "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {}) "
      "INSERT INTO band (name) SELECT 'counted ' || count(*) FROM n";
  CHECK_THROWS_AS(db.transaction_sync([&] {
    db.raw_sync("INSERT INTO band (name) VALUES ({})", "before");
    db.run_sync(raw(slow_insert, std::int64_t{1} << 30));
  }),
                  keel::TimeoutError);
  CHECK(count("before") == 0);
  CHECK(total() == 0);
  db.raw_sync("INSERT INTO band (name) VALUES ({})", "after");
  CHECK(total() == 1);
}

namespace {
// Runs call on loop with a cancellation signal bound to it, and emits a terminal cancellation as soon as the call
// first waits (posted behind its start); on_emit runs just before the emission. The call's exception, if any.
std::exception_ptr cancelled_at_first_wait(asio::io_context& loop, std::function<asio::awaitable<void>()> call,
                                           std::function<void()> on_emit) {
  asio::cancellation_signal signal;
  std::exception_ptr outcome;
  bool finished = false;
  asio::co_spawn(loop, std::move(call), asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) {
                   outcome = e;
                   finished = true;
                 }));
  asio::post(loop, [&] {
    on_emit();
    signal.emit(asio::cancellation_type::terminal);
  });
  loop.restart();
  loop.run();
  CHECK(finished);
  return outcome;
}
// Runs call to its end on loop, which then has a connection and the call's statements prepared.
void warm_up(asio::io_context& loop, std::function<asio::awaitable<void>()> call) {
  std::exception_ptr failure;
  asio::co_spawn(loop, std::move(call), [&](std::exception_ptr e) { failure = e; });
  loop.restart();
  loop.run();
  if (failure) std::rethrow_exception(failure);
}
}  // namespace

TEST_CASE_METHOD(Fixture, "a transaction cancelled before its body ends rolls back with CanceledError") {
  asio::io_context loop;
  auto body_of = [&](const char* first, const char* second, bool* done) {
    return [&, first, second, done]() -> asio::awaitable<void> {
      co_await db.raw("INSERT INTO band (name) VALUES ({})", std::string(first));
      co_await db.raw("INSERT INTO band (name) VALUES ({})", std::string(second));
      *done = true;
    };
  };
  bool warm_done = false;
  warm_up(loop, [&] { return db.transaction(body_of("warm 1", "warm 2", &warm_done)); });
  REQUIRE(warm_done);
  bool body_done = false, emitted_before_the_end = false;
  const auto outcome = cancelled_at_first_wait(
      loop, [&] { return db.transaction(body_of("cancelled 1", "cancelled 2", &body_done)); },
      [&] { emitted_before_the_end = !body_done; });
  INFO("cancelled before the body ended: " << emitted_before_the_end);
  if (emitted_before_the_end) {
    // The engine was still at its work (BEGIN, or a statement of the body, even one the server then finished):
    // before, PostgreSQL forgot such a cancellation, ran the rest and committed.
    REQUIRE(outcome);
    CHECK_THROWS_AS(std::rethrow_exception(outcome), keel::CanceledError);
    CHECK(count("cancelled 1") == 0);
    CHECK(count("cancelled 2") == 0);
  } else {
    // The cancellation came after the body (an engine that ran it all at once): committed, or rolled back with
    // CanceledError; never half of it.
    CHECK(count("cancelled 1") == count("cancelled 2"));
    CHECK((outcome == nullptr) == (count("cancelled 1") == 1));
  }
  db.raw_sync("INSERT INTO band (name) VALUES ({})", "after");  // the engine serves the next call
  CHECK(count("after") == 1);
}

TEST_CASE_METHOD(Fixture, "a coroutine cancelled while its statement runs to its end runs no further statement") {
  asio::io_context loop;
  warm_up(loop, [&]() -> asio::awaitable<void> {
    co_await db.raw("INSERT INTO band (name) VALUES ({})", std::string("warm"));
  });
  bool first_returned = false, second_started = false, emitted_before_second = false;
  const auto outcome = cancelled_at_first_wait(
      loop,
      [&]() -> asio::awaitable<void> {
        co_await db.raw("INSERT INTO band (name) VALUES ({})", std::string("first"));
        first_returned = true;
        second_started = true;
        co_await db.raw("INSERT INTO band (name) VALUES ({})", std::string("second"));
      },
      [&] { emitted_before_second = !second_started; });
  INFO("cancelled before the second statement: " << emitted_before_second);
  // Lose nothing: the first statement's row is there exactly when its call returned.
  CHECK(count("first") == (first_returned ? 1 : 0));
  if (emitted_before_second) {
    // Asio's rule: a cancelled coroutine stops at its next co_await. Before, PostgreSQL forgot a cancellation
    // that came while the server finished the statement, and the coroutine went on.
    CHECK(outcome != nullptr);
    CHECK(count("second") == 0);
  }
  db.raw_sync("INSERT INTO band (name) VALUES ({})", "after");
  CHECK(count("after") == 1);
}

TEST_CASE_METHOD(Fixture, "a transaction that its body committed stands when its coroutine is cancelled afterwards") {
  asio::io_context loop;
  asio::cancellation_signal signal;
  std::exception_ptr outcome;
  bool finished = false;
  asio::co_spawn(
      loop,
      [&]() -> asio::awaitable<void> {
        co_await db.transaction([&](keel::Transaction& transaction) -> asio::awaitable<void> {
          co_await db.raw("INSERT INTO band (name) VALUES ({})", std::string("committed by the body"));
          co_await transaction.commit();
          signal.emit(asio::cancellation_type::terminal);  // too late to change anything
        });
      },
      asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) {
        outcome = e;
        finished = true;
      }));
  loop.run();
  REQUIRE(finished);
  // Not "rolled back": nothing was, and a caller that believed it would write the row twice.
  CHECK(outcome == nullptr);
  CHECK(count("committed by the body") == 1);
}

struct OneConnectionFixture : Fixture {
  OneConnectionFixture() : Fixture(keel_test::EngineTuning{.max_connections = 1}) {}

  enum class Cancel { while_waiting, as_connection_comes_back };
  // A holder keeps the engine's one connection in a transaction (and inserts 'held'); a waiter queued for it, to
  // insert 'never', is cancelled while it waits (the holder lets go after), or as the holder lets go, in that same
  // step (the connection is the waiter's, or on its way, before its coroutine runs again). The waiter's outcome.
  std::exception_ptr cancel_waiter(Cancel when) {
    asio::io_context loop;
    Event waiting(loop.get_executor()), cancelled(loop.get_executor());
    asio::cancellation_signal signal;
    std::exception_ptr outcome;
    bool waiter_finished = false, holder_finished = false;
    asio::co_spawn(
        loop,
        [&]() -> asio::awaitable<void> {
          keel::Transaction held = co_await db.begin();
          co_await raw("INSERT INTO band (name) VALUES ('held')").run(held);
          waiting.fire();
          if (when == Cancel::while_waiting) {
            co_await cancelled.wait();
          } else {
            asio::steady_timer pause(co_await asio::this_coro::executor, 100ms);  // the waiter is in the queue
            co_await pause.async_wait(asio::use_awaitable);
          }
          co_await held.commit();
        },
        [&](std::exception_ptr e) {
          holder_finished = true;
          if (when == Cancel::as_connection_comes_back) signal.emit(asio::cancellation_type::terminal);
          if (e) std::rethrow_exception(e);
        });
    asio::co_spawn(
        loop,
        [&]() -> asio::awaitable<void> {
          co_await waiting.wait();
          co_await db.raw("INSERT INTO band (name) VALUES ({})", std::string("never"));
        },
        asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) {
          outcome = e;
          waiter_finished = true;
          cancelled.fire();
        }));
    if (when == Cancel::while_waiting) {
      asio::co_spawn(
          loop,
          [&]() -> asio::awaitable<void> {
            co_await waiting.wait();
            asio::steady_timer pause(co_await asio::this_coro::executor, 100ms);  // the waiter is in the queue
            co_await pause.async_wait(asio::use_awaitable);
            signal.emit(asio::cancellation_type::terminal);
          },
          asio::detached);
    }
    loop.run();
    REQUIRE(waiter_finished);
    REQUIRE(holder_finished);
    return outcome;
  }
};

TEST_CASE_METHOD(OneConnectionFixture,
                 "a coroutine cancelled while it waits for a connection, or as it comes, gets CanceledError") {
  std::exception_ptr outcome;
  SECTION("while it waits") {
    // Before, SQLite's pool called a cancelled wait a TimeoutError, long before its acquire_timeout.
    outcome = cancel_waiter(Cancel::while_waiting);
  }
  SECTION("as its connection comes back") {
    // Before, the call went on to its next co_await, where Asio threw its own operation_aborted ("co_await:
    // Operation canceled"), not keel's error.
    outcome = cancel_waiter(Cancel::as_connection_comes_back);
  }
  REQUIRE(outcome);
  CHECK_THROWS_AS(std::rethrow_exception(outcome), keel::CanceledError);
  CHECK(count("never") == 0);
  CHECK(count("held") == 1);
  db.raw_sync("INSERT INTO band (name) VALUES ({})", "after");  // the one connection serves the next call
  CHECK(count("after") == 1);
}
