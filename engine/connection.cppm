// What an engine lends out: one connection (a session on the database), held exclusively by its borrower
// and handed back to its pool when the lease ends, which resets it (rolls back an open transaction).
module;
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>
export module keel.engine:connection;
import keel.core;
import :statement_runner;

namespace asio = boost::asio;

export namespace keel {

/// A transaction's isolation level, as SQL names it.
enum class IsolationLevel { read_uncommitted, read_committed, repeatable_read, serializable };

/// How a transaction begins.
struct TransactionOptions {
  bool allow_nested = true;  ///< inside a transaction on the same engine: join it (true) or throw TransactionError
  std::optional<IsolationLevel> isolation;  ///< the engine's default when empty; SQLite is always serializable
  /// Begins READ ONLY (SQLite: DEFERRED, with PRAGMA query_only).
  bool read_only = false;
  bool deferrable = false;  ///< PostgreSQL: serializable, read-only, deferrable
};

/// A server-side (or engine-side) cursor over one statement's rows, read in batches.
class Cursor {
public:
  virtual ~Cursor() = default;
  /// Hands at most max_rows rows to the sink; returns how many it handed over (fewer at the end).
  virtual asio::awaitable<std::size_t> fetch(std::size_t max_rows, RowSink& sink) = 0;
};

/// One session on the database, lent by an engine to one borrower at a time (see ConnectionLease).
class Connection {
public:
  virtual ~Connection() = default;
  /// The SQL dialect of the statements it runs.
  virtual Dialect dialect() const = 0;
  /// Runs one statement, handing its rows to `sink` (none: the rows are dropped).
  virtual asio::awaitable<ExecResult> execute(const Statement& statement, RowSink* sink) = 0;
  /// StatementRunner::execute_at_once on this connection: by default it never can.
  virtual std::optional<ExecResult> execute_at_once(const Statement& statement, RowSink* sink) {
    (void)statement, (void)sink;
    return std::nullopt;
  }
  /// Runs statements in order, stopping at the first error; one round trip where the engine can.
  virtual asio::awaitable<void> execute_all(std::span<const Statement> statements) {
    for (const Statement& s : statements) co_await execute(s, nullptr);
  }
  /// StatementRunner::execute_each on this connection; by one execute per run where the engine has nothing better.
  virtual asio::awaitable<ExecResult> execute_each(const Statement& statement, std::size_t group_size, RowSink* sink) {
    return execute_each_by_one(*this, statement, group_size, sink);
  }
  /// StatementRunner::insert_rows on this connection: `insert` is an `INSERT INTO <target> (<columns>)` of
  /// placeholders alone, laid out as target.layout says, returning target.returned_key if it names one. By
  /// default, the insert itself.
  virtual asio::awaitable<ExecResult> insert_rows(const Statement& insert, const InsertTarget& target, RowSink* sink) {
    (void)target;
    return execute(insert, sink);
  }
  /// Begins a transaction on this connection.
  virtual asio::awaitable<void> begin(const TransactionOptions& options) = 0;
  /// Commits the open transaction.
  virtual asio::awaitable<void> commit() = 0;
  /// Rolls back the open transaction.
  virtual asio::awaitable<void> rollback() = 0;
  /// A cursor over the statement's rows, read in batches (inside a transaction).
  virtual asio::awaitable<std::unique_ptr<Cursor>> open_cursor(Statement statement) = 0;
};

class ConnectionOwner;

/// A lease's deleter: hands the connection back to the owner that lent it.
struct ReturnToOwner {
  ConnectionOwner* owner = nullptr;  ///< where the connection goes back to
  /// Releases `connection` to its owner.
  void operator()(Connection* connection) const noexcept;
};

/// A connection lent for exclusive use; it goes back to its owner when the lease ends.
using ConnectionLease = std::unique_ptr<Connection, ReturnToOwner>;

/// Where a lease goes back to.
class ConnectionOwner {
public:
  /// A lease dropped: the connection goes back in the background.
  virtual void release(Connection* connection) noexcept = 0;
  /// Whether release() puts the connection back at once, where it is called (its reset done there), so that a
  /// caller need not await give_back.
  virtual bool gives_back_at_once() const noexcept { return false; }
  /// A lease handed back by a caller that can wait: the connection is back (reset where it needs it) when this
  /// returns, so that the caller's next acquire finds it. keel's own code hands leases back this way.
  virtual asio::awaitable<void> give_back(ConnectionLease lease) {
    lease.reset();
    co_return;
  }

protected:
  ~ConnectionOwner() = default;
};

inline void ReturnToOwner::operator()(Connection* connection) const noexcept { owner->release(connection); }

}  // namespace keel

// Not exported: the engine's own.
namespace keel {

/// Hands a lease back at once when its owner allows it (true); false leaves it for an awaited give_back.
inline bool give_back_at_once(ConnectionLease& lease) noexcept {
  if (lease && !lease.get_deleter().owner->gives_back_at_once()) return false;
  lease.reset();
  return true;
}

}  // namespace keel

export namespace keel {

/// Hands a lease back to its owner and waits until the connection is back.
inline asio::awaitable<void> give_back(ConnectionLease lease) {
  if (!lease) co_return;
  ConnectionOwner* owner = lease.get_deleter().owner;
  co_await owner->give_back(std::move(lease));
}

}  // namespace keel
