// A transaction on one leased connection: commit, rollback and savepoints. TransactionState is shared by
// the handles users hold (Transaction, Savepoint) and by the context frames that make it context-local.
module;
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <algorithm>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
export module keel.engine:transaction;
import keel.core;
import :connection;
import :context;
import :query_log;
import :statement_runner;
import :sync;

namespace asio = boost::asio;

export namespace keel {

class Savepoint;

/// A transaction on one leased connection, shared by the handles users hold (Transaction, Savepoint) and by
/// the context frames that make it context-local.
class TransactionState final : public StatementRunner, public std::enable_shared_from_this<TransactionState> {
public:
  /// A transaction that `engine` began on `connection`; `loggers` hear its statements.
  TransactionState(const void* engine, ConnectionLease connection, const QueryLoggers* loggers = nullptr)
      : engine_(engine), connection_(std::move(connection)), dialect_(connection_->dialect()), loggers_(loggers) {}

  Dialect dialect() const override { return dialect_; }
  /// The engine that began it, as an identity.
  const void* engine() const noexcept { return engine_; }
  /// Whether it is still open: neither committed nor rolled back.
  bool active() const noexcept { return connection_ != nullptr; }

  asio::awaitable<ExecResult> execute(const Statement& statement, RowSink* sink) override {
    Connection& connection = live("run a query");
    if (!loggers_) co_return co_await connection.execute(statement, sink);
    co_return co_await loggers_->run(statement, sink, [&](RowSink* s) { return connection.execute(statement, s); });
  }
  std::optional<ExecResult> execute_at_once(const Statement& statement, RowSink* sink,
                                            const asio::any_io_executor&) override {
    if (loggers_ && loggers_->active()) return std::nullopt;  // the loggers hear statements in a coroutine
    return live("run a query").execute_at_once(statement, sink);
  }
  asio::awaitable<ExecResult> execute_each(const Statement& statement, std::size_t group_size, RowSink* sink) override {
    Connection& connection = live("run a query");
    if (!loggers_) co_return co_await connection.execute_each(statement, group_size, sink);
    co_return co_await loggers_->run(statement, sink,
                                     [&](RowSink* s) { return connection.execute_each(statement, group_size, s); });
  }
  /// In one round trip where the engine can; one by one while a query logger listens, so that it hears each.
  asio::awaitable<void> execute_all(std::span<const Statement> statements) {
    if (!loggers_ || !loggers_->active()) {
      co_await live("run queries").execute_all(statements);
      co_return;
    }
    for (const Statement& statement : statements) co_await execute(statement, nullptr);
  }
  /// Connection::insert_rows; a query logger hears it as the insert.
  asio::awaitable<ExecResult> insert_rows(const Statement& insert, const InsertTarget& target, RowSink* sink) override {
    Connection& connection = live("run a query");
    if (!loggers_) co_return co_await connection.insert_rows(insert, target, sink);
    co_return co_await loggers_->run(insert, sink,
                                     [&](RowSink* s) { return connection.insert_rows(insert, target, s); });
  }
  /// A cursor over the statement's rows, on the transaction's connection.
  asio::awaitable<std::unique_ptr<Cursor>> open_cursor(Statement statement) {
    co_return co_await live("open a cursor").open_cursor(std::move(statement));
  }

  /// Commits. The connection goes back to its pool whatever COMMIT answers.
  asio::awaitable<void> commit() { return end(&Connection::commit, "commit", "committed"); }
  /// Rolls back. The connection goes back to its pool whatever ROLLBACK answers.
  asio::awaitable<void> rollback() { return end(&Connection::rollback, "roll back", "rolled back"); }

