// The connection pool against the private cluster: sizes, exhaustion with an acquire timeout, max_queries
// rotation, inactive expiry, the init/setup/reset hooks, broken connections, expire_connections, a graceful
// close, and (with a cluster of its own) a server restart in mid-life.
#include <catch2/catch.hpp>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>
import keel;
import keel.postgres;
#include "pg_test_support.hpp"

using namespace std::chrono_literals;
using keel::pg::Pool;
using keel::pg::PoolOptions;

namespace {

std::unique_ptr<Pool> make_pool(PoolOptions options) {
  return run(Pool::create(dsn("keel_trust", "sslmode=disable"), std::move(options)));
}

int pid_of(keel::pg::PooledConnection& c) { return c->server_pid(); }

}  // namespace

TEST_CASE("a pool opens min_size, grows to max_size, and times out when exhausted", "[pg][pool]") {
  auto pool = make_pool({.min_size = 2, .max_size = 4});
  CHECK(pool->get_size() == 2);
  CHECK(pool->get_idle_size() == 2);
  CHECK(pool->get_min_size() == 2);
  CHECK(pool->get_max_size() == 4);
  std::vector<keel::pg::PooledConnection> held;
  std::set<int> pids;
  for (int i = 0; i < 4; ++i) {
    held.push_back(run(pool->acquire()));
    pids.insert(pid_of(held.back()));
  }
  CHECK(pids.size() == 4);
  CHECK(pool->get_size() == 4);
  CHECK(pool->get_idle_size() == 0);
  CHECK_THROWS_AS(run(pool->acquire(200ms)), keel::TimeoutError);

  // A waiting acquire gets the first connection that comes back.
  std::optional<int> waited_pid;
  asio::co_spawn(
      loop(),
      [&]() -> asio::awaitable<void> {
        auto c = co_await pool->acquire(10s);
        waited_pid = c->server_pid();
      },
      asio::detached);
  loop().restart();
  loop().poll();
  CHECK_FALSE(waited_pid);
  const int returned = pid_of(held.back());
  run(pool->release(std::move(held.back())));
  held.pop_back();
  REQUIRE(run_until([&] { return waited_pid.has_value(); }));
  CHECK(*waited_pid == returned);
  held.clear();  // the handles give their connections back
  REQUIRE(run_until([&] { return pool->get_idle_size() == 4; }));

  // Many coroutines share the pool; it never opens more than max_size.
  int done = 0;
  std::size_t largest = 0;
  for (int i = 0; i < 20; ++i)
    asio::co_spawn(
        loop(),
        [&, i]() -> asio::awaitable<void> {
          CHECK(co_await pool->fetchval<std::int64_t>("SELECT $1::int8 FROM pg_sleep(0.01)", i) == i);
          largest = std::max(largest, pool->get_size());
          ++done;
        },
        asio::detached);
  REQUIRE(run_until([&] { return done == 20; }));
  CHECK(largest <= 4);
  run(pool->close());
}

TEST_CASE("max_queries retires a connection; idle connections expire", "[pg][pool]") {
  auto pool = make_pool({.min_size = 1, .max_size = 1, .max_queries = 3});
  auto first = run(pool->acquire());
  const int pid = pid_of(first);
  run(first->execute("SELECT 1"));
  run(first->execute("SELECT 2"));
  run(pool->release(std::move(first)));
  auto again = run(pool->acquire());
  CHECK(pid_of(again) == pid);  // two queries (the reset is the pool's own) so far
  run(again->execute("SELECT 3"));
  run(pool->release(std::move(again)));
  auto fresh = run(pool->acquire());
  CHECK(pid_of(fresh) != pid);
  run(pool->release(std::move(fresh)));
  run(pool->close());

  auto expiring = make_pool({.min_size = 2, .max_size = 2, .max_inactive_connection_lifetime = 200ms});
  CHECK(expiring->get_size() == 2);
  REQUIRE(run_until([&] { return expiring->get_size() == 0; }, 5000ms));
  CHECK(run(expiring->fetchval<std::int64_t>("SELECT 7")) == 7);  // opens one again
  run(expiring->close());
}

