// SqliteEngine: keel's Engine on libsqlite3, for files and in-memory databases.
module;
#include <sqlite3.h>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <unistd.h>
export module keel.sqlite:engine;
import keel.engine;
import :connection;
import :options;
import :pool;

namespace asio = boost::asio;

namespace keel::sqlite_detail {

// ":memory:" would give every connection a database of its own; SQLite's memdb VFS gives the engine's
// connections one shared in-memory database, which lives while any of them is open.
inline std::string database_uri(const std::string& path) {
  if (path == ":memory:") {
    static std::atomic<unsigned> next{0};
    return "file:/keel-memory-" + std::to_string(::getpid()) + "-" + std::to_string(next++) + "?vfs=memdb";
  }
  return path;
}

}  // namespace keel::sqlite_detail

export namespace keel {

class SqliteEngine final : public Engine {
public:
  explicit SqliteEngine(SqliteOptions options)
      : options_(checked(std::move(options))),
        workers_(options_.max_connections),
        pool_(options_, sqlite_detail::database_uri(options_.path), workers_) {}
  explicit SqliteEngine(std::string path) : SqliteEngine(SqliteOptions{.path = std::move(path)}) {}

  // Waits for the work in flight; transactions and batches must not outlive their engine.
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

  const SqliteOptions& options() const noexcept { return options_; }
  std::size_t pool_size() const { return pool_.size(); }           // open connections
  std::size_t pool_idle_size() const { return pool_.idle_size(); }  // open connections not lent out

private:
  static SqliteOptions checked(SqliteOptions options) {
    if (options.max_connections == 0) throw MisuseError("SqliteOptions::max_connections must be at least 1");
    if (options.path.empty()) throw MisuseError("SqliteOptions::path is empty: give a file path or \":memory:\"");
    return options;
  }

  SqliteOptions options_;
  asio::thread_pool workers_;
  sqlite_detail::SqlitePool pool_;
};

}  // namespace keel
