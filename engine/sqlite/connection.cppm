// One SQLite connection. Its borrower's calls run on the borrower's thread when they are known to be fast (most
// statements: SQLite answers them in microseconds, less than a hop to another thread costs), and on a worker
// thread of the engine otherwise, while the borrower's event loop goes on (see SqliteOptions::max_inline_time).
// A connection is used by one borrower at a time, so its calls never overlap, wherever they run.
module;
#include <sqlite3.h>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>
export module keel.sqlite:connection;
import keel.engine;
import :blocking;
import :errors;
import :options;
import :row_reader;
import :sql_text;
import :statement_cache;
import :watch;

namespace asio = boost::asio;

namespace keel::sqlite_detail {

using Workers = asio::thread_pool::executor_type;

// One run of a prepared statement: its rows go to the sink, up to max_rows (a cursor's fetch) or to its end.
// It may begin on the caller's thread and end on a worker.
struct Stepping {
  sqlite3_stmt* stmt;
  std::string_view sql;
  RowSink* sink;
  std::size_t max_rows = std::numeric_limits<std::size_t>::max();
  std::size_t rows = 0;  // handed to the sink in this run
  bool done = false;     // the statement has run to its end
};

// Resets a statement after use, whatever happened: a cached statement is reset, an uncached one finalized.
struct StatementUse {
  StatementUse(sqlite3_stmt* s, bool c) : stmt(s), cached(c) {}
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;
  sqlite3_stmt* stmt;
  bool cached;
  ~StatementUse() {
    if (cached) {
      sqlite3_reset(stmt);  // its bindings may dangle now: every run binds all of them again before stepping
    } else {
      sqlite3_finalize(stmt);
    }
  }
};

class SqliteConnection;

class SqliteCursor final : public Cursor {
public:
  SqliteCursor(SqliteConnection& connection, Statement statement, sqlite3_stmt* stmt)
      : connection_(connection), statement_(std::move(statement)), stmt_(stmt), fast_(sqlite3_stmt_readonly(stmt)) {}
  ~SqliteCursor() override { sqlite3_finalize(stmt_); }  // the borrower still holds the connection
  asio::awaitable<std::size_t> fetch(std::size_t max_rows, RowSink& sink) override;

private:
  SqliteConnection& connection_;
  Statement statement_;  // the bound values point into it, so it lives as long as the prepared statement
  sqlite3_stmt* stmt_;
  bool fast_;  // the last fetch took less than max_inline_time
  bool started_ = false;
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
    sqlite3_busy_timeout(db, static_cast<int>(options.busy_timeout.count()));  // until the watch takes over
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

  SqliteConnection(sqlite3* db, Workers workers, const SqliteOptions& options)
      : database_{db},
        db_(db),
        workers_(std::move(workers)),
        options_(options),
        cache_(options.statement_cache_size),
        watch_(db, options) {
    if (options.wal) sqlite3_wal_hook(db_, &SqliteConnection::on_wal_commit, this);
  }
  ~SqliteConnection() override {
    for (PreparedStatement& control : control_) sqlite3_finalize(control.stmt);
  }

  // Runs call on a worker; the caller's Asio cancellation stops the statement it runs.
  template <class F>
  auto on_worker(F call) {
    return run_blocking(workers_, std::move(call), [this] { watch_.cancel(); });
  }

  // Steps a prepared statement here when its last run was fast; true when it finished here. Else from_start
  // says whether the rest starts over (nothing was handed out or changed) or goes on from where it is.
  bool finished_here(PreparedStatement& prepared, Stepping& s, bool& from_start) {
    from_start = true;
    if (!prepared.fast || !watch_.inline_enabled()) return false;
    const Ended ended = step_here(s, true);
    from_start = ended == Ended::restart;
    // A run that overran here goes to a worker next time (the watch sees CPU-bound overruns; a write slowed by
    // I/O alone has few progress calls and may stay here).
    if (ended == Ended::finished && watch_.overran()) prepared.fast = false;
    return ended == Ended::finished;
  }

  // The rest of a run, on a worker, timed: the statement's next run starts here if this one was fast.
  auto rest_on_worker(PreparedStatement& prepared, Stepping& s, bool from_start) {
    return on_worker([this, &prepared, &s, from_start] {
      const auto start = std::chrono::steady_clock::now();
      step_there(s);
      // A run that went on from the caller's thread was too slow there, whatever its rest took.
      prepared.fast = from_start && fast(std::chrono::steady_clock::now() - start);
    });
  }