  /// A savepoint named `name`, or a generated name (see Transaction::savepoint).
  asio::awaitable<Savepoint> savepoint(std::optional<std::string> name);
  /// Rolls back to the latest savepoint named `name`, which must be an identifier.
  asio::awaitable<void> rollback_to(std::string name) {
    validate_identifier(name, "savepoint");
    co_await execute(Statement("ROLLBACK TO SAVEPOINT " + name), nullptr);
  }
  /// Releases the latest savepoint named `name`, which must be an identifier.
  asio::awaitable<void> release(std::string name) {
    validate_identifier(name, "savepoint");
    co_await execute(Statement("RELEASE SAVEPOINT " + name), nullptr);
  }

private:
  // The connection goes back to its pool whatever COMMIT or ROLLBACK says: a failed COMMIT ends the
  // transaction too, and the pool's reset rolls back whatever the server kept.
  asio::awaitable<void> end(asio::awaitable<void> (Connection::*finish)(), std::string_view action,
                            const char* outcome) {
    live(action);
    ConnectionLease lease = std::move(connection_);
    outcome_ = outcome;
    std::exception_ptr failure;
    try {
      co_await ((*lease).*finish)();
    } catch (...) {
      failure = std::current_exception();
    }
    if (!give_back_at_once(lease)) {
      // Also when the caller was cancelled while the server committed: what it answered stands.
      const bool throws = co_await asio::this_coro::throw_if_cancelled();
      if (throws) co_await asio::this_coro::throw_if_cancelled(false);
      try {
        co_await give_back(std::move(lease));
      } catch (...) {
        if (!failure) failure = std::current_exception();
      }
      if (throws) co_await asio::this_coro::throw_if_cancelled(true);
    }
    if (failure) std::rethrow_exception(failure);
  }

  Connection& live(std::string_view action) const {
    if (!connection_)
      throw TransactionError("cannot " + std::string(action) + ": the transaction was already " + outcome_);
    return *connection_;
  }

  const void* engine_;
  ConnectionLease connection_;
  Dialect dialect_;
  std::string outcome_;
  const QueryLoggers* loggers_;
  std::uint64_t next_savepoint_ = 0;
  std::vector<std::string> savepoint_names_;  // every name used in this transaction, given or generated
};

/// A named point inside a transaction to roll back to.
class Savepoint {
public:
  Savepoint() = default;  ///< empty, for Asio's completion handlers; obtain savepoints from a transaction
  /// The savepoint `name` of `transaction`.
  Savepoint(std::shared_ptr<TransactionState> transaction, std::string name)
      : transaction_(std::move(transaction)), name_(std::move(name)) {}
  /// The savepoint's name.
  const std::string& name() const noexcept { return name_; }
  /// Rolls back to this savepoint, which stays for another rollback.
  asio::awaitable<void> rollback_to() { return transaction_->rollback_to(name_); }
  /// Releases it: its changes stay in the transaction, and it can no longer be rolled back to.
  asio::awaitable<void> release() { return transaction_->release(name_); }
  /// rollback_to() to completion on the calling thread's private event loop.
  void rollback_to_sync() { keel::run_sync(rollback_to()); }
  /// release() to completion on the calling thread's private event loop.
  void release_sync() { keel::run_sync(release()); }

private:
  std::shared_ptr<TransactionState> transaction_;
  std::string name_;
};

inline asio::awaitable<Savepoint> TransactionState::savepoint(std::optional<std::string> name) {
  // A generated name skips every name used in this transaction: rolling back to a name goes to the latest
  // savepoint of that name, so a generated one must never shadow the user's.
  auto used = [&](const std::string& n) { return std::ranges::find(savepoint_names_, n) != savepoint_names_.end(); };
  std::string chosen;
  if (name)
    chosen = std::move(*name);
  else
    do chosen = "keel_savepoint_" + std::to_string(++next_savepoint_);
    while (used(chosen));
  validate_identifier(chosen, "savepoint");
  if (!used(chosen)) savepoint_names_.push_back(chosen);
  co_await execute(Statement("SAVEPOINT " + chosen), nullptr);
  co_return Savepoint(shared_from_this(), std::move(chosen));
}

/// The handle users hold. It is also a StatementRunner, so `query.run(tx)` runs on it explicitly.
class Transaction final : public StatementRunner {
public:
  Transaction() = default;  ///< an empty handle, as a moved-from one; using it throws TransactionError
  /// A handle on `state`.
  explicit Transaction(std::shared_ptr<TransactionState> state) : state_(std::move(state)) {}

