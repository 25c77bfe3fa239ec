// SqliteEngine: keel's Engine on libsqlite3, for files and in-memory databases.
module;
#include <sqlite3.h>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <system_error>
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

// ":memory:" as SQLite means it would give each connection a database of its own. SQLite's memdb VFS shares
// one between connections, but refuses every reader while a write transaction is open, so a coroutine's
// read would wait for another's transaction. keel's in-memory database is instead a WAL database in a
// private folder on tmpfs (RAM) where the system has one (/dev/shm), else in the temporary folder, and is
// deleted with its engine: readers never wait for writers, as with a file. (Pass a memdb URI as the path,
// "file:/name?vfs=memdb", for SQLite's own.)
class ScratchDirectory {
public:
  explicit ScratchDirectory(bool wanted) {
    if (!wanted) return;
    std::error_code ec;
    const std::filesystem::path base =
        std::filesystem::is_directory("/dev/shm", ec) ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path();
    std::string pattern = (base / "keel-memory-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw ConnectionError("cannot make a folder for an in-memory SQLite database in " + base.string());
    path_ = pattern;
  }
  ~ScratchDirectory() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }

private:
  std::filesystem::path path_;
};

// A ":memory:" database that several connections share lives in the scratch folder; with one connection there
// is nothing to share, and it is SQLite's own in-memory database (no file, no locks).
inline bool shares_memory_database(const SqliteOptions& options) {
  return options.path == ":memory:" && options.max_connections > 1;
}

// Only this process opens the scratch database, so it is opened with SQLite's unix-excl VFS: the file is locked
// once, against other processes, and WAL's index lives in the heap, so a statement takes its locks in memory
// instead of with the fcntl() calls that guard a file shared between processes (a select by key went from about
// 4.4 to 1.0 µs, raw sqlite3 on SQLite's own :memory: taking 0.8).
inline std::string database_uri(const SqliteOptions& options, const ScratchDirectory& scratch) {
  if (!shares_memory_database(options)) return options.path;
  std::string uri = "file:";
  for (const char c : (scratch.path() / "memory.sqlite").string()) {
    if (c == '?' || c == '#' || c == '%') {  // what a URI's path may not hold as itself
      static constexpr char hex[] = "0123456789ABCDEF";
      uri += '%';
      uri += hex[static_cast<unsigned char>(c) >> 4];
      uri += hex[static_cast<unsigned char>(c) & 15];
    } else {
      uri += c;
    }
  }
  return uri + "?vfs=unix-excl";
}

}  // namespace keel::sqlite_detail

export namespace keel {

/// keel's Engine on the embedded SQLite (libsqlite3), for a file or an in-memory database.
class SqliteEngine final : public Engine {
public:
  /// An engine on the database `options` names; connections open on demand.
  explicit SqliteEngine(SqliteOptions options)
      : options_(checked(std::move(options))),
        scratch_(sqlite_detail::shares_memory_database(options_)),
        workers_(options_.max_connections),
        pool_(options_, sqlite_detail::database_uri(options_, scratch_), workers_) {}
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
  std::size_t pool_size() const { return pool_.size(); }           ///< open connections
  std::size_t pool_idle_size() const { return pool_.idle_size(); }  ///< open connections not lent out

private:
  static SqliteOptions checked(SqliteOptions options) {
    if (options.max_connections == 0) throw MisuseError("SqliteOptions::max_connections must be at least 1");
    if (options.path.empty()) throw MisuseError("SqliteOptions::path is empty: give a file path or \":memory:\"");
    return options;
  }

  SqliteOptions options_;
  sqlite_detail::ScratchDirectory scratch_;  // destroyed last, after the connections closed
  asio::thread_pool workers_;
  sqlite_detail::SqlitePool pool_;
};

}  // namespace keel
