// One SQLite connection. Every sqlite3 call runs on the connection's strand of the engine's worker pool:
// calls on one connection never overlap, and none runs on the caller's event loop.
module;
#include <sqlite3.h>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>
export module keel.sqlite:connection;
import keel.engine;
import :blocking;
import :errors;
import :options;

namespace asio = boost::asio;

namespace keel::sqlite_detail {

// The current row of a stepped statement, read in place.
class StatementRowReader final : public RowReader {
public:
  explicit StatementRowReader(sqlite3_stmt* stmt) : stmt_(stmt), columns_(sqlite3_column_count(stmt)) {}
  std::size_t size() const override { return static_cast<std::size_t>(columns_); }
  std::string_view name(std::size_t index) const override { return sqlite3_column_name(stmt_, static_cast<int>(index)); }
  Cell cell(std::size_t index) const override {
    const int i = static_cast<int>(index);
    Cell cell;
    switch (sqlite3_column_type(stmt_, i)) {
      case SQLITE_INTEGER:
        cell.kind = ValueKind::integer;
        cell.integer = sqlite3_column_int64(stmt_, i);
        break;
      case SQLITE_FLOAT:
        cell.kind = ValueKind::real;
        cell.real = sqlite3_column_double(stmt_, i);
        break;
      case SQLITE_TEXT: {
        // Text first, then its size: the documented order that avoids a conversion.
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
        cell.kind = ValueKind::text;
        cell.text = std::string_view(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)));
        break;
      }
      case SQLITE_BLOB: {
        const auto* data = static_cast<const std::byte*>(sqlite3_column_blob(stmt_, i));
        cell.kind = ValueKind::blob;
        cell.blob = std::span<const std::byte>(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)));
        break;
      }
      default: cell.kind = ValueKind::null;
    }
    return cell;
  }

private:
  sqlite3_stmt* stmt_;
  int columns_;
};

inline bool blank_sql(std::string_view text) {
  // Whitespace and semicolons only (SQLite leaves comments in the tail; a tail of comments runs as nothing).
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c)) || c == ';') continue;
    if (text.substr(i).starts_with("--")) {
      i = text.find('\n', i);
      if (i == std::string_view::npos) return true;
      continue;
    }
    return false;
  }
  return true;
}

inline bool starts_with_keyword(std::string_view sql, std::string_view keyword) {
  std::size_t i = 0;
  while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i]))) ++i;
  if (sql.size() - i < keyword.size()) return false;
  for (std::size_t k = 0; k < keyword.size(); ++k)
    if (std::tolower(static_cast<unsigned char>(sql[i + k])) != keyword[k]) return false;
  return true;
}

}  // namespace keel::sqlite_detail

export namespace keel::sqlite_detail {

using Strand = asio::strand<asio::thread_pool::executor_type>;

class SqliteConnection;

class SqliteCursor final : public Cursor {
public:
  SqliteCursor(SqliteConnection& connection, Statement statement)
      : connection_(connection), statement_(std::move(statement)) {}
  ~SqliteCursor() override;
  asio::awaitable<std::size_t> fetch(std::size_t max_rows, RowSink& sink) override;
  void open_now();  // on the strand

private:
  SqliteConnection& connection_;
  Statement statement_;  // the bound values point into it, so it lives as long as the prepared statement
  sqlite3_stmt* stmt_ = nullptr;
  bool done_ = false;
};

class SqliteConnection final : public Connection {
public:
  // Opens the database; blocking, so it runs on a worker.
  static sqlite3* open_database(const std::string& uri, const SqliteOptions& options) {
    sqlite3* db = nullptr;
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(uri.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
      sqlite3_close_v2(db);
      throw ConnectionError("cannot open SQLite database '" + uri + "': " + message);
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, static_cast<int>(options.busy_timeout.count()));
    try {
      exec(db, options.foreign_keys ? "PRAGMA foreign_keys = ON" : "PRAGMA foreign_keys = OFF");
      if (options.wal) {
        exec(db, "PRAGMA journal_mode = WAL");
        exec(db, "PRAGMA synchronous = NORMAL");  // durable across application crashes in WAL mode
      }
    } catch (...) {
      sqlite3_close_v2(db);
      throw;
    }
    return db;
  }

  SqliteConnection(sqlite3* db, Strand strand, const SqliteOptions& options)
      : db_(db), strand_(std::move(strand)), options_(options) {}
  ~SqliteConnection() override {
    for (auto& [sql, entry] : cache_) sqlite3_finalize(entry.stmt);
    sqlite3_close_v2(db_);
  }

  const Strand& strand() const noexcept { return strand_; }
  Dialect dialect() const override { return Dialect::sqlite; }