  Dialect dialect() const override { return checked().dialect(); }
  asio::awaitable<ExecResult> execute(const Statement& statement, RowSink* sink) override {
    return checked().execute(statement, sink);
  }
  std::optional<ExecResult> execute_at_once(const Statement& statement, RowSink* sink,
                                            const asio::any_io_executor& executor) override {
    return checked().execute_at_once(statement, sink, executor);
  }
  asio::awaitable<ExecResult> execute_each(const Statement& statement, std::size_t group_size, RowSink* sink) override {
    return checked().execute_each(statement, group_size, sink);
  }
  asio::awaitable<ExecResult> insert_rows(const Statement& insert, const InsertTarget& target, RowSink* sink) override {
    return checked().insert_rows(insert, target, sink);
  }
  /// Whether the transaction is still open.
  bool active() const noexcept { return state_ && state_->active(); }
  /// Commits; any later use throws TransactionError.
  asio::awaitable<void> commit() { return checked().commit(); }
  /// Rolls back; any later use throws TransactionError.
  asio::awaitable<void> rollback() { return checked().rollback(); }
  /// A savepoint named `name`, or a generated name (keel_savepoint_1, _2, ...) when none is given.
  asio::awaitable<Savepoint> savepoint(std::optional<std::string> name = std::nullopt) {
    return checked().savepoint(std::move(name));
  }
  /// Rolls back to the latest savepoint named `name`.
  asio::awaitable<void> rollback_to(std::string name) { return checked().rollback_to(std::move(name)); }
  /// Releases the latest savepoint named `name`.
  asio::awaitable<void> release(std::string name) { return checked().release(std::move(name)); }

  /// commit() to completion on the calling thread's private event loop.
  void commit_sync() { keel::run_sync(commit()); }
  /// rollback() to completion on the calling thread's private event loop.
  void rollback_sync() { keel::run_sync(rollback()); }
  /// savepoint() to completion on the calling thread's private event loop.
  Savepoint savepoint_sync(std::optional<std::string> name = std::nullopt) {
    return keel::run_sync(savepoint(std::move(name)));
  }
  /// rollback_to() to completion on the calling thread's private event loop.
  void rollback_to_sync(std::string name) { keel::run_sync(rollback_to(std::move(name))); }
  /// release() to completion on the calling thread's private event loop.
  void release_sync(std::string name) { keel::run_sync(release(std::move(name))); }

  /// The shared state, which the context frames of its scope hold.
  const std::shared_ptr<TransactionState>& state() const noexcept { return state_; }

private:
  TransactionState& checked() const {
    if (!state_) throw TransactionError("this Transaction handle is empty");
    return *state_;
  }
  std::shared_ptr<TransactionState> state_;
};

}  // namespace keel

// Where the context's transaction and the default engine are found: the engine's own, not exported.
namespace keel {

/// The innermost transaction in the chain that belongs to `engine`, or to any engine when engine is null.
inline std::shared_ptr<TransactionState> find_transaction(const FramePtr& frame, const void* engine) {
  for (const ContextFrame* f = frame.get(); f; f = f->parent.get())
    if (f->transaction && f->transaction->active() && (!engine || f->transaction->engine() == engine))
      return f->transaction;
  return nullptr;
}

/// The engine that queries run on when none is named and no transaction is in scope.
inline std::shared_ptr<StatementRunner>& default_runner_slot() {
  static std::shared_ptr<StatementRunner> runner;
  return runner;
}

}  // namespace keel

export namespace keel {

/// Where a query with no explicit engine runs, for a coroutine on `executor`: the innermost transaction in
/// scope, else the default engine.
inline std::shared_ptr<StatementRunner> runner_for(const asio::any_io_executor& executor) {
  if (auto transaction = find_transaction(frame_of(executor), nullptr)) return transaction;
  if (auto runner = default_runner_slot()) return runner;
  throw MisuseError(
      "no engine to run the query on: no transaction is in scope and no default engine is installed; call "
      "keel::set_default_engine(...) or pass an engine or a transaction to run()");
}

/// Where a query with no explicit engine runs: the innermost transaction in scope, else the default engine.
inline asio::awaitable<std::shared_ptr<StatementRunner>> current_runner() {
  co_return runner_for(co_await asio::this_coro::executor);
}

}  // namespace keel
