// Batch iteration: a query's rows in typed batches of at most batch_size, read through a cursor inside a
// transaction. The transaction commits when the rows run out (or at finish()), and rolls back on an error;
// dropping the Batches early rolls it back too. Inside a transaction scope the batches join that transaction.
//   auto batches = co_await engine.batch(keel::raw("select * from band"), 100);
//   while (auto batch = co_await batches.next()) { for (auto& row : *batch) ... }
module;
#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <utility>
export module keel.engine:batch;
import keel.core;
import :connection;
import :statement_runner;
import :sync;
import :transaction;

namespace asio = boost::asio;

export namespace keel {

/// A query's rows in batches of at most batch_size, read through a cursor inside a transaction (see Engine::batch).
template <Query Q>
class Batches {
public:
  /// One batch: the query's result type, holding at most batch_size rows.
  using batch_type = typename Q::result_type;

  Batches() = default;  ///< empty, for Asio's completion handlers; obtain batches from Engine::batch

  /// Batches read through `cursor`; with `owns_transaction` they end `transaction` too. Engine::batch makes them.
  Batches(std::shared_ptr<TransactionState> transaction, bool owns_transaction, std::unique_ptr<Cursor> cursor,
          collector_t<Q> collector, std::size_t batch_size)
      : state_(std::make_unique<State>(State{std::move(transaction), owns_transaction, std::move(cursor),
                                             std::move(collector), batch_size})) {}

  /// The next batch, or nullopt when the rows have run out (the owned transaction is committed then).
  asio::awaitable<std::optional<batch_type>> next() {
    if (!state_) throw MisuseError("this Batches handle is empty");
    State& s = *state_;
    if (s.done) co_return std::nullopt;
    std::exception_ptr failure;
    try {
      const std::size_t count = co_await s.cursor->fetch(s.batch_size, s.collector);
      if (count > 0) co_return s.collector.result(ExecResult{});
    } catch (...) {
      failure = std::current_exception();
    }
    s.done = true;
    s.cursor.reset();
    if (failure) {
      if (s.owns_transaction && s.transaction->active()) {
        // Also after an Asio cancellation of this coroutine, when every co_await would throw.
        const bool throws = co_await asio::this_coro::throw_if_cancelled();
        co_await asio::this_coro::throw_if_cancelled(false);
        std::exception_ptr rollback_failure;
        try {
          co_await s.transaction->rollback();
        } catch (...) {
          rollback_failure = std::current_exception();
        }
        co_await asio::this_coro::throw_if_cancelled(throws);
        if (rollback_failure) std::rethrow_exception(rollback_failure);
      }
      std::rethrow_exception(failure);
    }
    if (s.owns_transaction) co_await s.transaction->commit();
    co_return std::nullopt;
  }

  /// Stops early and commits the owned transaction.
  asio::awaitable<void> finish() {
    if (!state_) co_return;
    State& s = *state_;
    if (s.done) co_return;
    s.done = true;
    s.cursor.reset();
    if (s.owns_transaction) co_await s.transaction->commit();
  }

  /// next() to completion on the calling thread's private event loop.
  std::optional<batch_type> next_sync() { return keel::run_sync(next()); }
  /// finish() to completion on the calling thread's private event loop.
  void finish_sync() { keel::run_sync(finish()); }

private:
  struct State {
    std::shared_ptr<TransactionState> transaction;
    bool owns_transaction;
    std::unique_ptr<Cursor> cursor;
    collector_t<Q> collector;
    std::size_t batch_size;
    bool done = false;
  };
  std::unique_ptr<State> state_;
};

}  // namespace keel
