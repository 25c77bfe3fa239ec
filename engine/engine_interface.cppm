// The Engine: what queries run on. An engine lends connections (acquire) and knows its dialect; everything
// else here (context-local transactions, atomic runs, batch iteration, raw queries, the sync forms) is built
// once on top of that, the same for every engine.
module;
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>
#include <cstddef>
#include <map>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
export module keel.engine:engine;
import keel.core;
import :atomic;
import :batch;
import :connection;
import :context;
import :query_log;
import :raw_query;
import :statement_runner;
import :sync;
import :transaction;

namespace asio = boost::asio;

// How a transaction calls its body: the engine's own, not exported.
namespace keel {

/// A transaction's body: callable with a Transaction&, or with nothing.
template <class F>
concept TransactionBody = std::invocable<F&, Transaction&> || std::invocable<F&>;

/// Calls `body` with the transaction, or with nothing when it takes nothing.
template <class F>
auto invoke_body(F& body, Transaction& transaction) {
  if constexpr (std::invocable<F&, Transaction&>)
    return body(transaction);
  else
    return body();
}

/// What a transaction body returns: an awaitable of the transaction's result.
template <class F>
using body_result_t = decltype(invoke_body(std::declval<F&>(), std::declval<Transaction&>()));

}  // namespace keel

export namespace keel {

/// What queries run on. An engine lends connections and knows its dialect; transactions, atomic runs, batches,
/// raw queries and the sync forms are built on that, the same for every engine.
class Engine : public StatementRunner {
public:
  ~Engine() override = default;

  Dialect dialect() const override = 0;
  /// The database's version, as it reports it ("3.40.1", "15.4").
  virtual asio::awaitable<std::string> version() = 0;
  /// Closes the engine's connections; connections in use close when they come back.
  virtual asio::awaitable<void> close() = 0;
  /// Lends a connection for exclusive use. Low level: prefer queries, transactions and batches.
  virtual asio::awaitable<ConnectionLease> acquire() = 0;
  /// A connection at once when one is idle, without waiting; an empty lease otherwise.
  virtual ConnectionLease try_acquire() { return {}; }
  /// Whether its connections may run a statement at once (Connection::execute_at_once), and take back at once
  /// the connection that ran it: an embedded database's can.
  virtual bool runs_at_once() const noexcept { return false; }

  /// Runs a statement on this engine's transaction in scope, else on a connection of its own.
  asio::awaitable<ExecResult> execute(const Statement& statement, RowSink* sink) override {
    if (auto transaction = find_transaction(frame_of(co_await asio::this_coro::executor), this))
      co_return co_await transaction->execute(statement, sink);
    co_return co_await on_own_connection(statement, sink,
                                         [&](Connection& c, RowSink* s) { return c.execute(statement, s); });
  }

  /// StatementRunner::execute_at_once on this engine's transaction in scope, else on an idle connection.
  std::optional<ExecResult> execute_at_once(const Statement& statement, RowSink* sink,
                                            const asio::any_io_executor& executor) override {
    if (!runs_at_once() || query_loggers_.active()) return std::nullopt;  // the loggers hear statements in a coroutine
    if (auto transaction = find_transaction(frame_of(executor), this))
      return transaction->execute_at_once(statement, sink, executor);
    // A failure drops the lease, as in execute(); either way it is back when this returns.
    ConnectionLease connection = try_acquire();
    if (!connection) return std::nullopt;
    return connection->execute_at_once(statement, sink);
  }

  /// StatementRunner::execute_each on this engine's transaction in scope, else on a connection of its own (each run
  /// then commits by itself: prefer a transaction).
  asio::awaitable<ExecResult> execute_each(const Statement& statement, std::size_t group_size, RowSink* sink) override {
    if (auto transaction = find_transaction(frame_of(co_await asio::this_coro::executor), this))
      co_return co_await transaction->execute_each(statement, group_size, sink);
    co_return co_await on_own_connection(
        statement, sink, [&](Connection& c, RowSink* s) { return c.execute_each(statement, group_size, s); });
  }

