// The client behind PgBouncer in transaction pooling (the fixture tests/postgres/pgbouncer, whose port is in
// KEEL_PGBOUNCER/pgbouncer.env), with statement_cache_size 0. When a request ends outside a transaction,
// PgBouncer may give its server connection to another client, so the request that binds an unnamed statement
// must parse it too.
#include <catch2/catch.hpp>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>
import keel;
import keel.postgres;
#include "pg_test_support.hpp"

namespace {

std::string bouncer_dsn() {
  const char* dir = std::getenv("KEEL_PGBOUNCER");
  REQUIRE(dir);
  std::ifstream env(std::string(dir) + "/pgbouncer.env");
  std::string port;
  for (std::string line; std::getline(env, line);)
    if (line.starts_with("KEEL_PGBOUNCER_PORT=")) port = line.substr(20);
  REQUIRE_FALSE(port.empty());
  return "host=127.0.0.1 port=" + port + " dbname=keel_test user=keel_trust sslmode=disable";
}

}  // namespace

TEST_CASE("behind PgBouncer, clients' unnamed statements never meet: each is parsed in the request that binds it",
          "[pgbouncer]") {
  // Two clients, each with a statement of its own, concurrently. Were a Bind sent in a request of its own, it
  // could reach a server connection where the other's unnamed statement waits: a wrong result, or "unnamed
  // prepared statement does not exist" (26000).
  constexpr int rounds = 300;
  auto a = connect(bouncer_dsn(), {.statement_cache_size = 0});
  auto b = connect(bouncer_dsn(), {.statement_cache_size = 0});
  int right = 0, finished = 0;
  std::vector<std::string> failures;
  auto client = [&](PgConnection& c, bool adds) -> asio::awaitable<void> {
    for (std::int64_t i = 0; i < rounds; ++i) {
      try {
        const std::int64_t got = adds ? co_await c.fetchval<std::int64_t>("SELECT $1::int8 + 1", i)
                                      : co_await c.fetchval<std::int64_t>("SELECT $1::int8 * 1000, 'another text'", i);
        if (got == (adds ? i + 1 : i * 1000))
          ++right;
        else
          failures.push_back("wrong result " + std::to_string(got));
      } catch (const std::exception& e) {
        failures.push_back(e.what());
      }
    }
    ++finished;
  };
  asio::co_spawn(loop(), client(*a, true), asio::detached);
  asio::co_spawn(loop(), client(*b, false), asio::detached);
  loop().restart();
  loop().run();
  REQUIRE(finished == 2);
  CHECK(failures.empty());
  if (!failures.empty()) FAIL_CHECK("first failure: " << failures.front());
  CHECK(right == 2 * rounds);
}

TEST_CASE("behind PgBouncer, an unnamed statement the server refuses leaves the connection usable", "[pgbouncer]") {
  auto c = connect(bouncer_dsn(), {.statement_cache_size = 0});
  // Refused at Parse (a syntax error, an unknown table): the server skips to the Sync that keel then sends.
  CHECK_THROWS_AS(run(c->fetchval<std::int64_t>("SELEC $1::int8", 1)), keel::SyntaxError);
  CHECK_THROWS_AS(run(c->fetchval<std::int64_t>("SELECT $1::int8 FROM no_such_table", 1)), keel::UndefinedTable);
  CHECK(run(c->fetchval<std::int64_t>("SELECT $1::int8 + 1", 41)) == 42);
  // In a transaction too: the error aborts it, and ROLLBACK ends it.
  execute(*c, "BEGIN");
  CHECK_THROWS_AS(run(c->fetchval<std::int64_t>("SELECT $1::int8 FROM no_such_table", 1)), keel::UndefinedTable);
  execute(*c, "ROLLBACK");
  CHECK_FALSE(c->is_in_transaction());
  CHECK(run(c->fetchval<std::int64_t>("SELECT $1::int8 * 2", 21)) == 42);
  // A timeout while the unnamed statement runs: cancelled, and the connection goes on.
  CHECK_THROWS_AS(run(c->fetchval<std::int64_t>("SELECT $1::int8 FROM pg_sleep(5)", 1,
                                                keel::pg::timeout(std::chrono::milliseconds(200)))),
                  keel::TimeoutError);
  CHECK(run(c->fetchval<std::int64_t>("SELECT $1::int8 + 2", 40)) == 42);
}

TEST_CASE("behind PgBouncer, a statement that times out waiting for a lock ends in time, and the connection goes on",
          "[pgbouncer]") {
  using namespace std::chrono_literals;
  auto holder = connect(dsn("keel_trust", "sslmode=disable"));  // on the cluster itself
  execute(*holder, "CREATE TABLE IF NOT EXISTS bouncer_locked (n int)");
  execute(*holder, "BEGIN; LOCK TABLE bouncer_locked IN ACCESS EXCLUSIVE MODE");
  auto c = connect(bouncer_dsn(), {.statement_cache_size = 0});
  // The Parse itself waits for the lock: the time limit must still end the call, and the cancel leave the
  // connection in step with the server.
  const auto started = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(
      run(c->fetchval<std::int64_t>("SELECT count(*) FROM bouncer_locked WHERE n > $1", 0, keel::pg::timeout(300ms))),
      keel::TimeoutError);
  CHECK(std::chrono::steady_clock::now() - started < 2s);
  CHECK(run(c->fetchval<std::int64_t>("SELECT $1::int8 + 1", 41)) == 42);
  execute(*holder, "ROLLBACK");
  CHECK(run(c->fetchval<std::int64_t>("SELECT count(*) FROM bouncer_locked WHERE n > $1", 0)) == 0);
  execute(*holder, "DROP TABLE bouncer_locked");
}
