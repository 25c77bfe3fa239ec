// LISTEN/NOTIFY listeners, log listeners (NOTICE, WARNING), termination listeners and query loggers,
// against the private cluster.
#include <catch2/catch.hpp>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
import keel;
import keel.postgres;
#include "pg_test_support.hpp"

using namespace std::chrono_literals;

TEST_CASE("listeners receive notifications with their payloads, while the connection is idle", "[pg][listen]") {
  auto listener = connect(dsn("keel_trust", "sslmode=disable"));
  auto sender = connect(dsn("keel_trust", "sslmode=disable"));
  std::vector<keel::pg::Notification> received, also_received;
  const auto id =
      run(listener->add_listener("Keel Events", [&](const keel::pg::Notification& n) { received.push_back(n); }));
  const auto second =
      run(listener->add_listener("Keel Events", [&](const keel::pg::Notification& n) { also_received.push_back(n); }));

  run(sender->execute("SELECT pg_notify($1, $2)", "Keel Events", "first"));
  run(sender->execute(R"(NOTIFY "Keel Events", 'second')"));
  // No call is running on the listening connection: its reader delivers them.
  REQUIRE(run_until([&] { return received.size() == 2 && also_received.size() == 2; }));
  CHECK(received[0].channel == "Keel Events");
  CHECK(received[0].payload == "first");
  CHECK(received[0].process_id == sender->server_pid());
  CHECK(received[1].payload == "second");
  CHECK(also_received[1].payload == "second");

  // Removing one listener keeps the channel; removing the last UNLISTENs.
  run(listener->remove_listener("Keel Events", second));
  run(sender->execute("SELECT pg_notify($1, $2)", "Keel Events", "third"));
  REQUIRE(run_until([&] { return received.size() == 3; }));
  CHECK(also_received.size() == 2);
  run(listener->remove_listener("Keel Events", id));
  CHECK(run(listener->fetchval<std::int64_t>("SELECT count(*) FROM pg_listening_channels()")) == 0);
  run(sender->execute("SELECT pg_notify($1, $2)", "Keel Events", "fourth"));
  run(listener->fetchval<std::int64_t>("SELECT 1"));  // a round trip: a notification would have come before it
  CHECK(received.size() == 3);
  // Notifications sent in a transaction arrive at its commit, and queries in between still work.
  run(listener->add_listener("tx", [&](const keel::pg::Notification& n) { received.push_back(n); }));
  run(sender->begin());
  run(sender->execute("SELECT pg_notify('tx', 'committed')"));
  CHECK(run(listener->fetchval<std::int64_t>("SELECT 5")) == 5);
  CHECK(received.size() == 3);
  run(sender->commit());
  REQUIRE(run_until([&] { return received.size() == 4; }));
  CHECK(received[3].payload == "committed");
  run(listener->close());
}

TEST_CASE("log listeners see NOTICE and WARNING messages", "[pg][listen]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  std::vector<keel::ErrorFields> notices;
  const auto id = c->add_log_listener([&](const keel::ErrorFields& n) { notices.push_back(n); });
  run(c->execute("DO $$ BEGIN RAISE NOTICE 'hello %', 42; RAISE WARNING 'careful' USING HINT = 'a hint'; END $$"));
  REQUIRE(notices.size() == 2);
  CHECK(notices[0].severity == "NOTICE");
  CHECK(notices[0].message == "hello 42");
  CHECK(notices[1].severity == "WARNING");
  CHECK(notices[1].message == "careful");
  CHECK(notices[1].hint == "a hint");
  c->remove_log_listener(id);
  run(c->execute("DO $$ BEGIN RAISE NOTICE 'unheard'; END $$"));
  CHECK(notices.size() == 2);
}

TEST_CASE("a termination listener hears of a connection the server ended", "[pg][listen]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  auto killer = connect(dsn("keel_trust", "sslmode=disable"));
  int terminations = 0;
  c->add_termination_listener([&] { ++terminations; });
  run(c->add_listener("anything", [](const keel::pg::Notification&) {}));  // so that it reads while idle
  run(killer->fetch("SELECT pg_terminate_backend($1)", c->server_pid()));
  REQUIRE(run_until([&] { return terminations == 1; }));
  CHECK(c->is_closed());
  CHECK_THROWS_AS(run(c->fetch("SELECT 1")), keel::ConnectionError);

  // close() is not a termination.
  auto d = connect(dsn("keel_trust", "sslmode=disable"));
  int closed = 0;
  d->add_termination_listener([&] { ++closed; });
  run(d->close());
  CHECK(d->is_closed());
  CHECK(closed == 0);
}

TEST_CASE("query loggers see each query's text, values, time and outcome", "[pg][listen]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  struct Entry {
    std::string sql;
    std::vector<std::optional<std::string>> arguments;
    std::chrono::nanoseconds elapsed;
    bool failed;
    std::string error;
    std::string status;
  };
  std::vector<Entry> log;
  const auto id = c->add_query_logger([&](const keel::pg::LoggedQuery& q) {
    log.push_back({std::string(q.sql), q.arguments, q.elapsed, q.error != nullptr, q.error_message, q.status});
  });
  run(c->fetch("SELECT $1::int8, $2::text, $3::float8", std::int64_t{42}, "abc", std::optional<double>()));
  CHECK_THROWS(run(c->fetch("SELECT nope")));
  run(c->execute("SELECT 1"));
  c->remove_query_logger(id);
  run(c->execute("SELECT 2"));
  REQUIRE(log.size() == 3);
  CHECK(log[0].sql == "SELECT $1::int8, $2::text, $3::float8");
  REQUIRE(log[0].arguments.size() == 3);
  CHECK(log[0].arguments[0] == "42");
  CHECK(log[0].arguments[1] == "abc");
  CHECK_FALSE(log[0].arguments[2]);
  CHECK(log[0].elapsed.count() > 0);
  CHECK_FALSE(log[0].failed);
  CHECK(log[0].status == "SELECT 1");
  CHECK(log[1].failed);
  CHECK(log[1].error.find("nope") != std::string::npos);
  CHECK(log[2].sql == "SELECT 1");
  CHECK(log[2].arguments.empty());
}
