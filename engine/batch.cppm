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
      : state_(std::make_unique<State>(
            State{std::move(transaction), owns_transaction, std::move(cursor), std::move(collector), batch_size})) {}

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
    const bool throws = co_await asio::this_coro::throw_if_cancelled();
    co_await asio::this_coro::throw_if_cancelled(false);  // see end_transaction
    failure = co_await end_transaction(s, failure, throws);
    co_await asio::this_coro::throw_if_cancelled(throws);
    if (failure) std::rethrow_exception(failure);
    co_return std::nullopt;
  }

  /// Stops early and commits the owned transaction.
  asio::awaitable<void> finish() {
    if (!state_) co_return;
    State& s = *state_;
    if (s.done) co_return;
    s.done = true;
    s.cursor.reset();
    const bool throws = co_await asio::this_coro::throw_if_cancelled();
    co_await asio::this_coro::throw_if_cancelled(false);  // see end_transaction
    const std::exception_ptr failure = co_await end_transaction(s, nullptr, throws);
    co_await asio::this_coro::throw_if_cancelled(throws);
    if (failure) std::rethrow_exception(failure);
  }

  /// next() to completion on the calling thread's private event loop.
  std::optional<batch_type> next_sync() { return keel::run_sync(next()); }
  /// finish() to completion on the calling thread's private event loop.
  void finish_sync() { keel::run_sync(finish()); }

private:
  struct State;
  // After the last batch: commits the owned transaction, or rolls it back after a failure or a cancellation of
  // this coroutine. A cancelled coroutine stays cancelled, as Asio's rule has it, and would throw at every
  // co_await: the caller turns throw_if_cancelled off around this (`throws`: its setting). Returns the failure
  // to rethrow: the given one, COMMIT's, or CanceledError for the cancellation.
  static asio::awaitable<std::exception_ptr> end_transaction(State& s, std::exception_ptr failure, bool throws) {
    const bool cancelled =
        throws && (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none;
    if (!s.owns_transaction || !s.transaction->active()) co_return failure;
    try {
      if (failure || cancelled)
        co_await s.transaction->rollback();
      else
        co_await s.transaction->commit();
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
    if (!failure && cancelled)
      failure = std::make_exception_ptr(
          CanceledError("the coroutine reading the batches was cancelled; their transaction was rolled back"));
    co_return failure;
  }

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
