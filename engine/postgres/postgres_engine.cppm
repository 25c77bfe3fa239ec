// keel's Engine on PostgreSQL, over the client's pool (keel::pg::Pool). Each event loop that uses the engine
// gets a pool of its own, made on its first use: a query runs on its caller's loop, on a connection of that
// loop, with no thread of the engine's and no hop between executors. Sync calls run on their thread's
// private loop (keel::sync_loop), which keeps its pool between calls.
module;
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/this_coro.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>
#include "../spawn.hpp"
export module keel.postgres:engine;
import keel.engine;
import keel.postgres.protocol;
import :connect_options;
import :call_options;
import :calls;
import :connection;
import :copy_targets;
import :copy_text;
import :pool;
import :portal;

namespace asio = boost::asio;

export namespace keel {

/// What a connection's session is cleared of when it goes back to the pool.
enum class SessionReset {
  /// Roll back an open transaction; clear the session (asyncpg's reset: CLOSE ALL, UNLISTEN *, advisory locks,
  /// RESET ALL) only after a command that changed it (SET, LISTEN, DECLARE ... WITH HOLD, PREPARE...).
  when_changed,
  /// Clear the session after every use, as asyncpg does: one more round trip per statement.
  always,
};

/// How a PostgresEngine connects and sizes its pools (asyncpg's and Piccolo's options).
struct PostgresOptions {
  std::string dsn;                                   ///< a URI or key=value string; PG* variables fill the rest
  std::size_t max_connections = 10;                  ///< per event loop
  std::size_t min_connections = 0;                   ///< opened when a loop first uses the engine
  std::chrono::milliseconds acquire_timeout{30000};  ///< waiting for a connection, the loop's pool being full
  std::uint64_t max_queries = 50000;                 ///< a connection is replaced after this many queries
  /// A connection idle longer than this is closed when it would be lent, and another is lent; zero: no limit.
  std::chrono::steady_clock::duration max_inactive_connection_lifetime = std::chrono::seconds(300);
  pg::PoolOptions::Hook init;                       ///< once per new connection
  pg::PoolOptions::Hook setup;                      ///< on every acquire
  SessionReset reset = SessionReset::when_changed;  ///< what a connection's session is cleared of when it goes back
  pg::PgConnectionOptions connection;               ///< the statement cache's settings
  /// The time limit of every statement (asyncpg's command_timeout): past it the server is asked to cancel the
  /// statement, and the caller gets TimeoutError. None by default; it sets connection.command_timeout.
  std::optional<std::chrono::steady_clock::duration> command_timeout;
  std::map<std::string, std::string> server_settings;  ///< sent at startup (asyncpg's server_settings)
  std::vector<std::string> extensions;                 ///< created where missing by prep_database()
  int min_server_version = 10;                         ///< an older server's connections are refused (major version)
  bool log_queries = false;                            ///< print each statement and its values (std::clog)
  bool log_responses = false;                          ///< print what each statement returned, and its time
  /// Other engines known by name (Piccolo's extra_nodes), a streaming standby say: engine.node("name").
  std::map<std::string, std::shared_ptr<Engine>> extra_nodes;
};

}  // namespace keel

namespace keel::pg_engine_detail {

// The pool of one event loop.
struct LoopPool {
  asio::execution_context* context = nullptr;
  asio::any_io_executor executor;
  std::thread::id thread;  // the thread that runs the loop
  std::shared_ptr<pg::Pool> pool;
};

[[noreturn]] inline void throw_shared_loop() {
  throw MisuseError(
      "keel::PostgresEngine: an event loop that more than one thread runs (an asio::thread_pool, or "
      "io_context::run on several threads) cannot share the engine's connections safely; give each thread an "
      "io_context of its own");
}

// Ends a pool on its own loop's thread: at once when that is the calling thread, else by a handler posted to
// the loop (its destruction ends the pool too, should the loop never run again).
inline void end_pool(LoopPool entry) {
  if (entry.thread == std::this_thread::get_id()) {
    entry.pool->terminate();
    return;
  }
  asio::post(entry.executor, [pool = std::move(entry.pool)] { pool->terminate(); });
}

// An engine's pools, shared with the loops' services, which outlive or predecease the engine.
struct Registry {
  std::mutex mutex;
  std::vector<LoopPool> pools;
  bool closed = false;
};

// Lives in every event loop that an engine has used. When the loop is destroyed, it ends the engines' pools
// of that loop while the loop's sockets can still be closed (the services are shut down, not yet destroyed).
class LoopService final : public asio::execution_context::service {
public:
  using key_type = LoopService;
  static inline asio::execution_context::id id;

