// LISTEN/NOTIFY with the client: one connection listens on a channel, another sends. The listener's callback
// runs even while its connection is idle; here it hands each notification to an Asio channel, which a
// coroutine awaits. A notification sent inside a transaction arrives only when it commits.
//   pg_listen_notify "host=/var/run/postgresql dbname=app"   (no argument: the PG* variables and defaults)
#include <boost/asio.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>
import keel;

namespace asio = boost::asio;
namespace pg = keel::pg;

namespace {

using Inbox = asio::experimental::channel<void(boost::system::error_code, pg::Notification)>;

asio::awaitable<void> tour(std::string dsn) {
  auto listener = co_await pg::PgConnection::connect(dsn);
  auto sender = co_await pg::PgConnection::connect(dsn);
  const std::string channel = "keel_example_events";

  Inbox inbox(co_await asio::this_coro::executor, 16);
  const pg::ListenerId id = co_await listener->add_listener(channel, [&](const pg::Notification& n) {
    inbox.try_send(boost::system::error_code(), n);  // the callback must not block: queue it
  });
  std::cout << "listening on " << channel << " (backend " << listener->server_pid() << ")\n";

  // NOTIFY has no bound values; pg_notify() takes the channel and payload as values.
  co_await sender->execute("SELECT pg_notify($1, $2)", channel, "order 1 shipped");
  co_await sender->execute("NOTIFY " + channel + ", 'order 2 shipped'");
  for (int i = 0; i < 2; ++i) {
    pg::Notification n = co_await inbox.async_receive(asio::use_awaitable);
    std::cout << "received on " << n.channel << ": '" << n.payload << "' from backend " << n.process_id
              << (n.process_id == sender->server_pid() ? " (the sender)" : "") << "\n";
  }

  // Inside a transaction, the notification waits for the commit.
  co_await sender->begin();
  co_await sender->execute("SELECT pg_notify($1, $2)", channel, "order 3 shipped");
  co_await listener->fetchval<std::int64_t>("SELECT 1");  // a round trip: anything sent already has arrived
  std::cout << "before commit: " << (inbox.ready() ? "a notification is waiting" : "nothing yet") << "\n";
  co_await sender->commit();
  pg::Notification committed = co_await inbox.async_receive(asio::use_awaitable);
  std::cout << "after commit: '" << committed.payload << "'\n";

  // The last listener of a channel removed, the connection UNLISTENs.
  co_await listener->remove_listener(channel, id);
  std::cout << "listening channels now: "
            << co_await listener->fetchval<std::int64_t>("SELECT count(*) FROM pg_listening_channels()") << "\n";
  co_await listener->close();  // a connection with listeners keeps its loop running until then
  co_await sender->close();
}

}  // namespace

int main(int argc, char** argv) try {
  keel::run_sync(tour(argc > 1 ? argv[1] : ""));  // on a private event loop of this thread
} catch (const std::exception& e) {
  std::cerr << "pg_listen_notify failed: " << e.what() << "\n";
  return 1;
}