  asio::awaitable<ExecResult> execute(const Statement& statement, RowSink* sink) override {
    co_return co_await run_blocking(strand_, [&] { return execute_now(statement, sink); });
  }
  asio::awaitable<void> execute_all(std::span<const Statement> statements) override {
    co_await run_blocking(strand_, [&] {
      for (const Statement& s : statements) execute_now(s, nullptr);
    });
  }
  asio::awaitable<void> begin(const TransactionOptions& options) override {
    co_await run_blocking(strand_, [&] {
      if (options.read_only) {
        exec(db_, "BEGIN DEFERRED");
        exec(db_, "PRAGMA query_only = ON");
        query_only_ = true;
        return;
      }
      switch (options_.transaction_mode) {
        case SqliteLockMode::deferred: exec(db_, "BEGIN DEFERRED"); break;
        case SqliteLockMode::immediate: exec(db_, "BEGIN IMMEDIATE"); break;
        case SqliteLockMode::exclusive: exec(db_, "BEGIN EXCLUSIVE"); break;
      }
    });
  }
  asio::awaitable<void> commit() override {
    co_await run_blocking(strand_, [&] {
      end_query_only();
      // Some errors (a full disk, an I/O error, a busy deadlock) make SQLite roll the whole transaction back.
      if (sqlite3_get_autocommit(db_)) throw_commit_rolled_back();
      exec(db_, "COMMIT");
    });
  }
  asio::awaitable<void> rollback() override {
    co_await run_blocking(strand_, [&] {
      end_query_only();
      exec(db_, "ROLLBACK");
    });
  }
  asio::awaitable<std::unique_ptr<Cursor>> open_cursor(Statement statement) override {
    auto cursor = std::make_unique<SqliteCursor>(*this, std::move(statement));
    co_await run_blocking(strand_, [&] { cursor->open_now(); });
    co_return std::move(cursor);
  }

  // ---- On the strand only.

  // Makes the connection fit for its next borrower: an open transaction is rolled back.
  void reset_for_reuse() noexcept {
    try {
      end_query_only();
      if (!sqlite3_get_autocommit(db_)) exec(db_, "ROLLBACK");
    } catch (...) {
      // A failed ROLLBACK leaves SQLite's autocommit state to say what is left; nothing else can be done here.
    }
  }

  sqlite3* db() const noexcept { return db_; }

  [[noreturn]] void fail() const { throw_error(sqlite3_extended_errcode(db_), sqlite3_errmsg(db_)); }

  void bind(sqlite3_stmt* stmt, const std::vector<Value>& params) const {
    const int expected = sqlite3_bind_parameter_count(stmt);
    if (expected != static_cast<int>(params.size()))
      throw MisuseError("the SQL has " + std::to_string(expected) + " parameters but " + std::to_string(params.size()) +
                        " values were bound: " + std::string(sqlite3_sql(stmt)));
    int index = 0;
    for (const Value& value : params) {
      ++index;
      // SQLITE_STATIC: the values outlive the statement's use; bindings are cleared before they could dangle.
      int rc = SQLITE_OK;
      const Value::Storage& v = value.storage();
      switch (value.kind()) {
        case ValueKind::null: rc = sqlite3_bind_null(stmt, index); break;
        case ValueKind::boolean: rc = sqlite3_bind_int(stmt, index, std::get<bool>(v) ? 1 : 0); break;
        case ValueKind::integer: rc = sqlite3_bind_int64(stmt, index, std::get<std::int64_t>(v)); break;
        case ValueKind::real: rc = sqlite3_bind_double(stmt, index, std::get<double>(v)); break;
        case ValueKind::text: {
          const std::string& text = std::get<std::string>(v);
          rc = sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
          break;
        }
        case ValueKind::blob: {
          const Blob& blob = std::get<Blob>(v);
          rc = sqlite3_bind_blob64(stmt, index, blob.data(), blob.size(), SQLITE_STATIC);
          break;
        }
        default: {
          // SQLite has no such type: the value is stored as its text (text_form), which keel reads back.
          const std::string text = text_form::of(value);
          rc = sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
        }
      }
      if (rc != SQLITE_OK) fail();
    }
  }

  // Steps the statement to its end, handing rows to the sink.
  ExecResult step_all(sqlite3_stmt* stmt, std::string_view sql, RowSink* sink) const {
    const auto changes_before = sqlite3_total_changes64(db_);
    StatementRowReader reader(stmt);
    for (;;) {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_ROW) {
        if (sink) sink->on_row(reader);
        continue;
      }
      if (rc == SQLITE_DONE) break;
      fail();
    }
    ExecResult result;
    // sqlite3_changes64 keeps the count of the last INSERT/UPDATE/DELETE, even after other statements.
    if (sqlite3_total_changes64(db_) != changes_before) {
      result.rows_affected = static_cast<std::uint64_t>(sqlite3_changes64(db_));
      if (starts_with_keyword(sql, "insert") || starts_with_keyword(sql, "replace"))
        result.last_insert_id = sqlite3_last_insert_rowid(db_);
    }
    return result;
  }

  static void exec(sqlite3* db, const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      const std::string text = message ? message : sqlite3_errmsg(db);
      sqlite3_free(message);
      throw_error(sqlite3_extended_errcode(db), text);
    }
  }