  Dialect dialect() const override { return Dialect::sqlite; }

  asio::awaitable<ExecResult> execute(const Statement& statement, RowSink* sink) override {
    ensure_transaction_kept();
    watch_.start_call();
    const std::string_view sql = statement.sql();
    PreparedStatement* prepared = prepared_for(sql);
    // A text of several statements, a busy schema, or no statement cache: prepared and run on a worker.
    if (!prepared) co_return co_await on_worker([&] { return execute_uncached(statement, sink); });
    StatementUse use{prepared->stmt, true};
    bind(prepared->stmt, statement.params());
    const auto changes_before = sqlite3_total_changes64(db_);
    Stepping s{prepared->stmt, sql, sink, rows_wanted(prepared->stmt, sink)};
    bool from_start;
    if (!finished_here(*prepared, s, from_start)) co_await rest_on_worker(*prepared, s, from_start);
    co_return outcome(s, changes_before);
  }

  // The whole run here, when its last run was fast and it hands out at most one row, so that it never has to go
  // on on a worker after handing one out. A read that overruns before its row starts again in execute(), on a
  // worker; a write runs to its end here, as in execute().
  std::optional<ExecResult> execute_at_once(const Statement& statement, RowSink* sink) override {
    if (!watch_.inline_enabled() || !cache_.enabled()) return std::nullopt;
    const std::string_view sql = statement.sql();
    PreparedStatement* prepared = cache_.find(sql);
    if (!prepared || !prepared->fast) return std::nullopt;
    const std::size_t max_rows = rows_wanted(prepared->stmt, sink);
    if (max_rows > 1 && sqlite3_column_count(prepared->stmt) > 0) return std::nullopt;
    ensure_transaction_kept();
    watch_.start_call();
    StatementUse use{prepared->stmt, true};
    bind(prepared->stmt, statement.params());
    const auto changes_before = sqlite3_total_changes64(db_);
    Stepping s{prepared->stmt, sql, sink, max_rows};
    const Ended ended = step_here(s, true);
    if (ended == Ended::restart) {
      if (watch_.stopped_for_overrun()) prepared->fast = false;  // execute() then starts it on a worker
      return std::nullopt;
    }
    // A run that hands out at most one row ends here: move_on comes only between rows.
    if (watch_.overran()) prepared->fast = false;
    return outcome(s, changes_before);
  }

  // One prepared statement, bound and stepped once per group of values: on this thread while the runs take less
  // than max_inline_time in all, the rest on a worker.
  asio::awaitable<ExecResult> execute_each(const Statement& statement, std::size_t group_size, RowSink* sink) override {
    const std::size_t runs = group_count(statement, group_size);
    ensure_transaction_kept();
    watch_.start_call();
    const std::string_view sql = statement.sql();
    PreparedStatement* prepared = prepared_for(sql);
    if (!prepared) co_return co_await execute_each_by_one(*this, statement, group_size, sink);
    StatementUse use{prepared->stmt, true};
    const std::span<const Value> values(statement.params());
    auto start_run = [&](std::size_t run, Stepping& s, std::int64_t& changes_before) {
      bind(prepared->stmt, values.subspan(run * group_size, group_size));
      changes_before = sqlite3_total_changes64(db_);
      s = Stepping{prepared->stmt, sql, sink};
    };
    auto end_run = [&](const Stepping& s, std::int64_t changes_before, ExecResult& total) {
      add_run(total, outcome(s, changes_before));
      sqlite3_reset(prepared->stmt);
    };
    ExecResult total;
    Stepping s{prepared->stmt, sql, sink};
    std::int64_t changes_before = 0;
    std::size_t next = 0;
    bool going_on = false;  // run `next` began here and goes on on the worker
    if (prepared->fast && watch_.inline_enabled()) {
      const auto start = std::chrono::steady_clock::now();
      while (next < runs) {
        start_run(next, s, changes_before);
        const Ended ended = step_here(s, true);
        if (ended != Ended::finished) {
          going_on = ended == Ended::move_on;  // else it starts again there
          break;
        }
        end_run(s, changes_before, total);
        ++next;
        if (watch_.overran()) prepared->fast = false;  // one run took the whole budget: the next call starts there
        if (next % 32 == 0 && !fast(std::chrono::steady_clock::now() - start)) break;
      }
    }
    if (next < runs) {
      co_await on_worker([&] {
        const auto start = std::chrono::steady_clock::now();
        const std::size_t first_here = next;
        if (going_on) {
          step_there(s);
          end_run(s, changes_before, total);
          ++next;
        }
        for (; next < runs; ++next) {
          start_run(next, s, changes_before);
          step_there(s);
          end_run(s, changes_before, total);
        }
        // Whether one run is fast: where the next call's runs start.
        const auto per_run = (std::chrono::steady_clock::now() - start) / static_cast<long>(runs - first_here);
        prepared->fast = !going_on && fast(per_run);
      });
    }
    co_return total;
  }

