// keel against peers that misbehave (fake_peers.hpp), no database needed. Against a server that accepts and
// never answers, connect_timeout, a pool's acquire timeout and the engine's acquire_timeout each end the wait
// with TimeoutError in time (none of them may hang); a server that breaks the protocol gets a ProtocolError;
// close() with a query in flight ends with a Terminate after the query's answer.
#include <catch2/catch.hpp>
#include <boost/asio.hpp>
#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <string>
import keel;
import keel.postgres;
#include "fake_peers.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

std::string silent_dsn(const fake_peers::SilentServer& server, const std::string& extra) {
  return "host=127.0.0.1 port=" + std::to_string(server.port()) + " user=keel dbname=keel passfile=/nonexistent " +
         extra;
}

// Runs an awaitable on a loop of its own for at most `limit`; returns its error (nullptr: it succeeded) and
// how long it took. An awaitable still running at the limit fails the test instead of hanging it.
template <class Awaitable>
std::pair<std::exception_ptr, std::chrono::steady_clock::duration> outcome(Awaitable awaitable,
                                                                           std::chrono::seconds limit) {
  asio::io_context loop;
  std::optional<std::exception_ptr> error;
  const auto started = std::chrono::steady_clock::now();
  asio::co_spawn(loop, std::move(awaitable), [&](std::exception_ptr e, auto&&...) { error = e; });
  loop.run_for(limit);
  const auto took = std::chrono::steady_clock::now() - started;
  if (!error) FAIL("still waiting after " << limit.count() << " s");
  return {*error, took};
}

template <class E>
bool is(std::exception_ptr error) {
  try {
    if (error) std::rethrow_exception(error);
  } catch (const E&) {
    return true;
  } catch (...) {}
  return false;
}

}  // namespace

TEST_CASE("connect_timeout covers TLS negotiation and authentication, not only the TCP connect", "[pg][deadline]") {
  fake_peers::SilentServer server;
  // prefer: the silence comes after the TLS request; disable: after the startup message.
  for (const char* mode : {"sslmode=prefer", "sslmode=disable"}) {
    INFO(mode);
    auto [error, took] =
        outcome(keel::pg::PgConnection::connect(silent_dsn(server, std::string("connect_timeout=2 ") + mode)), 10s);
    CHECK(is<keel::TimeoutError>(error));
    CHECK(took >= 1900ms);
    CHECK(took < 4s);
  }
}

TEST_CASE("a pool's acquire timeout covers opening a connection", "[pg][deadline]") {
  fake_peers::SilentServer server;
  auto attempt = [&]() -> asio::awaitable<void> {
    auto pool = co_await keel::pg::Pool::create(silent_dsn(server, "sslmode=disable"),
                                                keel::pg::PoolOptions{.min_size = 0, .max_size = 2});
    auto connection = co_await pool->acquire(1s);
  };
  auto [error, took] = outcome(attempt(), 10s);
  CHECK(is<keel::TimeoutError>(error));
  CHECK(took < 2500ms);
}

TEST_CASE("the engine's acquire_timeout covers opening a connection", "[pg][deadline]") {
  fake_peers::SilentServer server;
  keel::PostgresEngine db(
      keel::PostgresOptions{.dsn = silent_dsn(server, "sslmode=disable"), .acquire_timeout = 1000ms});
  auto [error, took] = outcome(db.raw("SELECT 1"), 10s);
  CHECK(is<keel::TimeoutError>(error));
  CHECK(took < 2500ms);
}

TEST_CASE("a ReadyForQuery that answers no request is a protocol error that closes the connection", "[pg][protocol]") {
  // The server answers a query with a bare ReadyForQuery: taken as the query's reply, every later reply would
  // belong to the request before it.
  fake_peers::ScriptedServer server([](boost::asio::ip::tcp::socket& socket) {
    fake_peers::ScriptedServer::read_message(socket);  // the query ('Q')
    static constexpr std::uint8_t bare_ready[] = {'Z', 0, 0, 0, 5, 'I'};
    boost::asio::write(socket, boost::asio::buffer(bare_ready));
  });
  auto attempt = [&]() -> asio::awaitable<void> {
    auto c = co_await keel::pg::PgConnection::connect("host=127.0.0.1 port=" + std::to_string(server.port()) +
                                                      " user=keel dbname=keel sslmode=disable passfile=/nonexistent");
    std::exception_ptr error;
    try {
      co_await c->execute("SELECT 1");
    } catch (...) {
      error = std::current_exception();
    }
    CHECK(c->is_closed());
    if (error) std::rethrow_exception(error);
  };
  auto [error, took] = outcome(attempt(), 10s);
  CHECK(is<keel::ProtocolError>(error));
}

TEST_CASE("close() with a query in flight lets it finish, then says goodbye", "[pg][protocol]") {
  // close() queues a Sync behind the query still in flight. A server answers a Sync alone with a bare
  // ReadyForQuery: that is the Sync's whole answer, not a reply shifted off its request.
  std::promise<std::string> seen_by_server;
  auto seen = seen_by_server.get_future();
  fake_peers::ScriptedServer server([&](boost::asio::ip::tcp::socket& socket) {
    std::string messages;
    messages += fake_peers::ScriptedServer::read_message(socket);  // the query ('Q')
    messages += fake_peers::ScriptedServer::read_message(socket);  // close()'s Sync ('S'), before the query's answer
    static constexpr std::uint8_t answers[] = {'C', 0,   0,   0, 13,  'S', 'E', 'L', 'E', 'C',
                                               'T', ' ', '1', 0, 'Z', 0,   0,   0,   5,   'I',  // the query's
                                               'Z', 0,   0,   0, 5,   'I'};                     // the Sync's
    boost::asio::write(socket, boost::asio::buffer(answers));
    try {
      messages += fake_peers::ScriptedServer::read_message(socket);  // Terminate ('X')
    } catch (...) {
      messages += '-';  // the client closed the socket without it
    }
    seen_by_server.set_value(messages);
  });
  std::optional<std::exception_ptr> query_error;
  auto attempt = [&]() -> asio::awaitable<void> {
    auto c = co_await keel::pg::PgConnection::connect("host=127.0.0.1 port=" + std::to_string(server.port()) +
                                                      " user=keel dbname=keel sslmode=disable passfile=/nonexistent");
    const auto executor = co_await asio::this_coro::executor;
    asio::co_spawn(
        executor, [&c]() -> asio::awaitable<void> { co_await c->execute("SELECT 1"); },
        [&](std::exception_ptr e) { query_error = e; });
    asio::steady_timer written(executor, 50ms);  // the query is on the wire by then (the server reads it first)
    co_await written.async_wait(asio::use_awaitable);
    co_await c->close();
    CHECK(c->is_closed());
    // The connection outlives the query's coroutine.
    for (int tick = 0; !query_error && tick < 100; ++tick) {
      asio::steady_timer later(executor, 10ms);
      co_await later.async_wait(asio::use_awaitable);
    }
  };
  auto [error, took] = outcome(attempt(), 10s);
  CHECK(error == nullptr);
  REQUIRE(query_error.has_value());
  CHECK(*query_error == nullptr);
  REQUIRE(seen.wait_for(5s) == std::future_status::ready);
  CHECK(seen.get() == "QSX");
}