private:
  struct CacheEntry {
    sqlite3_stmt* stmt;
    std::list<std::string>::iterator position;
  };

  void end_query_only() {
    if (!query_only_) return;
    query_only_ = false;
    exec(db_, "PRAGMA query_only = OFF");
  }

  // Resets a statement after use, whatever happened: a cached statement is reset and unbound, an uncached one
  // finalized.
  struct StatementUse {
    StatementUse(sqlite3_stmt* s, bool c) : stmt(s), cached(c) {}
    StatementUse(const StatementUse&) = delete;
    StatementUse& operator=(const StatementUse&) = delete;
    sqlite3_stmt* stmt;
    bool cached;
    ~StatementUse() {
      if (cached) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
      } else {
        sqlite3_finalize(stmt);
      }
    }
  };

  ExecResult execute_now(const Statement& statement, RowSink* sink) {
    const std::string_view sql = statement.sql();
    if (auto found = cache_.find(sql); found != cache_.end()) {
      lru_.splice(lru_.begin(), lru_, found->second.position);
      return run_prepared(StatementUse{found->second.stmt, true}, statement, sink);
    }
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, &tail) !=
        SQLITE_OK)
      fail();
    const std::string_view rest(tail, sql.data() + sql.size() - tail);
    if (!blank_sql(rest)) {
      sqlite3_finalize(stmt);
      return run_script(statement, sink);
    }
    if (!stmt) return {};  // only whitespace or comments
    if (options_.statement_cache_size == 0) return run_prepared(StatementUse{stmt, false}, statement, sink);
    lru_.emplace_front(sql);
    cache_.emplace(std::string_view(lru_.front()), CacheEntry{stmt, lru_.begin()});
    if (cache_.size() > options_.statement_cache_size) {
      auto oldest = cache_.find(std::string_view(lru_.back()));
      sqlite3_finalize(oldest->second.stmt);
      cache_.erase(oldest);
      lru_.pop_back();
    }
    return run_prepared(StatementUse{stmt, true}, statement, sink);
  }

  ExecResult run_prepared(StatementUse use, const Statement& statement, RowSink* sink) {
    bind(use.stmt, statement.params());
    return step_all(use.stmt, statement.sql(), sink);
  }

  // Several statements in one text (a schema script, say): each runs in turn; values cannot be bound to them.
  ExecResult run_script(const Statement& statement, RowSink* sink) {
    if (!statement.params().empty())
      throw MisuseError("SQLite runs a text of several statements only without bound values; split it: " +
                        std::string(statement.sql()));
    std::string_view rest = statement.sql();
    ExecResult last;
    while (!blank_sql(rest)) {
      sqlite3_stmt* stmt = nullptr;
      const char* tail = nullptr;
      if (sqlite3_prepare_v2(db_, rest.data(), static_cast<int>(rest.size()), &stmt, &tail) != SQLITE_OK) fail();
      const std::string_view text(rest.data(), static_cast<std::size_t>(tail - rest.data()));
      rest = std::string_view(tail, rest.data() + rest.size() - tail);
      if (!stmt) continue;
      StatementUse use{stmt, false};
      last = step_all(stmt, text, sink);
    }
    return last;
  }

  sqlite3* db_;
  Strand strand_;
  SqliteOptions options_;
  bool query_only_ = false;
  std::list<std::string> lru_;  // most recently used first; the cache's keys view these strings
  std::unordered_map<std::string_view, CacheEntry> cache_;
};

inline SqliteCursor::~SqliteCursor() {
  if (!stmt_) return;
  // Finalizing touches the connection, so it happens on the strand, in order with the connection's other work.
  asio::post(connection_.strand(), [stmt = stmt_] { sqlite3_finalize(stmt); });
}

inline void SqliteCursor::open_now() {
  sqlite3* db = connection_.db();
  const std::string_view sql = statement_.sql();
  const char* tail = nullptr;
  if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, &tail) != SQLITE_OK) connection_.fail();
  if (!stmt_ || !blank_sql(std::string_view(tail, sql.data() + sql.size() - tail))) {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
    throw MisuseError("a batch iterates over exactly one statement: " + std::string(sql));
  }
  connection_.bind(stmt_, statement_.params());
}

inline asio::awaitable<std::size_t> SqliteCursor::fetch(std::size_t max_rows, RowSink& sink) {
  co_return co_await run_blocking(connection_.strand(), [&]() -> std::size_t {
    if (done_) return 0;
    StatementRowReader reader(stmt_);
    std::size_t count = 0;
    while (count < max_rows) {
      const int rc = sqlite3_step(stmt_);
      if (rc == SQLITE_ROW) {
        sink.on_row(reader);
        ++count;
        continue;
      }
      if (rc == SQLITE_DONE) {
        done_ = true;
        break;
      }
      done_ = true;
      connection_.fail();
    }
    return count;
  });
}

}  // namespace keel::sqlite_detail
