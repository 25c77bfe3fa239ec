// The client without coroutines: async_connect, async_execute and async_fetch take any Asio completion token.
// A callback gets (std::exception_ptr, result); asio::use_future gives a std::future for a thread that blocks;
// asio::deferred packages an operation to launch later, with a token chosen then. (Coroutines stay the main
// path: every other call of the client is an awaitable.)
//   completion_tokens "host=/var/run/postgresql dbname=app"   (no argument: the PG* variables and defaults)
#include <boost/asio.hpp>
#include <cstdint>
#include <exception>
#include <future>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>
import keel;

namespace asio = boost::asio;
namespace pg = keel::pg;

namespace {

// A handler's error, printed; true when there was one.
bool failed(std::exception_ptr e) {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& error) {
    std::cerr << "completion_tokens failed: " << error.what() << "\n";
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dsn = argc > 1 ? argv[1] : "";
  asio::io_context loop;
  std::unique_ptr<pg::PgConnection> db;
  bool ok = false;

  // 1. Callbacks: each gets (std::exception_ptr, result) and starts the next step; they run inside loop.run().
  auto inserted = [&](std::exception_ptr e, std::vector<pg::Record> rows) {
    if (failed(e)) return;
    std::cout << "callback: inserted " << rows.size() << " notes\n";
    ok = true;
  };
  auto created = [&](std::exception_ptr e, std::string status) {
    if (failed(e)) return;
    std::cout << "callback: " << status << "\n";
    db->async_fetch("INSERT INTO note VALUES ($1, $2), ($3, $4) RETURNING id", {1, "first", 2, "second"}, inserted);
  };
  auto connected = [&](std::exception_ptr e, std::unique_ptr<pg::PgConnection> connection) {
    if (failed(e)) return;
    db = std::move(connection);
    std::cout << "callback: connected, backend " << db->server_pid() << "\n";
    db->async_execute("CREATE TEMPORARY TABLE note (id int PRIMARY KEY, body text)", created);
  };
  pg::PgConnection::async_connect(loop.get_executor(), dsn, connected);
  loop.run();  // returns once the callbacks are done: an idle connection keeps nothing pending
  if (!ok) return 1;

  // 2. Futures: the loop runs on a thread of its own, and this thread waits for each result. Each call starts
  // its work on the connection's loop (co_spawn), so the connection is still used by that one thread only.
  auto keep_running = asio::make_work_guard(loop);
  loop.restart();
  std::thread runner([&] { loop.run(); });
  try {
    std::future<std::vector<pg::Record>> notes =
        db->async_fetch("SELECT id, body FROM note ORDER BY id", {}, asio::use_future);
    for (const pg::Record& note : notes.get())
      std::cout << "future: note " << note.get<std::int32_t>("id") << " says " << note.get<std::string>("body") << "\n";
    try {
      db->async_execute("INSERT INTO note VALUES (1, 'again')", asio::use_future).get();
    } catch (const keel::UniqueViolation& e) {
      std::cout << "future: the error comes out of get(): UniqueViolation, SQLSTATE " << e.sqlstate() << "\n";
    }

    // 3. Deferred: nothing is sent until the operation is launched, here with use_future.
    auto count_notes = db->async_fetch("SELECT count(*) FROM note", {}, asio::deferred);
    std::cout << "deferred: packaged, not sent yet\n";
    std::future<std::vector<pg::Record>> counted = std::move(count_notes)(asio::use_future);
    std::cout << "deferred: launched, " << counted.get().at(0).get<std::int64_t>(0) << " notes\n";

    // Any awaitable of the client goes the same way through co_spawn: here close().
    asio::co_spawn(loop, db->close(), asio::use_future).get();
    std::cout << "future: closed\n";
  } catch (const std::exception& e) {
    std::cerr << "completion_tokens failed: " << e.what() << "\n";
    ok = false;
  }
  keep_running.reset();
  runner.join();
  return ok ? 0 : 1;
}