  /// StatementRunner::insert_rows on this engine's transaction in scope, else on a connection of its own.
  asio::awaitable<ExecResult> insert_rows(const Statement& insert, const InsertTarget& target, RowSink* sink) override {
    if (auto transaction = find_transaction(frame_of(co_await asio::this_coro::executor), this))
      co_return co_await transaction->insert_rows(insert, target, sink);
    co_return co_await on_own_connection(insert, sink,
                                         [&](Connection& c, RowSink* s) { return c.insert_rows(insert, target, s); });
  }

  // ---- Named nodes (Piccolo's extra_nodes): other engines this one knows by name, a read replica say. A
  // query or a batch goes to one through it:
  //   auto bands = co_await keel::select<Band>().run(db.node("replica"));
  //   auto batches = co_await db.node("replica").batch(query, 100);
  // Add nodes before the engine is shared between threads.
  /// Adds `engine` as the node `name`, replacing one of that name. Add nodes before the engine is shared between
  /// threads.
  void add_node(std::string name, std::shared_ptr<Engine> engine) {
    if (!engine) throw MisuseError("keel: node '" + name + "' is an empty engine");
    nodes_.insert_or_assign(std::move(name), std::move(engine));
  }
  /// The node named `name`; throws MisuseError when there is none.
  Engine& node(std::string_view name) const {
    if (auto found = nodes_.find(name); found != nodes_.end()) return *found->second;
    throw MisuseError("keel: this engine has no node named '" + std::string(name) + "'");
  }

  // ---- Query loggers: each statement this engine runs (in its transactions too), with its values, time,
  // rows and error. A logger that throws does not fail the statement.
  /// Adds a logger that hears each statement this engine runs, in its transactions too; the id removes it.
  QueryLoggerId add_query_logger(QueryLogger logger) { return query_loggers_.add(std::move(logger)); }
  /// Removes the logger `id` names.
  void remove_query_logger(QueryLoggerId id) { query_loggers_.remove(id); }

  // ---- Queries
  /// Runs `query` on this engine: on its transaction in scope, else on a connection of its own.
  template <Query Q>
  asio::awaitable<typename Q::result_type> run(Q query) {
    return run_query(*this, std::move(query));
  }
  /// Runs a raw query: `sql` with {} placeholders, each bound to the next argument.
  template <class... Args>
  asio::awaitable<Rows> raw(RawSql<std::type_identity_t<Args>...> sql, Args&&... args) {
    return run_query(*this, keel::raw<Args...>(sql, std::forward<Args>(args)...));
  }

  // ---- Transactions
  /// An explicit transaction: run queries on it with query.run(tx), then commit() or rollback(). It is not
  /// context-local; engine.transaction(body) is.
  asio::awaitable<Transaction> begin(TransactionOptions options = {}) {
    const asio::cancellation_state cancellation = co_await asio::this_coro::cancellation_state;
    const bool throws = co_await asio::this_coro::throw_if_cancelled();
    ConnectionLease connection = try_acquire();
    if (!connection) connection = co_await acquire();
    refuse_if_cancelled(connection, cancellation, throws,
                        "the transaction was cancelled as its connection came; it did not begin");
    std::exception_ptr failure;
    try {
      co_await connection->begin(options);
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      connection.reset();  // dropped, not awaited: after an Asio cancellation a co_await would throw instead
      rethrow(failure, cancellation, "the transaction was cancelled before it began");
    }
    co_return Transaction(std::make_shared<TransactionState>(this, std::move(connection), &query_loggers_));
  }