  explicit LoopService(asio::execution_context& context) : asio::execution_context::service(context) {}

  void add(std::weak_ptr<Registry> registry) {
    std::lock_guard lock(mutex_);
    std::erase_if(registries_, [](const auto& weak) { return weak.expired(); });  // engines gone since
    registries_.push_back(std::move(registry));
  }

private:
  void shutdown() override {
    std::vector<std::shared_ptr<pg::Pool>> ending;
    {
      std::lock_guard lock(mutex_);
      for (auto& weak : registries_) {
        auto registry = weak.lock();
        if (!registry) continue;
        std::lock_guard registry_lock(registry->mutex);
        std::erase_if(registry->pools, [&](LoopPool& entry) {
          if (entry.context != &context()) return false;
          ending.push_back(std::move(entry.pool));
          return true;
        });
      }
      registries_.clear();
    }
    for (auto& pool : ending) pool->terminate();
  }

  std::mutex mutex_;
  std::vector<std::weak_ptr<Registry>> registries_;
};

// The rows' COPY text, and their keys, as two coroutines, so that the text is written while the keys' query is
// on its way (run_both).
asio::awaitable<void> write_copy_rows(std::optional<pg::CopyRows>& rows, const pg::InsertedValues& values) {
  rows = pg::copy_rows(values);
  co_return;
}
asio::awaitable<void> draw_keys_into(std::vector<std::int64_t>& keys, pg::PgConnection& connection,
                                     std::uint32_t sequence, std::size_t count) {
  keys = co_await pg::draw_keys(connection, sequence, count);
}

// A batch's rows, read through a portal of the client (no DECLARE or FETCH texts).
class EngineCursor final : public Cursor {
public:
  explicit EngineCursor(pg::PgPortal portal) : portal_(std::move(portal)) {}
  asio::awaitable<std::size_t> fetch(std::size_t max_rows, RowSink& sink) override {
    co_return co_await portal_.fetch(max_rows, sink);
  }

private:
  pg::PgPortal portal_;
};

// A connection lent by a loop's pool, as keel's Connection. It is used on that loop only: a transaction begun
// on one loop (begin_sync's, say) and awaited on another is refused, not left to hang or race.
class EngineConnection final : public Connection {
public:
  EngineConnection(std::shared_ptr<pg::Pool> pool, pg::PooledConnection connection, asio::execution_context& loop)
      : pool_(std::move(pool)), connection_(std::move(connection)), loop_(&loop), thread_(std::this_thread::get_id()) {}

  Dialect dialect() const override { return Dialect::postgres; }

  asio::awaitable<ExecResult> execute(const Statement& statement, RowSink* sink) override {
    check_loop(co_await asio::this_coro::executor);
    // A script of several statements cannot be prepared: without values it runs on the simple protocol. It is
    // recognised before it is sent, since a refused Parse would abort the transaction it runs in.
    const bool script = statement.params().empty() && pg::protocol::holds_several_statements(statement.sql());
    if (!script) {
      try {
        co_return co_await connection_->query(statement.sql(), statement.params(), sink);
      } catch (const SyntaxError& e) {
        // What the lexer missed: exec_parse_message refuses it (told by the routine; the message is translated).
        if (!statement.params().empty() || e.fields().routine != "exec_parse_message") throw;
      }
    }
    co_await connection_->execute(statement.sql());
    co_return ExecResult{};
  }
  // An atomic run's (or a bulk writer's batch's) statements, in order, in few round trips: those with values
  // through PgConnection::execute_in_order, and each run of statements without values (which may be scripts of
  // several, or texts seen once) as one script on the simple protocol. The first error stops the rest.
  asio::awaitable<void> execute_all(std::span<const Statement> statements) override {
    check_loop(co_await asio::this_coro::executor);
    const auto without_values = [](const Statement& s) { return s.params().empty(); };
    for (auto start = statements.begin(); start != statements.end();) {
      if (!without_values(*start)) {
        const auto end = std::find_if(start, statements.end(), without_values);
        co_await connection_->execute_in_order(std::span<const Statement>(start, end));
        start = end;
        continue;
      }
      const auto end = std::find_if_not(start, statements.end(), without_values);
      if (end - start == 1) {
        co_await execute(*start, nullptr);
      } else {
        // A line break ends a trailing -- comment before the semicolon that parts two statements.
        std::string script;
        for (auto it = start; it != end; ++it) script.append(it == start ? "" : "\n;\n").append(it->sql());
        co_await connection_->execute(script);
      }
      start = end;
    }
  }