  asio::awaitable<void> begin(const TransactionOptions& options) override {
    if (options.read_only) {
      if (!control_here(Control::begin_deferred)) co_await control(Control::begin_deferred);
      in_transaction_ = true;
      if (!control_here(Control::query_only_on)) co_await control(Control::query_only_on);
      query_only_ = true;
      co_return;
    }
    Control begin = Control::begin_immediate;
    switch (options_.transaction_mode) {
      case SqliteLockMode::deferred: begin = Control::begin_deferred; break;
      case SqliteLockMode::immediate: begin = Control::begin_immediate; break;
      case SqliteLockMode::exclusive: begin = Control::begin_exclusive; break;
    }
    if (!control_here(begin)) co_await control(begin);
    in_transaction_ = true;
  }
  asio::awaitable<void> commit() override {
    in_transaction_ = false;
    if (query_only_) co_await end_query_only();
    // Some errors (a full disk, an I/O error, a busy deadlock) make SQLite roll the whole transaction back.
    if (sqlite3_get_autocommit(db_)) throw_commit_rolled_back();
    if (!control_here(Control::commit)) co_await control(Control::commit);
  }
  asio::awaitable<void> rollback() override {
    in_transaction_ = false;
    if (query_only_) co_await end_query_only();
    // An interrupted write, a full disk or an I/O error may have rolled the transaction back already.
    if (sqlite3_get_autocommit(db_)) co_return;
    if (!control_here(Control::rollback)) co_await control(Control::rollback);
  }
  asio::awaitable<std::unique_ptr<Cursor>> open_cursor(Statement statement) override {
    watch_.start_call();
    const std::string_view sql = statement.sql();
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    {
      InlineScope scope(watch_, false);
      if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, &tail) != SQLITE_OK)
        watch_.fail(sql);
    }
    if (!stmt || !blank_sql(std::string_view(tail, sql.data() + sql.size() - tail))) {
      sqlite3_finalize(stmt);
      throw MisuseError("a batch iterates over exactly one statement: " + std::string(sql));
    }
    try {
      bind(stmt, statement.params());
    } catch (...) {
      sqlite3_finalize(stmt);
      throw;
    }
    co_return std::make_unique<SqliteCursor>(*this, std::move(statement), stmt);
  }

  // Makes the connection fit for its next borrower: an open transaction is rolled back.
  void reset_for_reuse() noexcept {
    in_transaction_ = false;
    watch_.start_call();  // a cancellation of the last call must not stop the reset
    try {
      if (query_only_) {
        query_only_ = false;
        exec(db_, "PRAGMA query_only = OFF");
      }
      if (!sqlite3_get_autocommit(db_)) exec(db_, "ROLLBACK");
    } catch (...) {
      // A failed ROLLBACK leaves SQLite's autocommit state to say what is left; nothing else can be done here.
    }
  }

  // ---- WAL checkpoints. SQLite's own would run inside the COMMIT that fills the log past 1,000 pages, on the
  // caller's thread, with its fsyncs; this connection's hook only notes that one is due, and the pool runs it
  // when the connection comes back: on a worker for a file, right there for a database in memory.
  bool checkpoint_due() const noexcept { return checkpoint_due_; }
  // PASSIVE, as SQLite's own: it waits for no lock. The pool makes new borrowers wait for this connection
  // rather than write beside its checkpoint on another, so that the checkpoint can finish and the next write
  // start the log again.
  void checkpoint() noexcept {
    checkpoint_due_ = false;
    watch_.start_call();
    sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }

  // ---- For the cursor.

  StatementWatch& watch() noexcept { return watch_; }

  // Where a run ended on the caller's thread: at its end (or max_rows), or asked to go on on a worker from
  // where it is (move_on) or from its start (restart: it had handed out no row and changed nothing).
  enum class Ended { finished, move_on, restart };

  // Steps on this thread. `first`: nothing of this statement has been handed out before this run.
  Ended step_here(Stepping& s, bool first) { return step(s, true, first); }

  // Steps on a worker, from where the statement is, to its end or max_rows.
  void step_there(Stepping& s) { step(s, false, false); }

  // The one stepping loop: on the caller's thread (here) it may stop early for a worker to go on; elsewhere it
  // runs to the end or max_rows.
  Ended step(Stepping& s, bool here, bool first) {
    const bool readonly = sqlite3_stmt_readonly(s.stmt);
    std::optional<InlineScope> scope;
    if (here) scope.emplace(watch_, first && readonly);
    StatementRowReader reader(s.stmt);
    while (s.rows < s.max_rows) {
      const int rc = sqlite3_step(s.stmt);
      if (rc == SQLITE_ROW) {
        if (s.sink) s.sink->on_row(reader);
        ++s.rows;
        if (!here) continue;
        watch_.row_delivered();
        if (watch_.overran() && s.rows < s.max_rows) return Ended::move_on;
        continue;
      }
      if (rc == SQLITE_DONE) {
        s.done = true;
        return Ended::finished;
      }
      // Interrupted for its time here, or busy (the watch does not wait here): it goes again on a worker. A
      // busy write may go again only while its transaction holds no lock yet (autocommit, or a deferred
      // transaction's first statement); after that SQLite wants the transaction undone.
      const bool restartable =
          here && first && s.rows == 0 &&
          ((rc == SQLITE_INTERRUPT && watch_.stopped_for_overrun()) ||
           ((rc & 0xff) == SQLITE_BUSY && (readonly || sqlite3_txn_state(db_, nullptr) == SQLITE_TXN_NONE)));
      if (restartable) {
        sqlite3_reset(s.stmt);
        return Ended::restart;
      }
      watch_.fail(s.sql);
    }
    return Ended::finished;
  }

  // The rows to read: a statement that only reads stops at the sink's max_rows (0: all), one that writes runs to
  // its end.
  static std::size_t rows_wanted(sqlite3_stmt* stmt, const RowSink* sink) {
    const std::size_t all = std::numeric_limits<std::size_t>::max();
    if (!sink || !sqlite3_stmt_readonly(stmt)) return all;
    const std::size_t wanted = sink->max_rows();
    return wanted == 0 ? all : wanted;
  }

  // Whether a run of `took` earns a start on the caller's thread next time.
  bool fast(std::chrono::steady_clock::duration took) const { return took < watch_.inline_budget(); }

  void bind(sqlite3_stmt* stmt, std::span<const Value> params) const {
    const int expected = sqlite3_bind_parameter_count(stmt);
    if (expected != static_cast<int>(params.size()))
      throw MisuseError("the SQL has " + std::to_string(expected) + " parameters but " + std::to_string(params.size()) +
                        " values were bound: " + std::string(sqlite3_sql(stmt)));
    int index = 0;
    for (const Value& value : params) {
      ++index;
      // SQLITE_STATIC: the values outlive the run; a cached statement is bound afresh before its next step.
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
          // An empty vector's data() may be null, which SQLite would bind as NULL: an empty blob is a zeroblob.
          rc = blob.empty() ? sqlite3_bind_zeroblob(stmt, index, 0)
                            : sqlite3_bind_blob64(stmt, index, blob.data(), blob.size(), SQLITE_STATIC);
          break;
        }
        default: {
          // SQLite has no such type: the value is stored as its text (text_form), which keel reads back.
          const std::string text = text_form::of(value);
          rc = sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
        }
      }
      if (rc != SQLITE_OK) throw_error(sqlite3_extended_errcode(db_), sqlite3_errmsg(db_));
    }
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
  static constexpr int kCheckpointPages = 1000;  // SQLite's wal_autocheckpoint default
  static int on_wal_commit(void* self, sqlite3*, const char*, int pages) {
    if (pages >= kCheckpointPages) static_cast<SqliteConnection*>(self)->checkpoint_due_ = true;
    return SQLITE_OK;
  }

  // Marks the steps between its construction and its end as the caller's thread's.
  struct InlineScope {
    InlineScope(StatementWatch& w, bool restartable) : watch(w) { watch.enter_inline(restartable); }
    ~InlineScope() { watch.leave_inline(); }
    StatementWatch& watch;
  };

  // A transaction's control statements, prepared once per connection.
  enum class Control {
    begin_deferred,
    begin_immediate,
    begin_exclusive,
    commit,
    rollback,
    query_only_on,
    query_only_off
  };
  static constexpr const char* kControlSql[] = {
      "BEGIN DEFERRED", "BEGIN IMMEDIATE",        "BEGIN EXCLUSIVE",        "COMMIT",
      "ROLLBACK",       "PRAGMA query_only = ON", "PRAGMA query_only = OFF"};

  // A control statement runs at once here when its last run was fast (control_here, no coroutine frame), else
  // through control(), which may go to a worker: `if (!control_here(c)) co_await control(c);`.
  bool control_here(Control which) {
    PreparedStatement& prepared = control_[static_cast<std::size_t>(which)];
    if (!prepared.stmt || !prepared.fast || !watch_.inline_enabled()) return false;
    watch_.start_call();
    StatementUse use{prepared.stmt, true};
    Stepping s{prepared.stmt, kControlSql[static_cast<std::size_t>(which)], nullptr};
    bool from_start;
    return finished_here(prepared, s, from_start);  // else it starts again in control(), where it may wait
  }

  asio::awaitable<void> control(Control which) {
    watch_.start_call();
    const auto index = static_cast<std::size_t>(which);
    PreparedStatement& prepared = control_[index];
    if (!prepared.stmt) {
      InlineScope scope(watch_, false);
      if (sqlite3_prepare_v3(db_, kControlSql[index], -1, SQLITE_PREPARE_PERSISTENT, &prepared.stmt, nullptr) !=
          SQLITE_OK)
        watch_.fail(kControlSql[index]);
      prepared.fast = true;
    }
    StatementUse use{prepared.stmt, true};
    Stepping s{prepared.stmt, kControlSql[index], nullptr};
    bool from_start;
    if (!finished_here(prepared, s, from_start)) co_await rest_on_worker(prepared, s, from_start);
  }

  asio::awaitable<void> end_query_only() {
    if (!query_only_) co_return;
    query_only_ = false;
    if (!control_here(Control::query_only_off)) co_await control(Control::query_only_off);
  }

  // Inside a transaction that SQLite has rolled back by itself (an interrupted write, a full disk), a statement
  // would run and commit on its own: it is refused, and the transaction's end reports the rollback.
  void ensure_transaction_kept() const {
    if (in_transaction_ && sqlite3_get_autocommit(db_)) throw_transaction_lost();
  }
  [[noreturn]] static void throw_transaction_lost() {
    throw TransactionError(
        "the SQLite transaction was rolled back by an error (an interrupted write, a full disk, "
        "an I/O error): nothing in it was kept; end it and start again");
  }

  // The cached statement for a text, prepared here when it is new; null when a worker must take the text (no
  // cache, several statements, a busy schema).
  PreparedStatement* prepared_for(std::string_view sql) {
    if (!cache_.enabled()) return nullptr;
    if (PreparedStatement* cached = cache_.find(sql)) return cached;
    return watch_.inline_enabled() ? prepare_here(sql) : nullptr;
  }

  // Prepares a text on this thread and caches it; null when it is not one statement or the schema is busy, for
  // the worker to deal with. A read starts on this thread; a write's first run is on a worker, which times it.
  PreparedStatement* prepare_here(std::string_view sql) {
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    int rc;
    {
      InlineScope scope(watch_, false);
      rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    }
    if (rc != SQLITE_OK) {
      if ((rc & 0xff) == SQLITE_BUSY) return nullptr;
      watch_.fail(sql);
    }
    if (!stmt || !blank_sql(std::string_view(tail, sql.data() + sql.size() - tail))) {
      sqlite3_finalize(stmt);
      return nullptr;
    }
    PreparedStatement& prepared = cache_.add(sql, stmt);
    prepared.fast = sqlite3_stmt_readonly(stmt);
    return &prepared;
  }

  ExecResult outcome(const Stepping& s, std::int64_t changes_before) const {
    ExecResult result;
    // sqlite3_changes64 keeps the count of the last INSERT/UPDATE/DELETE, even after other statements.
    if (sqlite3_total_changes64(db_) != changes_before) {
      result.rows_affected = static_cast<std::uint64_t>(sqlite3_changes64(db_));
      if (starts_with_keyword(s.sql, "insert") || starts_with_keyword(s.sql, "replace"))
        result.last_insert_id = sqlite3_last_insert_rowid(db_);
    }
    return result;
  }

  // On a worker: prepares a text that is not cached, caches it when it is one statement, runs it and times it.
  ExecResult execute_uncached(const Statement& statement, RowSink* sink) {
    const std::string_view sql = statement.sql();
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    const unsigned flags = cache_.enabled() ? SQLITE_PREPARE_PERSISTENT : 0;
    if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), flags, &stmt, &tail) != SQLITE_OK)
      watch_.fail(sql);
    if (!blank_sql(std::string_view(tail, sql.data() + sql.size() - tail))) {
      sqlite3_finalize(stmt);
      return run_script(statement, sink);
    }
    if (!stmt) return {};  // only whitespace or comments
    PreparedStatement* prepared = cache_.enabled() ? &cache_.add(sql, stmt) : nullptr;
    StatementUse use{stmt, prepared != nullptr};
    bind(stmt, statement.params());
    const auto changes_before = sqlite3_total_changes64(db_);
    Stepping s{stmt, sql, sink, rows_wanted(stmt, sink)};
    const auto start = std::chrono::steady_clock::now();
    step_there(s);
    if (prepared) prepared->fast = fast(std::chrono::steady_clock::now() - start);
    return outcome(s, changes_before);
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
      if (sqlite3_prepare_v2(db_, rest.data(), static_cast<int>(rest.size()), &stmt, &tail) != SQLITE_OK)
        watch_.fail(rest);
      const std::string_view text(rest.data(), static_cast<std::size_t>(tail - rest.data()));
      rest = std::string_view(tail, rest.data() + rest.size() - tail);
      if (!stmt) continue;
      StatementUse use{stmt, false};
      const auto changes_before = sqlite3_total_changes64(db_);
      Stepping s{stmt, text, sink};
      step_there(s);
      last = outcome(s, changes_before);
    }
    return last;
  }

  // Closes the database after every other member (the cached statements) is gone.
  struct Database {
    sqlite3* db;
    ~Database() { sqlite3_close_v2(db); }
  } database_;
  sqlite3* db_;
  Workers workers_;
  SqliteOptions options_;
  StatementCache cache_;
  PreparedStatement control_[std::size(kControlSql)] = {};
  StatementWatch watch_;
  bool query_only_ = false;
  bool in_transaction_ = false;  // begun by begin(), not yet ended by commit() or rollback()
  bool checkpoint_due_ = false;
};