  /// Runs body (taking Transaction& or nothing, returning an awaitable) in a transaction that every query
  /// it runs, directly or in coroutines it awaits, uses without being told. Commits when the body returns,
  /// rolls back when it throws. Inside another transaction on this engine it joins that one, or throws
  /// TransactionError when options.allow_nested is false.
  template <TransactionBody F>
  body_result_t<F> transaction(TransactionOptions options, F body) {
    using R = typename body_result_t<F>::value_type;
    const FramePtr frame = frame_of(co_await asio::this_coro::executor);
    if (auto outer = find_transaction(frame, this)) {
      if (!options.allow_nested) throw nested_refused();
      Transaction joined(outer);
      co_return co_await invoke_body(body, joined);
    }
    Transaction transaction = co_await begin(options);
    auto scope = std::make_shared<const ContextFrame>(ContextFrame{transaction.state(), frame});
    std::exception_ptr failure;
    std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> result{};
    try {
      if constexpr (std::is_void_v<R>) {
        co_await run_in_frame(scope, [&]() { return invoke_body(body, transaction); });
      } else {
        result.emplace(co_await run_in_frame(scope, [&]() { return invoke_body(body, transaction); }));
      }
    } catch (...) {
      failure = std::current_exception();
    }
    // A coroutine cancelled while its transaction ran (BEGIN, the body, or a statement the server finished
    // before the cancel reached it) stays cancelled, as Asio's rule has it: the transaction does not commit.
    // (A body that committed itself has nothing left to roll back: its commit stands.)
    const bool throws = co_await asio::this_coro::throw_if_cancelled();
    const bool cancelled =
        throws && (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none;
    if ((failure || cancelled) && transaction.active()) {
      // The rollback runs even after an Asio cancellation of this coroutine, when every co_await would throw.
      co_await asio::this_coro::throw_if_cancelled(false);
      std::exception_ptr rollback_failure;
      try {
        co_await transaction.rollback();
      } catch (...) {
        rollback_failure = std::current_exception();
      }
      co_await asio::this_coro::throw_if_cancelled(throws);
      if (rollback_failure) std::rethrow_exception(rollback_failure);
      // Asio's operation_aborted at a co_await of the cancelled body, or no failure at all: said as keel's error.
      if (cancelled && (!failure || is_operation_aborted(failure)))
        throw CanceledError(
            "the transaction's coroutine was cancelled before it committed; the transaction was rolled back");
    }
    if (failure) std::rethrow_exception(failure);
    if (transaction.active()) co_await transaction.commit();  // unless the body ended it itself
    if constexpr (!std::is_void_v<R>) co_return std::move(*result);
  }
  /// transaction(options, body) with the default options.
  template <TransactionBody F>
  body_result_t<F> transaction(F body) {
    return transaction(TransactionOptions{}, std::move(body));
  }

  /// This engine's transaction in scope of the calling coroutine, if any.
  asio::awaitable<std::optional<Transaction>> current_transaction() {
    if (auto state = find_transaction(co_await current_frame(), this)) co_return Transaction(state);
    co_return std::nullopt;
  }
  /// Whether the calling coroutine is inside a transaction scope of this engine (Piccolo's transaction_exists).
  asio::awaitable<bool> transaction_exists() { co_return find_transaction(co_await current_frame(), this) != nullptr; }

  /// The version as major.minor: 15.4 for "15.4 (Debian 15.4-1)", 3.4 for SQLite's "3.40.1" (Piccolo's
  /// get_version); 0 when the text does not start with a number.
  asio::awaitable<double> version_number() { co_return major_minor(co_await version()); }

  // ---- Atomic runs and batches
  /// An atomic run on this engine: queries queued with add(), then run in one transaction.
  Atomic atomic() { return Atomic(*this); }

  /// The rows of `query` in batches of at most `batch_size`, read through a cursor in a transaction: this engine's
  /// transaction in scope, else one of their own (read-only for a query that only reads).
  template <Query Q>
  asio::awaitable<Batches<Q>> batch(Q query, std::size_t batch_size) {
    if (batch_size == 0) throw MisuseError("batch_size must be at least 1");
    std::shared_ptr<TransactionState> transaction =
        find_transaction(frame_of(co_await asio::this_coro::executor), this);
    const bool owns_transaction = !transaction;
    // The batches of a query that only reads (an ORM select) take no write lock.
    if (owns_transaction) transaction = (co_await begin(TransactionOptions{.read_only = reads_only<Q>})).state();
    const asio::cancellation_state cancellation = co_await asio::this_coro::cancellation_state;
    std::unique_ptr<Cursor> cursor;
    std::exception_ptr failure;
    try {
      cursor = co_await transaction->open_cursor(query.statement(dialect()));
    } catch (...) {
      failure = std::current_exception();
    }
    // A transaction of its own ends with the batch: dropped, it rolls back as its connection goes back.
    if (failure) rethrow(failure, cancellation, "the batch was cancelled before its cursor was open");
    co_return Batches<Q>(std::move(transaction), owns_transaction, std::move(cursor), query.collector(), batch_size);
  }

  // ---- Sync forms: each runs its async form on a private event loop on the calling thread. Calling one
  // on a thread that runs an event loop throws SyncCallInEventLoopError.
  /// version() to completion on the calling thread's private event loop.
  std::string version_sync() { return keel::run_sync(version()); }
  /// close() to completion on the calling thread's private event loop.
  void close_sync() { keel::run_sync(close()); }
  /// run(query) to completion on the calling thread's private event loop.
  template <Query Q>
  typename Q::result_type run_sync(Q query) {
    return keel::run_sync(run(std::move(query)));
  }
  /// raw(sql, args...) to completion on the calling thread's private event loop.
  template <class... Args>
  Rows raw_sync(RawSql<std::type_identity_t<Args>...> sql, Args&&... args) {
    return keel::run_sync(run_query(*this, keel::raw<Args...>(sql, std::forward<Args>(args)...)));
  }
  /// begin(options) to completion on the calling thread's private event loop.
  Transaction begin_sync(TransactionOptions options = {}) { return keel::run_sync(begin(options)); }
  /// batch(query, batch_size) to completion on the calling thread's private event loop.
  template <Query Q>
  Batches<Q> batch_sync(Q query, std::size_t batch_size) {
    return keel::run_sync(batch(std::move(query), batch_size));
  }

  /// body(Transaction&) or body() runs synchronously on this thread; the sync calls it makes (query.run_sync(),
  /// engine.run_sync(...)) use the transaction.
  template <class F>
    requires std::invocable<F&, Transaction&> || std::invocable<F&>
  auto transaction_sync(TransactionOptions options, F body) {
    ensure_not_in_event_loop();
    if (auto outer = find_transaction(thread_frame(), this)) {
      if (!options.allow_nested) throw nested_refused();
      Transaction joined(outer);
      return invoke_body(body, joined);
    }
    Transaction transaction = begin_sync(options);
    ThreadFrameScope scope(std::make_shared<const ContextFrame>(ContextFrame{transaction.state(), thread_frame()}));
    try {
      if constexpr (std::is_void_v<decltype(invoke_body(body, transaction))>) {
        invoke_body(body, transaction);
        if (transaction.active()) keel::run_sync(transaction.commit());
      } else {
        auto result = invoke_body(body, transaction);
        if (transaction.active()) keel::run_sync(transaction.commit());
        return result;
      }
    } catch (...) {
      if (transaction.active()) keel::run_sync(transaction.rollback());
      throw;
    }
  }
  /// transaction_sync(options, body) with the default options.
  template <class F>
    requires std::invocable<F&, Transaction&> || std::invocable<F&>
  auto transaction_sync(F body) {
    return transaction_sync(TransactionOptions{}, std::move(body));
  }

private:
  // Whether `failure` is Asio's operation_aborted, which a co_await of a cancelled coroutine throws.
  static bool is_operation_aborted(const std::exception_ptr& failure) noexcept {
    try {
      std::rethrow_exception(failure);
    } catch (const boost::system::system_error& e) {
      return e.code() == asio::error::operation_aborted;
    } catch (...) {}
    return false;
  }
  // Rethrows a call's failure; Asio's operation_aborted, thrown at a co_await of a coroutine cancelled between two
  // steps (after its connection came, before its statement went), as keel's CanceledError saying `what`.
  // A caller cancelled while its connection came (a pool lends one when its wait or its open completes all the
  // same) sends nothing: the connection goes back, and the caller gets CanceledError, not Asio's operation_aborted
  // from its next co_await.
  // (Not a coroutine: a co_await of one would throw that operation_aborted itself.)
  static void refuse_if_cancelled(ConnectionLease& connection, const asio::cancellation_state& cancellation,
                                  bool throws_if_cancelled, const char* what) {
    if (throws_if_cancelled && cancellation.cancelled() != asio::cancellation_type::none) {
      connection.reset();
      throw CanceledError(what);
    }
  }
  [[noreturn]] static void rethrow(const std::exception_ptr& failure, const asio::cancellation_state& cancellation,
                                   const char* what) {
    if (cancellation.cancelled() != asio::cancellation_type::none && is_operation_aborted(failure))
      throw CanceledError(what);
    std::rethrow_exception(failure);
  }

  // Runs `call` on a connection of this engine's own, heard by the query loggers, and hands the connection back.
  template <class Call>
  asio::awaitable<ExecResult> on_own_connection(const Statement& statement, RowSink* sink, Call call) {
    const asio::cancellation_state cancellation = co_await asio::this_coro::cancellation_state;
    const bool throws = co_await asio::this_coro::throw_if_cancelled();
    ConnectionLease connection = try_acquire();
    if (!connection) connection = co_await acquire();
    refuse_if_cancelled(connection, cancellation, throws,
                        "the statement was cancelled as its connection came; it was not sent");
    std::exception_ptr failure;
    ExecResult result;
    try {
      if (query_loggers_.active()) {
        result = co_await query_loggers_.run(statement, sink, [&](RowSink* s) { return call(*connection, s); });
      } else {
        result = co_await call(*connection, sink);
      }
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      // Dropped, not awaited: after an Asio cancellation every co_await here would throw instead.
      connection.reset();
      // (A call of several steps, execute_each one run at a time, say: the runs before the cancellation stand.)
      rethrow(failure, cancellation, "the call was cancelled between two of its steps; the steps before it stand");
    }
    if (!give_back_at_once(connection)) {
      // Also when the caller was cancelled while the server finished its statement: the result stands, and the
      // caller's next co_await throws, not this one.
      if (throws) co_await asio::this_coro::throw_if_cancelled(false);
      try {
        co_await give_back(std::move(connection));
      } catch (...) {
        failure = std::current_exception();
      }
      if (throws) co_await asio::this_coro::throw_if_cancelled(true);
      if (failure) std::rethrow_exception(failure);
    }
    co_return result;
  }

  QueryLoggers query_loggers_;
  std::map<std::string, std::shared_ptr<Engine>, std::less<>> nodes_;

  static double major_minor(std::string_view version) {
    double number = 0, scale = 0;
    bool in_minor = false;
    for (char c : version) {
      if (c == '.' && !in_minor) {
        in_minor = true;
        scale = 0.1;
      } else if (c >= '0' && c <= '9') {
        if (in_minor) {
          number += (c - '0') * scale;
          scale /= 10;
        } else {
          number = number * 10 + (c - '0');
        }
      } else {
        break;
      }
    }
    return number;
  }
  static TransactionError nested_refused() {
    return TransactionError(
        "a transaction is already in progress on this engine, and this one was opened with allow_nested = false");
  }
};

/// Installs the engine that queries run on when no engine is named and no transaction is in scope.
inline void set_default_engine(std::shared_ptr<Engine> engine) { default_runner_slot() = std::move(engine); }

// ---- Atomic's members that need the Engine (not inline: in a module they are emitted here, once).
Atomic::Atomic(Engine& engine) : state_(std::make_shared<State>(State{&engine, engine.dialect(), {}})) {}

asio::awaitable<void> Atomic::run_queue(std::shared_ptr<State> state) {
  std::vector<Statement> queue = std::exchange(state->queue, {});
  if (queue.empty()) co_return;
  co_await state->engine->transaction(
      [&](Transaction& transaction) -> asio::awaitable<void> { co_await transaction.state()->execute_all(queue); });
}

void Atomic::run_sync() { keel::run_sync(run()); }

}  // namespace keel
