// A connection's life around its start (startup.cpp): made and destroyed, reset for its next user, closed
// politely; the error of a call on a closed one.
module;
#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
module keel.postgres;
import keel.engine;
import keel.postgres.protocol;

namespace asio = boost::asio;
namespace proto = keel::pg::protocol;

namespace keel::pg {

PgConnection::PgConnection(asio::any_io_executor executor, ConnectOptions options, Options settings)
    : pipeline_(std::make_shared<Pipeline>(std::move(executor))),
      options_(std::move(options)),
      settings_options_(settings),
      cache_(settings) {
  pipeline_->cancel_grace = settings_options_.cancel_grace;
}

PgConnection::~PgConnection() {
  pipeline_->detach();
  pipeline_->close();
}

asio::awaitable<void> PgConnection::reset() {
  ensure_open();
  if (is_in_transaction()) co_await execute("ROLLBACK");
  co_await execute("CLOSE ALL; UNLISTEN *; SELECT pg_advisory_unlock_all(); RESET ALL");
  listeners_.clear();
  update_reading();
  session_changed_ = false;
}

asio::awaitable<void> PgConnection::close() {
  if (is_closed()) co_return;
  closing_ = true;
  listeners_.clear();
  watching_ = false;
  update_reading();
  // A cleanup: it goes to its end also in a coroutine that was cancelled (which would throw at every co_await).
  const bool throws = co_await asio::this_coro::throw_if_cancelled();
  if (throws) co_await asio::this_coro::throw_if_cancelled(false);
  std::exception_ptr failure;
  try {
    while (pipeline_->pending() > 0 && !is_closed()) {
      auto reply = std::make_shared<SimpleReply>();  // a Sync: answered after all the others
      reply->answered = true;                        // by a ReadyForQuery alone, which is all a lone Sync draws
      proto::write_sync(pipeline_->out());
      pipeline_->queue(reply);
      co_await pipeline_->send_and_wait(*reply, std::nullopt);
    }
    if (!is_closed()) {
      proto::write_terminate(pipeline_->out());
      if (!pipeline_->flush_now()) co_await pipeline_->flush();
      pipeline_->close();
    }
  } catch (...) {
    failure = std::current_exception();
  }
  if (throws) co_await asio::this_coro::throw_if_cancelled(true);
  if (failure) std::rethrow_exception(failure);
}

void PgConnection::throw_closed() const {
  throw ConnectionError(pipeline_->broken_reason().empty() ? "the connection is closed"
                                                           : "the connection is closed: " + pipeline_->broken_reason());
}

}  // namespace keel::pg