  // Many rows by COPY in text format, at a fraction of the INSERT's cost, where it stores the same rows: the
  // target is a table COPY suits (copy_target), and each value reads back under its column's type as the
  // INSERT's bound value would be cast. Keys asked for are drawn from their sequence first (the rows' text is
  // written meanwhile) and written with the rows, then reported in row order. Otherwise the insert itself.
  asio::awaitable<ExecResult> insert_rows(const Statement& insert, const InsertTarget& target, RowSink* sink) override {
    check_loop(co_await asio::this_coro::executor);
    const pg::InsertedValues values(insert.params(), target.columns.size(), target.layout);
    if (!values.valid() || values.rows() == 0) co_return co_await execute(insert, sink);
    const std::optional<pg::CopyTarget> copy_target = co_await pg::copy_target(*connection_, target);
    if (!copy_target || !pg::copies_as_bound(values, copy_target->column_types))
      co_return co_await execute(insert, sink);
    ExecResult result;
    std::optional<pg::CopyRows> rows;
    const bool keyed = copy_target->key_sequence != 0;
    if (keyed) {
      co_await keel_spawn::run_both(
          [&] { return draw_keys_into(result.insert_ids, *connection_, copy_target->key_sequence, values.rows()); },
          [&] { return write_copy_rows(rows, values); });
    } else {
      rows = pg::copy_rows(values);
    }
    // A value without a COPY text (a date past year 32767) sends the rows as the insert; keys drawn for them
    // are left unused, as a failed insert leaves its own.
    if (!rows) co_return co_await execute(insert, sink);
    std::string copy = "COPY " + target.table + " (";
    if (keyed) copy += quote_identifier(target.returned_key) + ", ";
    for (std::size_t i = 0; i < target.columns.size(); ++i)
      copy += (i ? ", " : "") + quote_identifier(target.columns[i]);
    const std::string data = keyed ? pg::with_leading_keys(*rows, result.insert_ids) : std::move(rows->text);
    rows.reset();
    const std::string status =
        co_await connection_->copy_in_statement(copy + ") FROM STDIN", data, /*send_at_once=*/true);
    // "COPY n": the rows stored (a BEFORE trigger may have dropped some, as it would from the INSERT).
    const auto space = status.rfind(' ');
    if (space != std::string::npos)
      std::from_chars(status.data() + space + 1, status.data() + status.size(), result.rows_affected);
    co_return result;
  }

  asio::awaitable<void> begin(const TransactionOptions& options) override {
    check_loop(co_await asio::this_coro::executor);
    co_await connection_->begin(options);
  }
  asio::awaitable<void> commit() override {
    check_loop(co_await asio::this_coro::executor);
    co_await connection_->commit();
  }
  asio::awaitable<void> rollback() override {
    check_loop(co_await asio::this_coro::executor);
    co_await connection_->rollback();
  }
  // The batch's rows through a portal of the statement the cache holds: its text is prepared once, however
  // many batches run it.
  asio::awaitable<std::unique_ptr<Cursor>> open_cursor(Statement statement) override {
    check_loop(co_await asio::this_coro::executor);
    co_return std::make_unique<EngineCursor>(
        co_await pg::PgPortal::open(*connection_, statement.sql(), statement.params()));
  }

  pg::PgConnection& pg() const { return *connection_; }
  // Back to the pool, reset as the engine's reset hook says; the caller's next acquire finds it idle.
  asio::awaitable<void> give_back() { return pool_->release(std::move(connection_)); }
  // Whether this thread may run the give-back itself now: the connection belongs to this thread's sync loop,
  // which runs only inside sync calls, and no loop is running here (a lease dropped by a plain thread).
  bool may_give_back_here() const {
    return thread_ == std::this_thread::get_id() && loop_ == &static_cast<asio::execution_context&>(sync_loop()) &&
           !in_event_loop_thread() && !pool_->is_closing();
  }

private:
  void check_loop(const asio::any_io_executor& executor) const {
    if (&asio::query(unwrapped(executor), asio::execution::context) == loop_ && thread_ == std::this_thread::get_id())
      return;
    if (loop_ == &asio::query(unwrapped(executor), asio::execution::context)) throw_shared_loop();
    throw MisuseError(
        "keel::PostgresEngine: this transaction's connection belongs to another event loop; run a transaction's "
        "queries on the loop that began it (begin_sync's on its thread's sync calls)");
  }

  std::shared_ptr<pg::Pool> pool_;
  pg::PooledConnection connection_;
  asio::execution_context* loop_;
  std::thread::id thread_;
};

}  // namespace keel::pg_engine_detail