TEST_CASE("init, setup and reset hooks; the default reset clears the session", "[pg][pool]") {
  int inits = 0, setups = 0;
  PoolOptions options{.min_size = 1, .max_size = 1};
  options.init = [&](keel::pg::PgConnection& c) -> asio::awaitable<void> {
    ++inits;
    co_await c.execute("SET application_name = 'keel pool'");
  };
  options.setup = [&](keel::pg::PgConnection&) -> asio::awaitable<void> {
    ++setups;
    co_return;
  };
  auto pool = make_pool(options);
  CHECK(inits == 1);
  {
    auto c = run(pool->acquire());
    CHECK(setups == 1);
    CHECK(run(c->fetchval<std::string>("SHOW application_name")) == "keel pool");
    // Leave state behind: a setting, a listener, an advisory lock and an open transaction.
    run(c->execute("SET statement_timeout = 12345"));
    run(c->add_listener("left behind", [](const keel::pg::Notification&) {}));
    run(c->execute("SELECT pg_advisory_lock(42)"));
    run(c->begin());
    run(pool->release(std::move(c)));
  }
  auto c = run(pool->acquire());
  CHECK(setups == 2);
  CHECK(inits == 1);  // the same connection
  CHECK_FALSE(c->is_in_transaction());
  CHECK(run(c->fetchval<std::string>("SHOW statement_timeout")) == "0");
  CHECK(run(c->fetchval<std::int64_t>("SELECT count(*) FROM pg_listening_channels()")) == 0);
  CHECK(run(c->fetchval<std::int64_t>(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")) == 0);
  // RESET ALL restores the session defaults, which init's SET is not part of (asyncpg behaves the same).
  CHECK(run(c->fetchval<std::string>("SHOW application_name")) == "");
  run(pool->release(std::move(c)));

  // A custom reset replaces the default; a failing setup gives the connection back.
  int resets = 0;
  PoolOptions custom{.min_size = 1, .max_size = 1};
  custom.reset = [&](keel::pg::PgConnection&) -> asio::awaitable<void> {
    ++resets;
    co_return;
  };
  bool fail_setup = true;
  custom.setup = [&](keel::pg::PgConnection&) -> asio::awaitable<void> {
    if (std::exchange(fail_setup, false)) throw std::runtime_error("setup failed");
    co_return;
  };
  auto other = make_pool(custom);
  CHECK_THROWS_WITH(run(other->acquire()), "setup failed");
  CHECK(resets == 1);
  auto d = run(other->acquire(1s));
  run(d->execute("SET statement_timeout = 999"));
  run(other->release(std::move(d)));
  CHECK(resets == 2);
  auto e = run(other->acquire(1s));
  CHECK(run(e->fetchval<std::string>("SHOW statement_timeout")) == "999ms");
  run(other->release(std::move(e)));
  run(pool->close());
  run(other->close());
}

TEST_CASE("a broken connection is never handed out again; expire_connections renews them", "[pg][pool]") {
  auto pool = make_pool({.min_size = 1, .max_size = 1});
  auto killer = connect(dsn("keel_trust", "sslmode=disable"));
  auto c = run(pool->acquire());
  const int pid = pid_of(c);
  run(killer->fetch("SELECT pg_terminate_backend($1)", pid));
  CHECK_THROWS_AS(run(c->fetch("SELECT pg_sleep(0.1)")), keel::Error);
  CHECK(c->is_closed());
  run(pool->release(std::move(c)));
  CHECK(pool->get_size() == 1);  // not the broken one: its replacement, opening to keep min_size
  auto fresh = run(pool->acquire());
  CHECK(pid_of(fresh) != pid);
  CHECK(run(fresh->fetchval<std::int64_t>("SELECT 1")) == 1);
  const int second = pid_of(fresh);
  run(pool->release(std::move(fresh)));

  // Killed while idle: the idle connection notices, and acquire opens another.
  run(killer->fetch("SELECT pg_terminate_backend($1)", second));
  run_until([] { return false; }, 300ms);  // the backend ends a moment after pg_terminate_backend returns
  auto after = run(pool->acquire());
  CHECK(pid_of(after) != second);
  CHECK(run(after->fetchval<std::int64_t>("SELECT 2")) == 2);
  const int third = pid_of(after);
  run(pool->release(std::move(after)));

  run(pool->expire_connections());
  auto renewed = run(pool->acquire());
  CHECK(pid_of(renewed) != third);
  run(pool->release(std::move(renewed)));
  run(pool->close());
}

TEST_CASE("close ends while a lost connection's replacement is being opened", "[pg][pool]") {
  auto pool = make_pool({.min_size = 1, .max_size = 1});
  auto killer = connect(dsn("keel_trust", "sslmode=disable"));
  auto c = run(pool->acquire());
  run(killer->fetch("SELECT pg_terminate_backend($1)", pid_of(c)));
  CHECK_THROWS_AS(run(c->fetch("SELECT pg_sleep(0.1)")), keel::Error);
  run(pool->release(std::move(c)));  // broken: retired, and a replacement starts to open
  bool closed = false;
  asio::co_spawn(
      loop(),
      [&]() -> asio::awaitable<void> {
        co_await pool->close();
        closed = true;
      },
      asio::detached);
  CHECK(run_until([&] { return closed; }, 5000ms));                 // it waited forever before
  CHECK(run_until([&] { return pool->get_size() == 0; }, 5000ms));  // the replacement, opened late, is closed
}

TEST_CASE("close waits for lent connections; terminate does not", "[pg][pool]") {
  auto pool = make_pool({.min_size = 1, .max_size = 2});
  auto c = run(pool->acquire());
  bool closed = false;
  asio::co_spawn(
      loop(),
      [&]() -> asio::awaitable<void> {
        co_await pool->close();
        closed = true;
      },
      asio::detached);
  loop().restart();
  loop().poll();
  CHECK_FALSE(closed);
  CHECK(pool->is_closing());
  CHECK_THROWS_AS(run(pool->acquire()), keel::ConnectionError);
  CHECK(run(c->fetchval<std::int64_t>("SELECT 5")) == 5);  // the lent one still works
  run(pool->release(std::move(c)));
  REQUIRE(run_until([&] { return closed; }));
  CHECK(pool->get_size() == 0);

  auto other = make_pool({.min_size = 1, .max_size = 1});
  auto d = run(other->acquire());
  other->terminate();
  CHECK(d->is_closed());
  CHECK_THROWS_AS(run(d->fetch("SELECT 1")), keel::ConnectionError);
}

TEST_CASE("after a server restart the pool serves fresh connections", "[pg][pool][restart]") {
  const char* script = std::getenv("KEEL_PG_CLUSTER_SCRIPT");
  REQUIRE(script);
  auto pool = make_pool({.min_size = 2, .max_size = 2});
  std::set<int> before;
  {
    auto a = run(pool->acquire());
    auto b = run(pool->acquire());
    before = {pid_of(a), pid_of(b)};
    run(pool->release(std::move(a)));
    run(pool->release(std::move(b)));
  }
  REQUIRE(std::system((std::string(script) + " restart " + std::getenv("KEEL_PG_CLUSTER")).c_str()) == 0);
  // The idle connections hear the server go (give the loop a moment to read that); the pool replaces them
  // on demand.
  run_until([] { return false; }, 300ms);
  std::set<int> after;
  for (int i = 0; i < 2; ++i) {
    auto c = run(pool->acquire());
    CHECK(run(c->fetchval<std::int64_t>("SELECT 40 + 2")) == 42);
    after.insert(pid_of(c));
    run(pool->release(std::move(c)));
  }
  for (int pid : after) CHECK_FALSE(before.contains(pid));
  run(pool->close());
}

TEST_CASE("an acquire cancelled while it waits for a free connection gets CanceledError, a keel error", "[pg][pool]") {
  auto pool = run(keel::pg::Pool::create(dsn("keel_trust", "sslmode=disable"),
                                         keel::pg::PoolOptions{.min_size = 1, .max_size = 1}));
  std::exception_ptr error;
  run([&]() -> asio::awaitable<void> {
    auto held = co_await pool->acquire();  // the only connection: the next acquire waits
    const auto executor = co_await asio::this_coro::executor;
    asio::cancellation_signal signal;
    bool done = false;
    asio::co_spawn(executor, pool->acquire(),
                   asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, keel::pg::PooledConnection) {
                     error = e;
                     done = true;
                   }));
    asio::steady_timer pause(executor, 100ms);
    co_await pause.async_wait(asio::use_awaitable);
    signal.emit(asio::cancellation_type::terminal);
    while (!done) {
      pause.expires_after(5ms);
      co_await pause.async_wait(asio::use_awaitable);
    }
    co_await pool->release(std::move(held));
  }());
  run(pool->close());
  REQUIRE(error);
  CHECK_THROWS_AS(std::rethrow_exception(error), keel::pg::CanceledError);
  CHECK_THROWS_AS(std::rethrow_exception(error), keel::Error);
}
