// The simple query protocol: any number of statements without values (execute, run_script), with the data of
// the COPY statements among them, and BEGIN, COMMIT and the savepoints of a transaction on this connection.
module;
#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
module keel.postgres;
import keel.engine;
import keel.postgres.protocol;

namespace asio = boost::asio;
namespace proto = keel::pg::protocol;

namespace keel::pg {

asio::awaitable<void> PgConnection::run_script(std::string_view sql, std::function<void(const TextResult&)> on_result,
                                               std::function<void(std::span<const std::uint8_t>)> copy_out,
                                               std::function<std::string_view()> copy_in) {
  co_await simple_query(sql, std::nullopt, copy_out ? &copy_out : nullptr, &on_result, copy_in ? &copy_in : nullptr);
}

asio::awaitable<void> PgConnection::begin(const TransactionOptions& options) {
  if (is_in_transaction()) throw TransactionError("a transaction is already open on this connection");
  std::string sql = "BEGIN";
  if (options.isolation) {
    switch (*options.isolation) {
      case IsolationLevel::read_uncommitted: sql += " ISOLATION LEVEL READ UNCOMMITTED"; break;
      case IsolationLevel::read_committed: sql += " ISOLATION LEVEL READ COMMITTED"; break;
      case IsolationLevel::repeatable_read: sql += " ISOLATION LEVEL REPEATABLE READ"; break;
      case IsolationLevel::serializable: sql += " ISOLATION LEVEL SERIALIZABLE"; break;
    }
  }
  sql += options.read_only ? " READ ONLY" : "";
  sql += options.deferrable ? " DEFERRABLE" : "";
  co_await execute(sql);
}

asio::awaitable<void> PgConnection::commit() {
  ensure_open();
  std::string tag, lost;
  try {
    tag = co_await execute("COMMIT");
  } catch (const ConnectionError& e) {
    lost = e.what();
  } catch (const TimeoutError& e) {
    if (!is_closed()) throw;
    lost = e.what();
  }
  if (!lost.empty())
    throw CommitOutcomeUnknown(
        "COMMIT was sent but its answer never came, so the transaction may or may not have committed (" + lost + ")");
  if (tag == "ROLLBACK") throw_commit_rolled_back();
}

asio::awaitable<void> PgConnection::savepoint(std::string_view name) {
  validate_identifier(name, "savepoint");
  co_await execute("SAVEPOINT " + std::string(name));
}

asio::awaitable<void> PgConnection::rollback_to(std::string_view name) {
  validate_identifier(name, "savepoint");
  co_await execute("ROLLBACK TO SAVEPOINT " + std::string(name));
}

asio::awaitable<void> PgConnection::release(std::string_view name) {
  validate_identifier(name, "savepoint");
  co_await execute("RELEASE SAVEPOINT " + std::string(name));
}

asio::awaitable<std::string> PgConnection::simple_query(std::string_view sql,
                                                        std::optional<std::chrono::steady_clock::duration> limit,
                                                        CopySink* sink, SimpleReply::ResultHandler* on_result,
                                                        CopySource* source) {
  ensure_open();
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = deadline_for(limit, started);
  auto reply = std::make_shared<SimpleReply>(sink, on_result);
  // With data to give, nobody else may write until the script ends: another request would land inside the COPY.
  ExclusiveHold hold;
  if (source) {
    co_await pipeline_->lock_exclusive(deadline);
    hold.pipeline = pipeline_.get();
    ensure_open();
  } else {
    co_await pipeline_->wait_for_turn(false, deadline);
  }
  const CopyCancellation cancellation = co_await CopyCancellation::begin();
  proto::write_query(pipeline_->out(), sql);
  pipeline_->queue(reply);
  std::exception_ptr failure, source_failure;
  try {
    co_await pipeline_->send_and_wait(*reply, deadline);
    while (!reply->done && reply->copy_ins_asked > reply->copy_ins_answered) {
      ++reply->copy_ins_answered;
      if (source)
        source_failure = co_await send_copy_data(copy_data_from(*source), *reply, cancellation);
      else
        proto::write_copy_fail(pipeline_->out(), "COPY FROM STDIN needs copy_to_table; execute has no data to send");
      co_await pipeline_->send_and_wait(*reply, deadline,
                                        cancellation.came(co_await asio::this_coro::cancellation_state));
    }
    session_changed_ = session_changed_ || reply->changed_session;
    if (source_failure) std::rethrow_exception(source_failure);
    if (reply->refused) std::rethrow_exception(reply->refused);
    reply->rethrow();
    last_status_ = reply->tag;
  } catch (...) {
    failure = std::current_exception();
  }
  co_await cancellation.end();
  co_return logged_outcome(sql, started, failure, reply->tag);
}

}  // namespace keel::pg