export namespace keel {

/// keel's Engine on PostgreSQL. Callers on several event loops (a loop per core) share one engine: each loop
/// has its own pool of up to max_connections. A loop must be run by one thread: a connection is never shared
/// between threads (an asio::thread_pool, or io_context::run on several threads, gets a MisuseError; give
/// each thread its own io_context). Destroy or close() the engine when no loop is running a call on it.
class PostgresEngine final : public Engine, private ConnectionOwner {
public:
  /// An engine on the connection string `dsn`, with the default options.
  explicit PostgresEngine(std::string dsn) : PostgresEngine(PostgresOptions{.dsn = std::move(dsn)}) {}
  /// An engine as `options` say; a loop's pool opens on its first use (or at start_connection_pool()).
  explicit PostgresEngine(PostgresOptions options)
      : options_(std::move(options)),
        connect_options_(pg::parse_dsn(options_.dsn)),
        registry_(std::make_shared<pg_engine_detail::Registry>()) {
    for (const auto& [name, value] : options_.server_settings) connect_options_.server_settings[name] = value;
    if (options_.command_timeout) options_.connection.command_timeout = options_.command_timeout;
    if (options_.log_queries || options_.log_responses)
      add_query_logger(printing_logger(options_.log_queries, options_.log_responses));
    for (const auto& [name, engine] : options_.extra_nodes) add_node(name, engine);
  }

  /// Ends every loop's pool: at once on this thread, through their loops on the others.
  ~PostgresEngine() override {
    for (auto& entry : take_pools()) pg_engine_detail::end_pool(std::move(entry));
  }

  Dialect dialect() const override { return Dialect::postgres; }

  asio::awaitable<std::string> version() override {
    ConnectionLease lease = co_await acquire();
    std::string version = static_cast<pg_engine_detail::EngineConnection&>(*lease).pg().server_version();
    co_await keel::give_back(std::move(lease));
    co_return version;
  }

  /// Closes every pool: the caller's loop's gracefully (waiting for its lent connections), the others at once.
  asio::awaitable<void> close() override {
    auto& here = loop_context(unwrapped(co_await asio::this_coro::executor));
    for (auto& entry : take_pools()) {
      if (entry.context == &here && entry.thread == std::this_thread::get_id())
        co_await entry.pool->close();
      else
        pg_engine_detail::end_pool(std::move(entry));
    }
  }

