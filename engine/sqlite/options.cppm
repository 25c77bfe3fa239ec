// How a SqliteEngine opens and uses its database.
module;
#include <chrono>
#include <cstddef>
#include <string>
export module keel.sqlite:options;

export namespace keel {

// How BEGIN takes SQLite's locks. immediate (the default) takes the write lock at BEGIN, so two writing
// transactions queue on the busy timeout instead of failing when one upgrades a read lock.
enum class SqliteLockMode { deferred, immediate, exclusive };

struct SqliteOptions {
  // A file path or SQLite URI, or ":memory:" for a database private to this engine, kept in RAM (tmpfs) and
  // deleted with the engine.
  std::string path = "keel.sqlite";
  std::size_t max_connections = 4;                    // also the number of worker threads
  std::chrono::milliseconds busy_timeout{5000};       // how long a statement retries a busy/locked database
  std::chrono::milliseconds acquire_timeout{30000};   // how long to wait for a free connection
  bool foreign_keys = true;                           // PRAGMA foreign_keys
  bool wal = true;                                    // journal_mode=WAL: readers never wait for writers
  std::size_t statement_cache_size = 128;             // prepared statements kept per connection (LRU)
  SqliteLockMode transaction_mode = SqliteLockMode::immediate;
};

}  // namespace keel
