// What the PostgreSQL tests share: the private cluster's address (the CTest fixture writes it to
// KEEL_PG_CLUSTER/cluster.env), DSNs for its roles, and one event loop to run coroutines on.
#pragma once
#include <catch2/catch.hpp>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <functional>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include "../support/run_on_loop.hpp"

namespace asio = boost::asio;
using keel::pg::PgConnection;

namespace {

// Where the fixture's cluster is: KEEL_PG_CLUSTER/cluster.env.
const std::map<std::string, std::string>& cluster() {
  static const std::map<std::string, std::string> values = [] {
    std::map<std::string, std::string> v;
    const char* dir = std::getenv("KEEL_PG_CLUSTER");
    REQUIRE(dir);
    std::ifstream env(std::string(dir) + "/cluster.env");
    for (std::string line; std::getline(env, line);)
      if (auto eq = line.find('='); eq != std::string::npos) v[line.substr(0, eq)] = line.substr(eq + 1);
    REQUIRE(v.contains("KEEL_PG_PORT"));
    return v;
  }();
  return values;
}

[[maybe_unused]] std::string dsn(const std::string& user, const std::string& extra = "") {
  const auto& c = cluster();
  return "host=127.0.0.1 port=" + c.at("KEEL_PG_PORT") + " dbname=keel_test user=" + user +
         " passfile=/nonexistent sslrootcert=/nonexistent " + extra;
}

// A connection lives on the event loop it connected on: every test runs its coroutines on this one.
asio::io_context& loop() {
  static asio::io_context context;
  return context;
}
// Runs the loop until `done`, for at most `limit` (callbacks such as notifications end no coroutine).
template <class Predicate>
bool run_until(Predicate done, std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  loop().restart();
  while (!done() && std::chrono::steady_clock::now() < deadline) loop().run_one_for(std::chrono::milliseconds(20));
  return done();
}

template <class T>
T run(asio::awaitable<T> work) {
  return keel_support::run_on(loop(), std::move(work));
}

// Runs call on the test loop with `signal`'s slot bound to it, and `after_start` (if given) once it has started
// and first waits; the call's exception, if any.
[[maybe_unused]] std::exception_ptr run_cancellable(asio::cancellation_signal& signal,
                                                    std::function<asio::awaitable<void>()> call,
                                                    std::function<void()> after_start = {}) {
  std::exception_ptr outcome;
  bool finished = false;
  asio::co_spawn(loop(), std::move(call), asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) {
                   outcome = e;
                   finished = true;
                 }));
  if (after_start) asio::post(loop(), after_start);
  loop().restart();
  loop().run();
  REQUIRE(finished);
  return outcome;
}

std::unique_ptr<PgConnection> connect(const std::string& dsn_text, keel::pg::PgConnectionOptions options = {}) {
  return run(PgConnection::connect(dsn_text, options));
}

[[maybe_unused]] keel::Rows fetch(PgConnection& connection, const std::string& sql,
                                  std::vector<keel::Value> params = {}) {
  return run([&]() -> asio::awaitable<keel::Rows> {
    keel::RowsCollector collector;
    const keel::ExecResult result = co_await connection.query(sql, params, &collector);
    co_return collector.result(result);
  }());
}

[[maybe_unused]] std::string execute(PgConnection& connection, const std::string& sql) {
  return run(connection.execute(sql));
}

}  // namespace
