// Faults injected between keel and its server by a proxy (tests/support/fault_proxy.hpp): connections cut in
// the middle of a result, a transaction, a COPY, authentication and the TLS handshake; replies held, lost or
// corrupted; a server that goes away with the pool idle or busy; cancellation racing completion. Each asserts
// a typed error within its deadline, no data lost or doubled, and a connection or pool that serves afterwards.
#include <catch2/catch.hpp>
#include <boost/asio.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>
import keel;
import keel.postgres;
#include "pg_test_support.hpp"
#include "../support/fault_proxy.hpp"

using namespace std::chrono_literals;
using fault_proxy::Action;
using fault_proxy::Direction;
using fault_proxy::Message;

namespace {

// A proxy in front of the private cluster.
std::unique_ptr<fault_proxy::FaultProxy> make_proxy() {
  return std::make_unique<fault_proxy::FaultProxy>("127.0.0.1",
                                                   static_cast<std::uint16_t>(std::stoi(cluster().at("KEEL_PG_PORT"))));
}
// A DSN that reaches the cluster through the proxy.
std::string via(const fault_proxy::FaultProxy& proxy, const std::string& user,
                const std::string& extra = "sslmode=disable") {
  return "host=127.0.0.1 port=" + std::to_string(proxy.port()) + " dbname=keel_test user=" + user +
         " passfile=/nonexistent sslrootcert=/nonexistent " + extra;
}

// Runs `work`, and says how long it took and what it threw (nothing: an empty optional).
struct Outcome {
  std::chrono::steady_clock::duration took;
  std::exception_ptr failure;
};
template <class T>
Outcome timed(asio::awaitable<T> work) {
  const auto started = std::chrono::steady_clock::now();
  std::exception_ptr failure;
  try {
    (void)run(std::move(work));
  } catch (...) {
    failure = std::current_exception();
  }
  return {std::chrono::steady_clock::now() - started, failure};
}
template <class E>
bool failed_with(const Outcome& outcome) {
  if (!outcome.failure) return false;
  try {
    std::rethrow_exception(outcome.failure);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}
std::string message_of(const Outcome& outcome) { return keel::message_of(outcome.failure); }

// A rule that acts on the n-th message (counted from 1) that `matches`, and forwards everything else.
fault_proxy::Rule on_nth(int n, std::function<bool(const Message&)> matches, Action action) {
  auto seen = std::make_shared<int>(0);
  return [=](const Message& m) { return matches(m) && ++*seen == n ? action : Action::forward; };
}

std::int64_t count_rows(const std::string& table) {
  auto direct = connect(dsn("keel_trust", "sslmode=disable"));
  return run(direct->fetchval<std::int64_t>("SELECT count(*) FROM " + table));
}
void reset_table(const std::string& table) {
  auto direct = connect(dsn("keel_trust", "sslmode=disable"));
  execute(*direct, "DROP TABLE IF EXISTS " + table + "; CREATE TABLE " + table + " (id int PRIMARY KEY, note text)");
}

}  // namespace

TEST_CASE("faults: a connection cut in the middle of a result fails its query at once; the pool replaces it",
          "[pg][faults]") {
  auto proxy = make_proxy();
  keel::pg::PoolOptions options{.min_size = 1, .max_size = 1};
  auto pool = run(keel::pg::Pool::create(via(*proxy, "keel_trust"), options));
  proxy->set_rule(
      on_nth(500, [](const Message& m) { return m.direction == Direction::to_client && m.type == 'D'; }, Action::cut));
  const Outcome cut = timed([&]() -> asio::awaitable<int> {
    auto lent = co_await pool->acquire();
    co_await lent->fetch("SELECT g FROM generate_series(1, 100000) g");
    co_return 0;
  }());
  CHECK(failed_with<keel::ConnectionError>(cut));
  CHECK(cut.took < 2s);
  proxy->set_rule({});
  CHECK(run([&]() -> asio::awaitable<std::int64_t> {
          auto lent = co_await pool->acquire(5s);
          co_return co_await lent->fetchval<std::int64_t>("SELECT count(*) FROM generate_series(1, 100000)");
        }()) == 100000);
  CHECK(pool->get_size() == 1);
  run(pool->close());
}

TEST_CASE("faults: a transaction cut before its COMMIT keeps nothing; one cut after the COMMIT keeps everything",
          "[pg][faults]") {
  reset_table("fault_tx");
  auto proxy = make_proxy();
  auto is_commit = [](const Message& m) { return m.direction == Direction::to_server && m.is('Q', "COMMIT"); };

  // Cut as an INSERT goes out: a plain connection error (nothing was committed, and keel knows it).
  auto c = connect(via(*proxy, "keel_trust"));
  run(c->begin());
  run(c->execute("INSERT INTO fault_tx VALUES (1, 'first')"));
  proxy->set_rule(
      on_nth(1, [](const Message& m) { return m.direction == Direction::to_server && m.type != '\0'; }, Action::cut));
  const Outcome insert = timed(c->execute("INSERT INTO fault_tx VALUES (2, 'second')"));
  CHECK(failed_with<keel::ConnectionError>(insert));
  CHECK_FALSE(failed_with<keel::CommitOutcomeUnknown>(insert));
  CHECK(c->is_closed());
  CHECK(count_rows("fault_tx") == 0);

  // Cut as the COMMIT goes out (the server never gets it): keel cannot tell, so the outcome is unknown; the
  // server rolled back.
  proxy->set_rule({});
  c = connect(via(*proxy, "keel_trust"));
  run(c->begin());
  run(c->execute("INSERT INTO fault_tx VALUES (3, 'third')"));
  proxy->set_rule(on_nth(1, is_commit, Action::cut));
  const Outcome before = timed(c->commit());
  CHECK(failed_with<keel::CommitOutcomeUnknown>(before));
  CHECK(before.took < 2s);
  CHECK(count_rows("fault_tx") == 0);

  // The COMMIT reaches the server and its answer is cut: the outcome is unknown to keel, and the row is there.
  proxy->set_rule({});
  c = connect(via(*proxy, "keel_trust"));
  run(c->begin());
  run(c->execute("INSERT INTO fault_tx VALUES (4, 'fourth')"));
  proxy->set_rule(on_nth(
      1, [](const Message& m) { return m.direction == Direction::to_client && m.is('C', "COMMIT"); }, Action::cut));
  const Outcome after = timed(c->commit());
  CHECK(failed_with<keel::CommitOutcomeUnknown>(after));
  CHECK(after.took < 2s);
  CHECK(count_rows("fault_tx") == 1);
}

TEST_CASE("faults: a COPY cut in the middle of its data fails with a connection error and adds no row",
          "[pg][faults]") {
  reset_table("fault_copy");
  auto proxy = make_proxy();
  auto c = connect(via(*proxy, "keel_trust"));
  proxy->set_rule(
      on_nth(3, [](const Message& m) { return m.direction == Direction::to_server && m.type == 'd'; }, Action::cut));
  int chunk = 0;
  std::string text;
  const Outcome copy = timed(c->copy_to_table("fault_copy", [&]() -> std::string_view {
    if (chunk == 50) return {};
    text.clear();
    for (int i = 0; i < 1000; ++i) text += std::to_string(chunk * 1000 + i) + "\trow\n";
    ++chunk;
    return text;
  }));
  CHECK(failed_with<keel::ConnectionError>(copy));
  CHECK(copy.took < 2s);
  CHECK(c->is_closed());
  CHECK(count_rows("fault_copy") == 0);
}

TEST_CASE("faults: a cut during authentication or the TLS handshake is a connection error, without the password",
          "[pg][faults]") {
  auto proxy = make_proxy();
  const std::string password = "scram secret";
  // The server's SCRAM challenge (its second authentication message), then the client's proof (its second
  // SASL message), cut on their way.
  for (auto matches : std::vector<std::function<bool(const Message&)>>{
           [](const Message& m) { return m.direction == Direction::to_client && m.type == 'R'; },
           [](const Message& m) { return m.direction == Direction::to_server && m.type == 'p'; }}) {
    proxy->set_rule(on_nth(2, matches, Action::cut));
    keel::pg::PgConnectionOptions options;
    const Outcome o =
        timed(PgConnection::connect(via(*proxy, "keel_scram", "sslmode=disable password='" + password + "'"), options));
    CHECK(failed_with<keel::ConnectionError>(o));
    CHECK(o.took < 2s);
    CHECK(message_of(o).find(password) == std::string::npos);
  }
  // The server's first TLS record (its ServerHello) cut, then held past connect_timeout.
  proxy->set_rule(
      on_nth(1, [](const Message& m) { return m.direction == Direction::to_client && m.raw; }, Action::cut));
  const Outcome tls_cut = timed(PgConnection::connect(via(*proxy, "keel_trust", "sslmode=require"), {}));
  CHECK(failed_with<keel::ConnectionError>(tls_cut));
  CHECK(tls_cut.took < 2s);
  proxy->set_rule(
      on_nth(1, [](const Message& m) { return m.direction == Direction::to_client && m.raw; }, Action::stall));
  const Outcome tls_stall =
      timed(PgConnection::connect(via(*proxy, "keel_trust", "sslmode=require connect_timeout=1"), {}));
  CHECK(failed_with<keel::TimeoutError>(tls_stall));
  CHECK(tls_stall.took < 2500ms);
  proxy->resume();
  proxy->set_rule({});
  auto c = connect(via(*proxy, "keel_scram", "sslmode=require password='" + password + "'"));
  CHECK(run(c->fetchval<int>("SELECT 1")) == 1);
}

TEST_CASE("faults: replies held by a silent server: each kind of deadline holds, and the connection is replaced",
          "[pg][faults]") {
  auto proxy = make_proxy();
  auto holds_result = [](const Message& m) { return m.direction == Direction::to_client && m.type == 'T'; };
  keel::pg::PgConnectionOptions options;
  options.cancel_grace = 500ms;

  SECTION("a per-call timeout") {
    auto c = connect(via(*proxy, "keel_trust"), options);
    proxy->set_rule(on_nth(1, holds_result, Action::stall));
    const Outcome o = timed(c->fetch("SELECT 1", keel::pg::timeout(300ms)));
    CHECK(failed_with<keel::TimeoutError>(o));
    CHECK(o.took >= 700ms);
    CHECK(o.took < 2s);
    CHECK(c->is_closed());
  }
  SECTION("Asio cancellation") {
    auto c = connect(via(*proxy, "keel_trust"), options);
    proxy->set_rule(on_nth(1, holds_result, Action::stall));
    asio::cancellation_signal signal;
    asio::steady_timer fire(loop(), 300ms);
    fire.async_wait([&](boost::system::error_code) { signal.emit(asio::cancellation_type::terminal); });
    const Outcome o = timed(
        asio::co_spawn(loop(), c->fetch("SELECT 1"), asio::bind_cancellation_slot(signal.slot(), asio::use_awaitable)));
    CHECK((failed_with<keel::TimeoutError>(o) || failed_with<keel::CanceledError>(o)));
    CHECK(o.took < 2s);
    CHECK(c->is_closed());
  }
  SECTION("a pool's command_timeout, then its acquire timeout while the server stays silent") {
    keel::pg::PoolOptions pool_options{.min_size = 1, .max_size = 2};
    pool_options.connection = options;
    pool_options.connection.command_timeout = 300ms;
    auto pool = run(keel::pg::Pool::create(via(*proxy, "keel_trust"), pool_options));
    proxy->set_rule(on_nth(1, holds_result, Action::stall));
    const Outcome o = timed([&]() -> asio::awaitable<int> {
      auto lent = co_await pool->acquire();
      co_return co_await lent->fetchval<int>("SELECT 1");
    }());
    CHECK(failed_with<keel::TimeoutError>(o));
    CHECK(o.took < 2s);
    // Still silent: opening a new connection cannot finish, and the acquire's own limit holds.
    const Outcome acquire = timed([&]() -> asio::awaitable<int> {
      auto lent = co_await pool->acquire(400ms);
      co_return 0;
    }());
    CHECK(failed_with<keel::TimeoutError>(acquire));
    CHECK(acquire.took < 1500ms);
    proxy->resume();
    proxy->set_rule({});
    CHECK(run([&]() -> asio::awaitable<int> {
            auto lent = co_await pool->acquire(5s);
            co_return co_await lent->fetchval<int>("SELECT 2");
          }()) == 2);
    run(pool->close());
  }
  SECTION("the engine's command_timeout") {
    auto engine_options = keel::PostgresOptions{.dsn = via(*proxy, "keel_trust"), .max_connections = 1};
    engine_options.command_timeout = 300ms;
    engine_options.connection.cancel_grace = 500ms;
    keel::PostgresEngine db(engine_options);
    CHECK(db.raw_sync("SELECT 1")[0].get<int>(0) == 1);
    proxy->set_rule(on_nth(1, holds_result, Action::stall));
    const auto started = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(db.raw_sync("SELECT 2"), keel::TimeoutError);
    CHECK(std::chrono::steady_clock::now() - started < 2s);
    proxy->resume();
    proxy->set_rule({});
    CHECK(db.raw_sync("SELECT 3")[0].get<int>(0) == 3);
  }
  proxy->resume();
}

TEST_CASE("faults: a lost ReadyForQuery and a corrupted message end the connection with a typed error",
          "[pg][faults]") {
  auto proxy = make_proxy();
  keel::pg::PgConnectionOptions options;
  options.cancel_grace = 500ms;
  auto c = connect(via(*proxy, "keel_trust"), options);
  proxy->set_rule(
      on_nth(1, [](const Message& m) { return m.direction == Direction::to_client && m.type == 'Z'; }, Action::drop));
  const Outcome lost = timed(c->fetch("SELECT 1", keel::pg::timeout(300ms)));
  CHECK(failed_with<keel::TimeoutError>(lost));
  CHECK(lost.took < 2s);
  CHECK(c->is_closed());

  proxy->set_rule({});
  c = connect(via(*proxy, "keel_trust"), options);
  proxy->set_rule(on_nth(
      1, [](const Message& m) { return m.direction == Direction::to_client && m.type == 'D'; }, Action::corrupt));
  const Outcome corrupt = timed(c->fetch("SELECT 1"));
  CHECK(failed_with<keel::ProtocolError>(corrupt));
  CHECK(c->is_closed());
}

TEST_CASE("faults: a server gone with the pool idle or busy: typed errors, then a pool of its normal size",
          "[pg][faults]") {
  auto proxy = make_proxy();
  keel::pg::PoolOptions options{.min_size = 4, .max_size = 4};
  auto pool = run(keel::pg::Pool::create(via(*proxy, "keel_trust"), options));
  auto one_query = [&](std::chrono::milliseconds sleep) -> asio::awaitable<int> {
    auto lent = co_await pool->acquire(5s);
    co_return co_await lent->fetchval<int>("SELECT 1 FROM pg_sleep($1)", sleep.count() / 1000.0);
  };
  // Idle: every connection is cut while none is lent; the next queries get fresh ones.
  proxy->cut_all();
  for (int i = 0; i < 8; ++i) CHECK(run(one_query(0ms)) == 1);
  // Busy: four queries running when the connections are cut; each fails with a connection error at once.
  auto sent = std::make_shared<std::atomic<int>>(0);  // the queries' Bind messages that reached the server
  proxy->set_rule([sent](const Message& m) {
    if (m.direction == Direction::to_server && m.type == 'B') ++*sent;
    return Action::forward;
  });
  int failed = 0, finished = 0;
  for (int i = 0; i < 4; ++i)
    asio::co_spawn(
        loop(),
        [&]() -> asio::awaitable<void> {
          try {
            co_await one_query(2000ms);
          } catch (const keel::ConnectionError&) {
            ++failed;
          }
          ++finished;
        },
        asio::detached);
  REQUIRE(run_until([&] { return *sent == 4; }, 5000ms));
  run_until([] { return false; }, 200ms);  // the server runs them
  const auto cut_at = std::chrono::steady_clock::now();
  proxy->refuse_new(true);
  proxy->cut_all();
  REQUIRE(run_until([&] { return finished == 4; }));
  CHECK(failed == 4);
  proxy->set_rule({});
  CHECK(std::chrono::steady_clock::now() - cut_at < 1s);
  // While the server is away an acquire fails with a typed error; back, the pool serves at its normal size.
  CHECK_THROWS_AS(run(one_query(0ms)), keel::ConnectionError);
  proxy->refuse_new(false);
  for (int i = 0; i < 8; ++i) CHECK(run(one_query(0ms)) == 1);
  run_until([] { return false; }, 300ms);
  CHECK(pool->get_size() == 4);
  run(pool->close());
}

TEST_CASE("faults: 1,000 timeouts racing their queries' completion cancel no other query", "[pg][faults][cancel]") {
  auto proxy = make_proxy();
  auto c = connect(via(*proxy, "keel_trust"));
  std::mt19937 random(20261130);
  std::uniform_int_distribution<int> microseconds(0, 3000);
  int victims = 0, timed_out = 0;
  for (int i = 0; i < 1000; ++i) {
    // Most queries end within their time limit's reach: the CancelRequest races their completion. Every eighth
    // sleeps long enough for its cancellation to land, even in a sanitizer's build on a busy machine, so the
    // loop also sees timeouts that the server carries out.
    const double sleep = i % 8 == 7 ? 0.05 : 0.001;
    try {
      run(c->fetch("SELECT pg_sleep($1)", sleep, keel::pg::timeout(std::chrono::microseconds(microseconds(random)))));
    } catch (const keel::TimeoutError&) {
      ++timed_out;
    }
    try {
      run(c->fetchval<int>("SELECT 1"));
    } catch (const keel::QueryCanceled&) {
      ++victims;
    }
  }
  CHECK(victims == 0);
  CHECK(timed_out > 0);
  CHECK_FALSE(c->is_closed());
}

namespace {

// A call spawned on the test loop, whose outcome the test looks at later.
struct Spawned {
  bool ended = false;
  std::exception_ptr failure;
  std::chrono::steady_clock::duration took{};
};
template <class T>
std::shared_ptr<Spawned> spawn(asio::awaitable<T> work, asio::cancellation_slot slot = {}) {
  auto outcome = std::make_shared<Spawned>();
  const auto started = std::chrono::steady_clock::now();
  asio::co_spawn(loop(), std::move(work), asio::bind_cancellation_slot(slot, [=](std::exception_ptr e, auto&&...) {
                   outcome->failure = e;
                   outcome->took = std::chrono::steady_clock::now() - started;
                   outcome->ended = true;
                 }));
  return outcome;
}
template <class E>
bool failed_with(const Spawned& outcome) {
  return failed_with<E>(Outcome{outcome.took, outcome.failure});
}
// Coroutines here take what they use as parameters, which live in their frames: a lambda's captures would die
// with the lambda, before the coroutine runs.
asio::awaitable<void> fetch_value_into(keel::pg::PgConnection& c, std::string sql, std::optional<std::int64_t>& out) {
  out = co_await c.fetchval<std::int64_t>(sql);
}
bool is_cancel_request(const Message& m) {
  return m.type == '\0' && m.body.size() == 12 && m.body.starts_with(std::string_view("\x04\xd2\x16\x2e", 4));
}

}  // namespace

// A request still in keel's outgoing buffer when its caller gives up (here: held behind the fence that keeps a
// cancel from reaching the wrong query) leaves the queue at once, and the server never sees it. Before, it went
// out later and ran, or its caller waited until the connection was given up for silent.
TEST_CASE("faults: a request timed out or cancelled before it is sent leaves the queue and never runs",
          "[pg][faults][cancel]") {
  reset_table("keel_withdrawn");
  auto proxy = make_proxy();
  keel::pg::PgConnectionOptions options;
  options.statement_cache_size = 1;  // each new statement evicts the last: a Close rides on the next request
  options.cancel_grace = 2s;
  auto c = connect(via(*proxy, "keel_trust"), options);
  CHECK(run(c->fetchval<int>("SELECT $1::int", 1)) == 1);
  // The first query times out; its CancelRequest is held at the proxy (with all traffic), and keel writes
  // nothing behind it until the cancel has landed.
  proxy->set_rule([](const Message& m) { return is_cancel_request(m) ? Action::stall : Action::forward; });
  auto first = spawn(c->fetch("SELECT pg_sleep(0.5)", keel::pg::timeout(100ms)));
  REQUIRE(run_until([&] { return proxy->stalled(); }, 2000ms));
  // Behind it: an insert that times out, one that is cancelled, and a query that waits as long as it takes.
  auto timed_out =
      spawn(c->execute("INSERT INTO keel_withdrawn VALUES ($1, 'timed out')", 1, keel::pg::timeout(100ms)));
  asio::cancellation_signal signal;
  auto cancelled = spawn(c->execute("INSERT INTO keel_withdrawn VALUES ($1, 'cancelled')", 2), signal.slot());
  std::optional<std::int64_t> waited;
  auto patient = spawn(fetch_value_into(*c, "SELECT 42::int8", waited));
  asio::steady_timer fire(loop(), 150ms);
  fire.async_wait([&](boost::system::error_code) { signal.emit(asio::cancellation_type::terminal); });
  REQUIRE(run_until([&] { return timed_out->ended && cancelled->ended; }, 1500ms));
  CHECK(failed_with<keel::TimeoutError>(*timed_out));
  CHECK(failed_with<keel::CanceledError>(*cancelled));
  CHECK_THAT(message_of(Outcome{{}, timed_out->failure}), Catch::Contains("before it was sent"));
  CHECK(timed_out->took < 1s);
  CHECK_FALSE(patient->ended);
  // The cancel lands, the first query ends, and what waited goes out and gets its own reply.
  proxy->set_rule({});
  proxy->resume();
  REQUIRE(run_until([&] { return first->ended && patient->ended; }, 5000ms));
  CHECK(failed_with<keel::TimeoutError>(*first));
  CHECK_FALSE(patient->failure);
  CHECK(waited == 42);
  CHECK(count_rows("keel_withdrawn") == 0);  // neither insert ran, then or later
  CHECK(c->pending_requests() == 0);
  CHECK_FALSE(c->is_closed());
  // The evicted statements were still closed on the server: only the cached one (and this query's) remain.
  CHECK(run(c->fetchval<std::int64_t>("SELECT count(*) FROM pg_prepared_statements")) <= 2);
}

// A timed request written behind another caller's long query: past its limit and the grace it fails alone
// (its outcome unknown), and the long query, which the server is still running, is not cut off with it.
TEST_CASE("faults: a timed request queued behind a long query gives up alone; the long query keeps its connection",
          "[pg][faults][cancel]") {
  keel::pg::PgConnectionOptions options;
  options.cancel_grace = 300ms;
  auto c = connect(dsn("keel_trust", "sslmode=disable"), options);
  std::optional<std::int64_t> long_result;
  auto long_query = spawn(fetch_value_into(*c, "SELECT 7::int8 FROM pg_sleep(1.5)", long_result));
  auto behind = spawn(c->fetchval<std::int64_t>("SELECT 8::int8", keel::pg::timeout(100ms)));
  REQUIRE(run_until([&] { return behind->ended; }, 1400ms));
  CHECK(failed_with<keel::TimeoutError>(*behind));
  CHECK_THAT(message_of(Outcome{{}, behind->failure}), Catch::Contains("outcome is unknown"));
  CHECK_FALSE(long_query->ended);
  REQUIRE(run_until([&] { return long_query->ended; }, 5000ms));
  CHECK_FALSE(long_query->failure);
  CHECK(long_result == 7);
  CHECK_FALSE(c->is_closed());
  CHECK(run(c->fetchval<std::int64_t>("SELECT 9::int8")) == 9);
  CHECK(c->pending_requests() == 0);
}

// A COPY owns its connection while it runs; a timed query waiting for its turn behind it fails at its own
// deadline, unsent, instead of waiting as long as the COPY takes (here: a server that has not yet answered it).
TEST_CASE("faults: a timed query waiting behind a COPY gives up at its deadline, unsent", "[pg][faults][cancel]") {
  reset_table("keel_turn");
  auto proxy = make_proxy();
  auto c = connect(via(*proxy, "keel_trust"));
  proxy->set_rule(
      on_nth(1, [](const Message& m) { return m.direction == Direction::to_client && m.type == 'G'; }, Action::stall));
  auto copy = spawn(c->copy_to_table("keel_turn", std::string_view("1\tcopied\n")));
  REQUIRE(run_until([&] { return proxy->stalled(); }, 2000ms));
  auto timed = spawn(c->fetchval<std::int64_t>("SELECT 1::int8", keel::pg::timeout(100ms)));
  REQUIRE(run_until([&] { return timed->ended; }, 1500ms));
  CHECK(failed_with<keel::TimeoutError>(*timed));
  CHECK_THAT(message_of(Outcome{{}, timed->failure}), Catch::Contains("it was not sent"));
  CHECK_FALSE(copy->ended);
  proxy->set_rule({});
  proxy->resume();
  REQUIRE(run_until([&] { return copy->ended; }, 5000ms));
  CHECK_FALSE(copy->failure);
  CHECK(count_rows("keel_turn") == 1);
  CHECK(run(c->fetchval<std::int64_t>("SELECT 2::int8")) == 2);
}

// The bulk writer loses its connection in the middle of a batch (the reply of a statement cut off, before the
// batch's COMMIT): the batch's transaction never committed, so the writer runs it again on a new connection, and
// the table ends with every statement exactly once.
TEST_CASE("faults: a bulk writer cut off mid-batch retries it, and every row is written exactly once",
          "[pg][faults][writer]") {
  auto direct = connect(dsn("keel_trust", "sslmode=disable"));
  execute(*direct, "DROP TABLE IF EXISTS keel_written; CREATE TABLE keel_written (id int, note text)");
  auto proxy = make_proxy();
  keel::PostgresEngine db(keel::PostgresOptions{.dsn = via(*proxy, "keel_trust"), .max_connections = 2});
  keel::QueryCollector collector;
  keel::BulkWriter writer(
      db, {.max_bytes = 4000, .retry = {.max_attempts = 3, .first_delay = 10ms}, .collector = &collector});
  // Each batch's one-row inserts go as one multi-row insert (by COPY once a batch holds enough rows): cut the
  // connection as the fifth one completes.
  proxy->set_rule(on_nth(
      5,
      [](const Message& m) {
        return m.direction == Direction::to_client && (m.is('C', "INSERT") || m.is('C', "COPY"));
      },
      Action::cut));
  for (int i = 0; i < 1000; ++i)
    writer.add(keel::raw("INSERT INTO keel_written (id, note) VALUES ({}, {})", i, "row " + std::to_string(i)));
  CHECK(writer.flush_sync() == 1000);
  CHECK(proxy->cuts() == 1);
  CHECK(run(direct->fetchval<std::int64_t>("SELECT count(*) FROM keel_written")) == 1000);
  CHECK(run(direct->fetchval<std::int64_t>("SELECT count(DISTINCT id) FROM keel_written")) == 1000);
  const auto records = collector.records();
  std::size_t retried = 0;
  for (const auto& r : records) {
    CHECK(r.succeeded);
    if (r.attempts > 1) ++retried;
  }
  CHECK(retried == 1);
}
