// SqliteEngine: keel's Engine on libsqlite3, for files and in-memory databases.
module;
#include <sqlite3.h>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <string>
export module keel.sqlite:engine;
import keel.engine;
import :connection;
import :memory_vfs;
import :options;
import :pool;

namespace asio = boost::asio;

namespace keel::sqlite_detail {

// A ":memory:" database that several connections share lives in keel's in-memory file system (memory_vfs),
// in WAL mode like a file, so that readers never wait for writers; with one connection there is nothing to
// share, and it is SQLite's own in-memory database (no file, no locks). (SQLite's memdb VFS shares a database
// too, but has no WAL: every reader waits while a write transaction is open. Pass "file:/name?vfs=memdb" as the
// path for it.)
inline bool shares_memory_database(const SqliteOptions& options) {
  return options.path == ":memory:" && options.max_connections > 1;
}

inline std::string database_uri(const SqliteOptions& options, const SharedMemoryDatabase& memory) {
  return memory.in_use() ? memory.uri() : options.path;
}

}  // namespace keel::sqlite_detail

export namespace keel {

/// keel's Engine on the embedded SQLite (libsqlite3), for a file or an in-memory database.
class SqliteEngine final : public Engine {
public:
  /// An engine on the database `options` names; connections open on demand.
  explicit SqliteEngine(SqliteOptions options)
      : options_(checked(std::move(options))),
        memory_(sqlite_detail::shares_memory_database(options_)),
        workers_(options_.max_connections),
        pool_(options_, sqlite_detail::database_uri(options_, memory_), workers_, memory_.in_use()) {}
  /// An engine on the file `path` (or ":memory:") with the default options.
  explicit SqliteEngine(std::string path) : SqliteEngine(SqliteOptions{.path = std::move(path)}) {}

  /// Waits for the work in flight; transactions and batches must not outlive their engine.
  ~SqliteEngine() override {
    pool_.close();
    workers_.join();
  }

  Dialect dialect() const override { return Dialect::sqlite; }
  asio::awaitable<std::string> version() override { co_return std::string(sqlite3_libversion()); }
  asio::awaitable<void> close() override {
    pool_.close();
    co_return;
  }
  asio::awaitable<ConnectionLease> acquire() override { return pool_.acquire(); }
  ConnectionLease try_acquire() override { return pool_.try_acquire(); }
  bool runs_at_once() const noexcept override { return true; }

  /// The options it was made with.
  const SqliteOptions& options() const noexcept { return options_; }
  std::size_t pool_size() const { return pool_.size(); }            ///< open connections
  std::size_t pool_idle_size() const { return pool_.idle_size(); }  ///< open connections not lent out

private:
  static SqliteOptions checked(SqliteOptions options) {
    if (options.max_connections == 0) throw MisuseError("SqliteOptions::max_connections must be at least 1");
    if (options.path.empty()) throw MisuseError("SqliteOptions::path is empty: give a file path or \":memory:\"");
    return options;
  }

  SqliteOptions options_;
  sqlite_detail::SharedMemoryDatabase memory_;  // destroyed last, after the connections closed
  asio::thread_pool workers_;
  sqlite_detail::SqlitePool pool_;
};

}  // namespace keel