  asio::awaitable<ConnectionLease> acquire() override {
    const asio::any_io_executor executor = unwrapped(co_await asio::this_coro::executor);
    std::shared_ptr<pg::Pool> pool = find_pool(executor);
    if (!pool) {
      pool = co_await make_pool(executor);
      // Cancelled while the pool opened: said as keel's error, not as the operation_aborted of the next co_await.
      if (co_await asio::this_coro::throw_if_cancelled() &&
          (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
        throw CanceledError("the wait for a connection was cancelled while the engine opened its pool");
    }
    pg::PooledConnection connection = co_await pool->acquire();
    co_return ConnectionLease(
        new pg_engine_detail::EngineConnection(std::move(pool), std::move(connection), loop_context(executor)),
        ReturnToOwner{this});
  }

  /// Opens the caller's loop's pool now, with its min_connections (Piccolo's start_connection_pool); otherwise
  /// it opens on first use.
  asio::awaitable<void> start_connection_pool() {
    const asio::any_io_executor executor = unwrapped(co_await asio::this_coro::executor);
    if (!find_pool(executor)) co_await make_pool(executor);
  }
  /// Piccolo's close_connection_pool: close().
  asio::awaitable<void> close_connection_pool() { return close(); }

  /// Creates the options' extensions where missing (Piccolo's prep_database). Returns those this role may not
  /// create (42501: they need a superuser); any other failure is thrown.
  asio::awaitable<std::vector<std::string>> prep_database() {
    std::vector<std::string> refused;
    for (const std::string& extension : options_.extensions) {
      bool denied = false;
      try {
        co_await execute(Statement("CREATE EXTENSION IF NOT EXISTS " + quote_identifier(extension)), nullptr);
      } catch (const SyntaxErrorOrAccessRuleViolation& e) {
        if (e.sqlstate() != "42501") throw;
        denied = true;
      }
      if (denied) refused.push_back(extension);
    }
    co_return refused;
  }

  /// The pool of the caller's loop: its size (lent and idle) and its idle connections; zero before first use.
  asio::awaitable<std::size_t> pool_size() {
    co_return with_pool(co_await asio::this_coro::executor, &pg::Pool::get_size);
  }
  /// The idle connections of the caller's loop's pool; zero before its first use.
  asio::awaitable<std::size_t> idle_connections() {
    co_return with_pool(co_await asio::this_coro::executor, &pg::Pool::get_idle_size);
  }

private:
  static asio::execution_context& loop_context(const asio::any_io_executor& executor) {
    return asio::query(executor, asio::execution::context);
  }

  std::vector<pg_engine_detail::LoopPool> take_pools() {
    std::lock_guard lock(registry_->mutex);
    registry_->closed = true;
    return std::exchange(registry_->pools, {});
  }

  std::size_t with_pool(const asio::any_io_executor& executor, std::size_t (pg::Pool::*figure)() const noexcept) {
    auto pool = find_pool(unwrapped(executor));
    return pool ? ((*pool).*figure)() : 0;
  }

  std::shared_ptr<pg::Pool> find_pool(const asio::any_io_executor& executor) {
    asio::execution_context* context = &loop_context(executor);
    std::lock_guard lock(registry_->mutex);
    if (registry_->closed) throw ConnectionError("the PostgreSQL engine is closed");
    for (const auto& entry : registry_->pools) {
      if (entry.context != context) continue;
      if (entry.thread != std::this_thread::get_id()) pg_engine_detail::throw_shared_loop();
      return entry.pool;
    }
    return nullptr;
  }

  asio::awaitable<std::shared_ptr<pg::Pool>> make_pool(asio::any_io_executor executor) {
    pg::PoolOptions pool_options;
    pool_options.min_size = options_.min_connections;
    pool_options.max_size = options_.max_connections;
    pool_options.max_queries = options_.max_queries;
    pool_options.max_inactive_connection_lifetime = options_.max_inactive_connection_lifetime;
    pool_options.acquire_timeout = options_.acquire_timeout;
    // Each new connection is checked against min_server_version before the user's init hook runs.
    pool_options.init = [minimum = options_.min_server_version,
                         init = options_.init](pg::PgConnection& c) -> asio::awaitable<void> {
      const std::string version = c.server_version();
      if (minimum > 0 && std::atoi(version.c_str()) < minimum)
        throw ConnectionError("the PostgreSQL server is version " + version +
                              ", older than the engine's min_server_version " + std::to_string(minimum));
      if (init) co_await init(c);
    };
    pool_options.setup = options_.setup;
    pool_options.connection = options_.connection;
    // Nothing pending on the caller's loop while idle, so that its io_context::run() returns when its work is
    // done; idle connections are checked when lent instead.
    pool_options.watch_idle = false;
    pool_options.reset = [always =
                              options_.reset == SessionReset::always](pg::PgConnection& c) -> asio::awaitable<void> {
      if (always || c.session_changed())
        co_await c.reset();
      else if (c.is_in_transaction())
        co_await c.rollback();
    };
    std::shared_ptr<pg::Pool> made = co_await pg::Pool::create(executor, connect_options_, std::move(pool_options));
    asio::execution_context& context = loop_context(executor);
    {
      std::lock_guard lock(registry_->mutex);
      if (registry_->closed) {
        made->terminate();
        throw ConnectionError("the PostgreSQL engine is closed");
      }
      for (const auto& entry : registry_->pools)
        if (entry.context == &context) {  // another coroutine of this loop made one meanwhile
          made->terminate();
          if (entry.thread != std::this_thread::get_id()) pg_engine_detail::throw_shared_loop();
          co_return entry.pool;
        }
      registry_->pools.push_back({&context, executor, std::this_thread::get_id(), made});
    }
    asio::use_service<pg_engine_detail::LoopService>(context).add(registry_);
    co_return made;
  }

  // A lease dropped (an explicit transaction or a batch never ended): the connection goes back in the
  // background on its loop; a plain thread's sync loop runs only in sync calls, so there it goes back now, and
  // its open transaction does not hold locks until the thread's next sync call.
  void release(Connection* connection) noexcept override {
    std::unique_ptr<pg_engine_detail::EngineConnection> owned(
        static_cast<pg_engine_detail::EngineConnection*>(connection));
    if (owned->may_give_back_here()) {
      try {
        keel::run_sync(owned->give_back());
      } catch (...) {}
    }
  }
  asio::awaitable<void> give_back(ConnectionLease lease) override {
    std::unique_ptr<pg_engine_detail::EngineConnection> connection(
        static_cast<pg_engine_detail::EngineConnection*>(lease.release()));
    co_await connection->give_back();
  }

  PostgresOptions options_;
  pg::ConnectOptions connect_options_;
  std::shared_ptr<pg_engine_detail::Registry> registry_;
};

}  // namespace keel