asio::awaitable<std::size_t> SqliteCursor::fetch(std::size_t max_rows, RowSink& sink) {
  if (done_) co_return 0;
  StatementWatch& watch = connection_.watch();
  watch.start_call();
  Stepping s{stmt_, statement_.sql(), &sink, max_rows};
  const bool first = !started_;
  started_ = true;
  bool went_on = false;
  try {
    if (fast_ && watch.inline_enabled()) {
      const auto ended = connection_.step_here(s, first);
      went_on = ended == SqliteConnection::Ended::move_on;
      if (ended == SqliteConnection::Ended::finished && watch.overran()) fast_ = false;
      if (ended == SqliteConnection::Ended::finished) {
        done_ = s.done;
        co_return s.rows;
      }
    }
  } catch (...) {
    done_ = true;
    throw;
  }
  std::exception_ptr failure;
  try {
    co_await connection_.on_worker([&] {
      const auto start = std::chrono::steady_clock::now();
      connection_.step_there(s);
      fast_ = !went_on && connection_.fast(std::chrono::steady_clock::now() - start);
    });
  } catch (...) {
    failure = std::current_exception();
  }
  done_ = s.done || failure;
  if (failure) std::rethrow_exception(failure);
  co_return s.rows;
}

}  // namespace keel::sqlite_detail
