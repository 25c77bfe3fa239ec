// Stopping a running query: a time limit on one call, an Asio cancellation signal, and a race against a timer
// with Asio's awaitable operators. Each time keel asks the server to cancel the statement (a CancelRequest),
// reads the rest of its reply, and throws a typed error; the connection then serves the next query.
// (keel::PostgresEngine and keel::SqliteEngine stop a statement the same way on a cancellation, and on
// their command_timeout.)
//   cancellation "host=/var/run/postgresql dbname=app"   (no argument: the PG* variables and libpq's defaults)
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>
import keel;

namespace asio = boost::asio;
namespace pg = keel::pg;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

using Clock = std::chrono::steady_clock;
long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// What the server's backend of `pid` is doing now, asked on another connection.
asio::awaitable<std::string> backend_state(pg::PgConnection& observer, int pid) {
  co_return co_await observer.fetchval<std::string>("SELECT state FROM pg_stat_activity WHERE pid = $1", pid);
}

asio::awaitable<void> tour(std::string dsn) {
  auto db = co_await pg::PgConnection::connect(dsn);
  auto observer = co_await pg::PgConnection::connect(dsn);
  const int pid = db->server_pid();

  // 1. A time limit among the call's values (PgConnectionOptions::command_timeout sets one for every call).
  auto start = Clock::now();
  try {
    co_await db->execute("SELECT pg_sleep(30)", pg::timeout(300ms));
  } catch (const keel::TimeoutError&) {
    std::cout << "timeout: keel::TimeoutError after " << ms_since(start) << " ms\n";
  }
  std::cout << "  the backend is " << co_await backend_state(*observer, pid)
            << "; next query on the same connection: " << co_await db->fetchval<std::int64_t>("SELECT 1 + 1") << "\n";

  // 2. Asio cancellation: the query runs as its own coroutine, bound to a signal that a timer fires.
  const auto executor = co_await asio::this_coro::executor;
  asio::cancellation_signal signal;
  asio::steady_timer fire(executor, 300ms);
  fire.async_wait([&](boost::system::error_code) { signal.emit(asio::cancellation_type::terminal); });
  start = Clock::now();
  try {
    co_await asio::co_spawn(executor, db->fetch("SELECT pg_sleep(30)"),
                            asio::bind_cancellation_slot(signal.slot(), asio::use_awaitable));
  } catch (const keel::CanceledError&) {
    std::cout << "cancellation signal: keel::CanceledError after " << ms_since(start) << " ms\n";
  }
  std::cout << "  the backend is " << co_await backend_state(*observer, pid)
            << "; next query: " << co_await db->fetchval<std::int64_t>("SELECT 2 + 2") << "\n";

  // 3. A race: whichever finishes first wins, and the other is cancelled (here the query, on the server too).
  asio::steady_timer deadline(executor, 300ms);
  start = Clock::now();
  auto winner =
      co_await (db->fetchval<std::int64_t>("SELECT 42 FROM pg_sleep(30)") || deadline.async_wait(asio::use_awaitable));
  std::cout << "race: the " << (winner.index() == 1 ? "timer" : "query") << " won after " << ms_since(start) << " ms\n";
  std::cout << "  the backend is " << co_await backend_state(*observer, pid)
            << "; next query: " << co_await db->fetchval<std::int64_t>("SELECT 3 + 3") << " (backend "
            << db->server_pid() << (db->server_pid() == pid ? ", the same one)" : ", another one)") << "\n";
  co_await observer->close();
  co_await db->close();
}

}  // namespace

int main(int argc, char** argv) try {
  keel::run_sync(tour(argc > 1 ? argv[1] : ""));  // on a private event loop of this thread
} catch (const std::exception& e) {
  std::cerr << "cancellation failed: " << e.what() << "\n";
  return 1;
}
