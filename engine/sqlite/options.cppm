// How a SqliteEngine opens and uses its database.
module;
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
export module keel.sqlite:options;

export namespace keel {

/// How BEGIN takes SQLite's locks. immediate (the default) takes the write lock at BEGIN, so two writing
/// transactions queue on the busy timeout instead of failing when one upgrades a read lock.
enum class SqliteLockMode { deferred, immediate, exclusive };

/// How a SqliteEngine opens and uses its database.
struct SqliteOptions {
  /// A file path or SQLite URI, or ":memory:" for a database private to this engine, kept in this process's
  /// memory and deleted with the engine.
  std::string path = "keel.sqlite";
  std::size_t max_connections = 4;                   ///< also the number of worker threads (for slow statements)
  std::chrono::milliseconds busy_timeout{5000};      ///< how long a statement retries a busy/locked database
  std::chrono::milliseconds acquire_timeout{30000};  ///< how long to wait for a free connection
  bool foreign_keys = true;                          ///< PRAGMA foreign_keys
  bool wal = true;                                   ///< journal_mode=WAL: readers never wait for writers
  std::size_t statement_cache_size = 128;            ///< prepared statements kept per connection (LRU)
  /// How BEGIN takes the locks (a read-only transaction begins DEFERRED).
  SqliteLockMode transaction_mode = SqliteLockMode::immediate;
  /// Where statements run. A statement runs on the calling thread (no thread hop: SQLite answers most in a few
  /// microseconds) when its last run took less than this; else on a worker thread, so that a slow statement does
  /// not stall the caller's event loop. A read that overruns it on the calling thread moves to a worker (before
  /// its first row it restarts there; after, it goes on there). A write that turns slow stalls the loop once, and
  /// then runs on a worker. Zero runs every statement on a worker.
  std::chrono::microseconds max_inline_time{1000};
  /// The time limit of every statement: past it the statement is interrupted (sqlite3_interrupt's effect) and
  /// the caller gets TimeoutError. None by default.
  std::optional<std::chrono::milliseconds> command_timeout;
};

}  // namespace keel
