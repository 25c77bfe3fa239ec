// A connection to PostgreSQL: connect (hosts in order, TLS by sslmode, trust, cleartext, md5, SCRAM-SHA-256
// and SCRAM-SHA-256-PLUS), the simple protocol (execute) and the extended protocol with bound values and
// binary results (fetch), a prepared-statement cache, COPY, listeners and the session's status. Messages are
// encoded and decoded by keel.postgres.protocol; bytes move through the Transport. Beside it: call_options,
// parameter_encoding, row_collectors, prepared_statement (PreparedStatement) and cursor (PgCursor).
//
// This file declares PgConnection, with its short members and its hot path (a cached statement bound, sent and
// read: run_bound). The rest is defined in client/, one file per operation: startup.cpp (hosts, startup,
// authentication), session.cpp (made, reset, closed), simple_query.cpp (execute, scripts, BEGIN/COMMIT), copy.cpp,
// copy_records.cppm (records as binary COPY's tuples), extended_query.cpp (preparing, portals), notifications.cpp
// (listeners, loggers and what the server sends unasked) and calls.cppm (the templates: fetch, executemany,
// copy_records_to_table...); prepare() and cursor() in prepared_statement.cppm and cursor.cppm. Each request's reply, a
// state machine over the server's frames, is in client/replies.cppm.
module;
#include <boost/container/small_vector.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>
export module keel.postgres:connection;
import keel.engine;
import keel.postgres.protocol;
import :call_options;
import :codecs;
import :connect_options;
import :parameter_encoding;
import :pipeline;
import :record;
import :replies;
import :row_collectors;
import :statement_cache;
import :text_format;
import :transport;
import :value_codec;

namespace asio = boost::asio;
namespace proto = keel::pg::protocol;

export namespace keel::pg {

/// asyncpg's name for a server error: keel's DatabaseError, with every ErrorResponse field and a class per
/// SQLSTATE (keel::UniqueViolation, keel::InvalidPassword...).
using PostgresError = keel::DatabaseError;

}  // namespace keel::pg

export namespace keel::pg {

/// A connection to PostgreSQL, as asyncpg's Connection: the simple and extended protocols, a statement cache,
/// COPY, cursors, listeners and loggers. Any number of coroutines may use it at once: their requests are pipelined.
class PgConnection : private AsyncMessageHandler {
public:
  /// A statement the server has parsed and described.
  using Prepared = DescribedStatement;

  using Notice = ErrorFields;  ///< a NOTICE or WARNING from the server
  /// A connection's options.
  using Options = PgConnectionOptions;

  /// Connects to the first host that accepts, in order, and that suits target_session_attrs. connect_timeout
  /// bounds each host's whole setup (connect, TLS, startup, authentication), as libpq's; `deadline`, if given,
  /// bounds the whole call (a pool's acquire timeout): past either, TimeoutError.
  static asio::awaitable<std::unique_ptr<PgConnection>> connect(
      ConnectOptions options, Options settings = {},
      std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt);
  /// Connects as the connection string `dsn` says (see parse_dsn).
  static asio::awaitable<std::unique_ptr<PgConnection>> connect(std::string_view dsn, Options settings = {}) {
    return connect(parse_dsn(dsn), settings);
  }

  /// Closes the socket at once; close() first lets the requests already written be answered.
  ~PgConnection();

  // ---- Running SQL. Any number of coroutines may call at once: their requests are written back to back
  // (pipelined) and each gets its own replies. An error reaches only its own caller (in a transaction, the
  // server aborts the transaction, so the requests after it fail too).

  /// The simple protocol: any number of statements, no values; returns the last command tag.
  asio::awaitable<std::string> execute(std::string_view sql) { return simple_query(sql, std::nullopt, nullptr); }
  /// execute(sql) with a time limit of its own.
  asio::awaitable<std::string> execute(std::string_view sql, Timeout limit) {
    return simple_query(sql, limit.limit, nullptr);
  }
  /// A script of any number of statements on the simple protocol, as psql -c runs it: `on_result` hears each
  /// statement's result as it completes (rows in text format), COPY ... TO STDOUT's data goes to `copy_out`, and
  /// each COPY ... FROM STDIN reads its data from `copy_in` (chunks until an empty one; without it, the COPY is
  /// refused). The first error ends the script and is thrown, after the results before it were heard.
  asio::awaitable<void> run_script(std::string_view sql, std::function<void(const TextResult&)> on_result,
                                   std::function<void(std::span<const std::uint8_t>)> copy_out = {},  // a CopySink
                                   std::function<std::string_view()> copy_in = {});                   // a CopySource

  /// The extended protocol, for keel's engine layer: one statement with keel::Values bound to $1, $2...; rows go
  /// to the sink as they arrive, decoded in place. The statement is prepared once per text and kept in the
  /// statement cache.
  asio::awaitable<ExecResult> query(std::string_view sql, std::span<const Value> params, RowSink* sink) {
    EncodedParameters encoded;
    for (const Value& v : params) encoded.add_value(v);
    return run_bound(sql, std::move(encoded), NoRows{}, sink, [](NoRows&, ExecResult r) { return r; });
  }

  /// Statements (each with sql() and params(), keel::Values) run in order in one round trip: each is prepared
  /// first where the cache lacks it, then all are bound and executed back to back under one Sync. The first error
  /// stops the rest, since the server skips to the Sync; inside a transaction, its rollback undoes what ran. More
  /// distinct texts than the cache holds, or texts it does not keep, run one by one. (A statement the cache drops
  /// meanwhile stays prepared while this call holds it.)
  template <class Statements>
  asio::awaitable<void> execute_in_order(const Statements& statements);

  // ---- asyncpg's API: values of any type with a codec, results as Records. A keel::pg::timeout(d) among
  // the values limits the call's time.

  /// All rows.
  template <class... Args>
  asio::awaitable<std::vector<Record>> fetch(std::string_view sql, const Args&... args);
  /// All rows decoded straight into T: a struct (one member per column, in order), a std::tuple, or one value
  /// for a one-column result; std::optional members take NULL. The fastest way to read many rows.
  template <class T, class... Args>
  asio::awaitable<std::vector<T>> fetch_as(std::string_view sql, const Args&... args);
  /// All rows, with keel::Values bound (text goes untyped, so the server reads it as what the statement needs).
  asio::awaitable<std::vector<Record>> fetch_values(std::string_view sql, std::span<const Value> values) {
    EncodedParameters encoded{custom_codecs_.get()};
    for (const Value& v : values) encoded.add_value(v);
    return run_bound(sql, std::move(encoded), RecordCollector(custom_codecs_), nullptr, take_records);
  }
  /// The first row, or nullopt.
  template <class... Args>
  asio::awaitable<std::optional<Record>> fetchrow(std::string_view sql, const Args&... args);
  /// The first column of the first row. No row is a MisuseError, unless T is std::optional.
  template <class T, class... Args>
  asio::awaitable<T> fetchval(std::string_view sql, const Args&... args);
  /// A statement with values, through the extended protocol; returns its status ("INSERT 0 1").
  template <class... Args>
    requires(value_count_v<Args...> > 0)
  asio::awaitable<std::string> execute(std::string_view sql, const Args&... args);
  /// One statement run with each set of values, pipelined: every execution is written at once and the server
  /// answers them in one round trip. As in asyncpg, it is atomic: the executions share one implicit
  /// transaction (or the caller's), so an error undoes them all. Returns how many rows they affected in all.
  template <class... Args>
  asio::awaitable<std::uint64_t> executemany(std::string_view sql, const std::vector<std::tuple<Args...>>& rows,
                                             std::optional<Timeout> limit = std::nullopt);
  /// asyncpg's fetchmany: the query run with each set of values, pipelined with one Sync (one round trip, one
  /// implicit transaction: an error ends them all); every execution's rows, in order.
  template <class... Args>
  asio::awaitable<std::vector<Record>> fetchmany(std::string_view sql, const std::vector<std::tuple<Args...>>& sets,
                                                 std::optional<Timeout> limit = std::nullopt);
  /// fetchmany with rows decoded straight into T, as fetch_as.
  template <class T, class... Args>
  asio::awaitable<std::vector<T>> fetchmany_as(std::string_view sql, const std::vector<std::tuple<Args...>>& sets,
                                               std::optional<Timeout> limit = std::nullopt);
  /// asyncpg's set_type_codec: how values of a server type without a built-in codec (an enum, hstore, a
  /// PostGIS type) travel, as text (the type's input and output forms) or in binary (its send and receive
  /// forms). Afterwards T binds as a value and Record::get<T> reads the type.
  template <class T>
  asio::awaitable<void> set_type_codec(std::string_view type_name, std::function<std::string(const T&)> encoder,
                                       std::function<T(std::string_view)> decoder,
                                       proto::Format format = proto::Format::text);

  /// asyncpg's prepare: a named statement with its parameter and result types, kept until it is dropped.
  asio::awaitable<class PreparedStatement> prepare(std::string_view sql);

  /// A server-side cursor over the query's rows (see PgCursor); in a transaction, unless options.hold.
  template <class... Args>
  asio::awaitable<class PgCursor> cursor(CursorOptions options, std::string_view sql, const Args&... args);
  /// cursor(options, sql, args...) with the default options.
  template <class... Args>
  asio::awaitable<class PgCursor> cursor(std::string_view sql, const Args&... args);

  // ---- COPY (client/copy.cpp; copy_records_to_table in client/calls.cppm), as asyncpg's copy_from_table,
  // copy_from_query, copy_to_table and copy_records_to_table. Data moves in CopyData messages; a failure in the middle
  // (bad data, a sink or source that throws) ends the COPY on the server, and the connection stays usable.

  /// Receives COPY's output, chunk by chunk (rows in the chosen format; the chunks need not end at rows).
  using CopySink = keel::pg::CopySink;
  /// Gives COPY's input: the next chunk, or an empty view at the end. The view stays valid until the next call.
  using CopySource = std::function<std::string_view()>;

  /// A table's rows to the sink; returns the status ("COPY 1000").
  asio::awaitable<std::string> copy_from_table(std::string_view table, CopySink sink, CopyOptions options = {});
  /// A query's rows to the sink.
  asio::awaitable<std::string> copy_from_query(std::string_view query, CopySink sink, CopyOptions options = {});
  /// Into a file.
  asio::awaitable<std::string> copy_from_table(std::string_view table, const std::filesystem::path& file,
                                               CopyOptions options = {});
  /// A query's rows into a file.
  asio::awaitable<std::string> copy_from_query(std::string_view query, const std::filesystem::path& file,
                                               CopyOptions options = {});

  /// Data in COPY's format (text by default, or csv or binary per the options) into a table.
  asio::awaitable<std::string> copy_to_table(std::string_view table, CopySource source, CopyOptions options = {});
  /// A COPY ... FROM STDIN statement of your own (its target, column list and options as you write them), with
  /// `data` in its format; returns the status ("COPY 1000"). With `send_at_once` the data follows the statement
  /// without waiting for the server to accept the COPY, which saves a round trip; a server that refuses it drops
  /// the data, as the protocol has it. Only for a COPY FROM STDIN: another statement's output would wait unread
  /// behind the data.
  asio::awaitable<std::string> copy_in_statement(std::string statement, std::string_view data,
                                                 bool send_at_once = false);
  /// Data in COPY's format, all in memory, into a table.
  asio::awaitable<std::string> copy_to_table(std::string_view table, std::string_view data, CopyOptions options = {});
  /// A file's data, in COPY's format, into a table.
  asio::awaitable<std::string> copy_to_table(std::string_view table, const std::filesystem::path& file,
                                             CopyOptions options = {});

  /// Records (tuples, or plain structs, one member per column) into a table through binary COPY: each value is
  /// encoded for its column's type, as the server reports it. options.columns names the columns (all of them
  /// by default, in table order); options.schema_name qualifies the table.
  template <class Records>
  asio::awaitable<std::string> copy_records_to_table(std::string_view table, const Records& records,
                                                     CopyOptions options = {});

  // ---- Asio's universal model: the same operations with any completion token (a callback, use_future,
  // deferred...); each runs as a coroutine on the connection's executor. Coroutines are the main path.
  /// The executor the connection's operations run on.
  asio::any_io_executor get_executor() const { return pipeline_->executor(); }

  /// connect(dsn) with any completion token.
  template <class Token>
  static auto async_connect(asio::any_io_executor executor, std::string dsn, Token&& token) {
    return asio::co_spawn(executor, [dsn = std::move(dsn)]() { return connect(dsn); }, std::forward<Token>(token));
  }
  /// execute(sql) with any completion token.
  template <class Token>
  auto async_execute(std::string sql, Token&& token) {
    return asio::co_spawn(
        get_executor(), [this, sql = std::move(sql)]() { return execute(sql); }, std::forward<Token>(token));
  }
  /// fetch_values(sql, values) with any completion token.
  template <class Token>
  auto async_fetch(std::string sql, std::vector<Value> values, Token&& token) {
    return asio::co_spawn(
        get_executor(),
        [this, sql = std::move(sql), values = std::move(values)]() { return fetch_values(sql, values); },
        std::forward<Token>(token));
  }

  // ---- Transactions on this connection (client/simple_query.cpp): BEGIN with isolation level, read-only and
  // deferrable; savepoints.
  /// BEGIN, with the options' isolation level, READ ONLY and DEFERRABLE; inside a transaction, TransactionError.
  asio::awaitable<void> begin(const TransactionOptions& options = {});
  /// A transaction that an error aborted answers COMMIT with ROLLBACK: that is TransactionAborted, never success.
  /// A COMMIT whose answer is lost (the connection drops, or the server stays silent past the grace) raises
  /// CommitOutcomeUnknown: it may have committed. A connection closed before it was sent is a plain
  /// ConnectionError: the server rolled the transaction back.
  asio::awaitable<void> commit();
  /// ROLLBACK.
  asio::awaitable<void> rollback() { co_await execute("ROLLBACK"); }
  /// SAVEPOINT `name`; the name must be an identifier.
  asio::awaitable<void> savepoint(std::string_view name);
  /// ROLLBACK TO SAVEPOINT `name`.
  asio::awaitable<void> rollback_to(std::string_view name);
  /// RELEASE SAVEPOINT `name`.
  asio::awaitable<void> release(std::string_view name);

  /// The status of the last command ("SELECT 3", "INSERT 0 1").
  const std::string& status_message() const noexcept { return last_status_; }

  // ---- Listeners and loggers (client/notifications.cpp), as asyncpg's add_listener, add_log_listener,
  // add_termination_listener and add_query_logger. Callbacks run on the connection's executor; each add returns
  // an id for removal.

  /// LISTENs on the channel (when it is the channel's first listener) and calls back for each notification.
  /// While any listener is registered, the connection reads from the server even when idle.
  asio::awaitable<ListenerId> add_listener(std::string channel, std::function<void(const Notification&)> callback);
  /// Removes a listener; the last one of a channel UNLISTENs.
  asio::awaitable<void> remove_listener(const std::string& channel, ListenerId id);
  /// NOTICE, WARNING and the other non-error messages the server sends (RAISE NOTICE, ...).
  ListenerId add_log_listener(std::function<void(const Notice&)> callback);
  /// Removes a log listener.
  void remove_log_listener(ListenerId id);
  /// Called once when the connection ends without close(): the server went away, or the connection broke.
  ListenerId add_termination_listener(std::function<void()> callback);
  /// Removes a termination listener.
  void remove_termination_listener(ListenerId id);
  /// Called after each query with its text, values, time taken and outcome.
  ListenerId add_query_logger(std::function<void(const LoggedQuery&)> callback);
  /// Removes a query logger.
  void remove_query_logger(ListenerId id);

  // ---- Status.
  /// The process id of the server's backend for this session.
  int server_pid() const noexcept { return pipeline_->key.process_id; }
  /// The server's settings as it reported them (ParameterStatus), and the few the connection asked it for.
  const std::map<std::string, std::string>& settings() const noexcept { return settings_; }
  /// One of settings(); empty when it is not known.
  std::string setting(const std::string& name) const {
    auto found = settings_.find(name);
    return found == settings_.end() ? std::string() : found->second;
  }
  /// The server_version setting, e.g. "15.8 (Debian 15.8-0+deb12u1)".
  std::string server_version() const { return setting("server_version"); }
  /// Whether a transaction is open on the server (or failed, awaiting its ROLLBACK).
  bool is_in_transaction() const noexcept { return pipeline_->transaction_status != proto::TransactionStatus::idle; }
  /// Whether the connection is encrypted (TLS).
  bool is_tls() const noexcept { return transport().is_tls(); }
  /// How the server authenticated this session: trust, password, md5, SCRAM-SHA-256 or SCRAM-SHA-256-PLUS.
  const std::string& authentication_method() const noexcept { return authentication_method_; }
  /// Closed by close() or terminate(), or broken (the server went away, a protocol violation).
  inline bool is_closed() const noexcept { return pipeline_->broken(); }
  /// How many statements the statement cache holds.
  std::size_t cached_statements() const noexcept { return cache_.size(); }
  /// Requests written and not yet answered.
  std::size_t pending_requests() const noexcept { return pipeline_->pending(); }

  /// Clears the session's state for the next user, as asyncpg's pool does on release: rolls back an open
  /// transaction, closes cursors, stops listening, releases advisory locks and resets every setting.
  asio::awaitable<void> reset();
  /// Whether a command since the last reset() left state in the session (SET, LISTEN, a held cursor...; see
  /// proto::changes_session). A pool that resets only what changed asks this.
  bool session_changed() const noexcept { return session_changed_; }

  /// Reads from the server while idle, so that a connection the server ends (a restart, an administrator) is
  /// marked closed at once, and termination listeners hear of it. A pool does this for its idle connections.
  void watch_while_idle(bool on) {
    watching_ = on;
    update_reading();
  }
  /// Idle and untouched by the server since its last reply: not closed, nothing unread on the socket. A pool
  /// that does not watch its idle connections asks this before it lends one.
  bool is_quiet() noexcept { return !is_closed() && pending_requests() == 0 && !transport().has_unread_input(); }
  /// How many queries this connection has run (a pool's max_queries).
  std::uint64_t queries_run() const noexcept { return queries_run_; }

  /// Says goodbye (Terminate) and closes the socket, after the requests already written are answered.
  asio::awaitable<void> close();
  /// Closes the socket at once; requests still waiting fail with ConnectionError.
  void terminate() noexcept { pipeline_->close(); }

private:
  // ---- COPY (client/copy.cpp).

  // COPY ... TO STDOUT: CopyOutResponse, CopyData..., CopyDone, CommandComplete, through the simple protocol.
  asio::awaitable<std::string> copy_out(std::string sql, CopySink sink);

  // Holds the connection while the data streams (nothing else may be written in between). `produce` appends
  // CopyData messages and returns false at the end; if it throws, CopyFail ends the COPY on the server and
  // its exception reaches the caller. With `send_at_once` the data follows the statement at once (see
  // copy_in_statement).
  asio::awaitable<std::string> copy_in(std::string sql, std::function<bool(proto::ByteBuffer&)> produce,
                                       bool send_at_once = false);

  static std::string column_list(const std::vector<std::string>& columns);
  static std::string table_target(std::string_view table, const CopyOptions& options);
  // COPY's option list: (FORMAT csv, DELIMITER ',', ...).
  static std::string render(const CopyOptions& o);

  // ---- Asynchronous messages (client/notifications.cpp).
  void on_parameter_status(const proto::Frame& frame) override;
  void on_notice(const proto::Frame& frame) override;
  void on_notification(const proto::Frame& frame) override;
  void on_terminated(std::exception_ptr) override;

  // ---- Running (client/simple_query.cpp and client/copy.cpp; the bound query here).

  // A simple Query (any number of statements, no values); `limit` overrides command_timeout.
  asio::awaitable<std::string> simple_query(std::string_view sql,
                                            std::optional<std::chrono::steady_clock::duration> limit, CopySink* sink,
                                            SimpleReply::ResultHandler* on_result = nullptr,
                                            CopySource* source = nullptr);

  // One COPY FROM STDIN's data from `produce` (false: no more), then CopyDone; CopyFail if it throws (returned,
  // for the caller to rethrow once the server has answered). Stops early if the server ends the COPY (bad
  // data): it ignores what follows until the next query.
  asio::awaitable<std::exception_ptr> send_copy_data(const std::function<bool(proto::ByteBuffer&)>& produce,
                                                     const Reply& reply, const CopyCancellation& cancellation);
  // A CopySource's chunks as CopyData messages, for send_copy_data.
  static std::function<bool(proto::ByteBuffer&)> copy_data_from(CopySource& source);

  std::optional<std::chrono::steady_clock::time_point> deadline_for(
      std::optional<std::chrono::steady_clock::duration> limit, std::chrono::steady_clock::time_point started) const {
    if (!limit) limit = settings_options_.command_timeout;
    if (!limit || limit->count() <= 0) return std::nullopt;
    return started + *limit;
  }

  // The end of a simple query or a COPY, after its cancellation scope: logged, then its failure or its status.
  std::string logged_outcome(std::string_view sql, std::chrono::steady_clock::time_point started,
                             const std::exception_ptr& failure, const std::string& tag) {
    log_query(sql, nullptr, started, failure);
    if (failure) std::rethrow_exception(failure);
    return tag;
  }

  // A query's run, logged. A cached statement whose result type changed (after an ALTER TABLE) fails once;
  // outside a transaction it is prepared again and run again, so the call succeeds. In a transaction the
  // error stands, as the transaction is aborted anyway.
  //
  // The call's values and its rows' collector live in this coroutine's frame, and `take` makes the result
  // from them: fetch_as and the others are then plain functions, and a query costs one coroutine frame (and
  // the read's) rather than two.
  template <class Collector, class Take>
  asio::awaitable<std::invoke_result_t<Take&, Collector&, ExecResult>> run_bound(std::string_view sql,
                                                                                 EncodedParameters params,
                                                                                 Collector rows, RowSink* sink,
                                                                                 Take take) {
    RowCollector* records = nullptr;
    if constexpr (std::is_base_of_v<RowCollector, Collector>) records = &rows;
    ensure_open();
    // The clock is read only for a time limit or a query logger: most queries need neither.
    const bool timed = params.timeout || settings_options_.command_timeout || !query_loggers_.empty();
    const auto started = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    const auto deadline = timed ? deadline_for(params.timeout, started) : std::nullopt;
    std::exception_ptr failure;
    ExecResult result;
    for (int attempt = 0; attempt < 2; ++attempt) {
      failure = nullptr;
      bool again = false;
      try {
        // run_prepared's steps, spelled out: the common case (a cached statement, nobody else reading) runs
        // with no coroutine below this one but the read.
        ExclusiveHold hold;
        std::shared_ptr<const Prepared> prepared = cached_statement(sql, params.types);
        if (!prepared) prepared = co_await prepare(sql, params.types, deadline, hold);
        if (!pipeline_->turn_is_free(hold.held())) co_await pipeline_->wait_for_turn(hold.held(), deadline);
        const auto cancellation = co_await asio::this_coro::cancellation_state;
        // Cancelled during a step that still completed: nothing of this statement is sent. (Sent, Asio would
        // throw at the next co_await, and its reply would be left pointing into this frame.)
        if (Pipeline::stops(cancellation, co_await asio::this_coro::throw_if_cancelled()))
          throw CanceledError("the query was cancelled before it was sent to the server; it did not run");
        const bool cancellable = cancellation.slot().is_connected();
        const auto reply = send_bound(*prepared, {&params, 1}, sink, records, hold);
        if (!pipeline_->flush_now()) {
          co_await pipeline_->flush_then_wait(*reply, deadline);
        } else if (pipeline_->may_read_in_place(*reply, deadline, cancellable)) {
          co_await pipeline_->read_in_place(*reply);
        } else if (!deadline && !cancellable) {
          // Another coroutine reads (pipelining): it hands the reply over. Nothing to time or cancel, so no
          // frame of wait()'s either.
          while (!reply->caller_may_resume()) co_await reply->handed_over();
        } else {
          co_await pipeline_->wait(*reply, deadline);
        }
        result = finish_bound(*reply);
      } catch (const FeatureNotSupported& e) {
        failure = std::current_exception();
        // "cached plan must not change result type" (asyncpg's InvalidCachedStatementError), told by the
        // routine that raises it, since the message is translated.
        if (e.fields().routine == "RevalidateCachedQuery") {
          cache_.forget(cache_.key(sql, params.types));  // prepared again on the next use
          again = attempt == 0 && !is_in_transaction();
        }
      } catch (...) {
        failure = std::current_exception();
      }
      if (!again) break;
    }
    log_query(sql, &params, started, failure);
    if (failure) std::rethrow_exception(failure);
    co_return take(rows, result);
  }
  struct NoRows {};  // a call that collects no rows (execute, or rows to a sink)
  static std::vector<Record> take_records(RecordCollector& records, ExecResult) { return std::move(records.records); }
  template <class... Args>
  EncodedParameters encode(const Args&... args) const {
    EncodedParameters encoded{custom_codecs_.get()};
    (encoded.add(args), ...);
    return encoded;
  }

  // The connection held by one caller (an unnamed statement from its description to its run, a COPY, a script
  // with COPY data), let go when the hold ends.
  struct ExclusiveHold {
    Pipeline* pipeline = nullptr;
    inline ~ExclusiveHold() {
      if (pipeline) pipeline->unlock_exclusive();
    }
    inline bool held() const noexcept { return pipeline != nullptr; }
  };

  // executemany and fetchmany: one Bind + Execute per set of values, then one Sync. Returns the rows affected.
  template <class... Args>
  asio::awaitable<std::uint64_t> run_many(std::string_view sql, const std::vector<std::tuple<Args...>>& sets,
                                          std::optional<Timeout> limit, RowCollector* rows);

  // Bind + Execute for each set of values, then Sync, on a described statement.
  asio::awaitable<ExecResult> run_prepared(const Prepared& prepared, std::span<EncodedParameters> sets, RowSink* sink,
                                           RowCollector* records,
                                           std::optional<std::chrono::steady_clock::time_point> deadline,
                                           ExclusiveHold& hold);

  // The result formats of a statement whose rows go to a RowSink: binary for keel's value types, worked out once.
  static const std::vector<proto::Format>& sink_formats(const Prepared& prepared) {
    if (!prepared.sink_formats) {
      prepared.sink_formats.emplace();
      for (const auto& field : prepared.fields) prepared.sink_formats->push_back(engine_result_format(field.type_oid));
    }
    return *prepared.sink_formats;
  }

  // Bind of a statement to a portal. The unnamed statement goes with its text, parsed again in the same request
  // (and its portal described, for BoundReply to check the columns): a Sync ends the request that described it,
  // and behind PgBouncer in transaction pooling the server connection may serve another client after a Sync,
  // whose own unnamed statement a bare Bind would then run.
  static void write_bind_of(proto::ByteBuffer& out, const std::string& portal, const Prepared& prepared,
                            const EncodedParameters& params, const std::vector<proto::Format>& result_formats) {
    if (prepared.name.empty()) proto::write_parse(out, "", prepared.sql, prepared.parameter_types);
    proto::write_bind(out, portal, prepared.name, params.formats, params.values(), result_formats);
    if (prepared.name.empty()) proto::write_describe(out, proto::Target::portal, portal);
  }

  // Writes Bind + Execute for each set of values, then Sync, and queues the reply, with no suspension: the
  // caller flushes and waits. Binary results for the types keel decodes: every codec type for Records and
  // typed rows, keel's value types for sinks (both worked out once per statement).
  std::shared_ptr<BoundReply> send_bound(const Prepared& prepared, std::span<EncodedParameters> sets, RowSink* sink,
                                         RowCollector* records, ExclusiveHold& hold) {
    ensure_open();
    const std::vector<proto::Format>* result_formats = nullptr;
    if (records) {
      if (!prepared.collected || prepared.collected->custom_codecs.get() != records->custom()) {
        std::vector<proto::Format> formats;
        for (const auto& field : prepared.fields)
          formats.push_back(records->custom() && records->custom()->for_oid(field.type_oid)
                                ? records->custom()->for_oid(field.type_oid)->format
                                : (has_binary_codec(field.type_oid) ? proto::Format::binary : proto::Format::text));
        prepared.collected = std::make_shared<const RecordDescription>(
            RecordDescription{prepared.fields, std::move(formats), records->custom_registry()});
      }
      result_formats = &prepared.collected->formats;
    } else {
      result_formats = &sink_formats(prepared);
    }
    auto reply = std::allocate_shared<BoundReply>(RecyclingAllocator<BoundReply>(), prepared, *result_formats, sink,
                                                  records, row_cells_);
    if (records) reply->use_description(prepared.collected);
    auto& out = pipeline_->out();
    for (const EncodedParameters& params : sets) {
      write_bind_of(out, "", prepared, params, *result_formats);
      proto::write_execute(out, "", 0);
    }
    proto::write_sync(out);
    pipeline_->queue(reply);
    if (hold.held()) {  // an unnamed statement is bound: others may follow it now
      pipeline_->unlock_exclusive();
      hold.pipeline = nullptr;
    }
    return reply;
  }

  // A completed reply's outcome: its error, or what it did.
  ExecResult finish_bound(const BoundReply& reply) {
    session_changed_ = session_changed_ || reply.changed_session;
    if (reply.refused) std::rethrow_exception(reply.refused);
    reply.rethrow();
    last_status_ = reply.status;
    return ExecResult{reply.rows_affected};
  }

  void update_reading() { pipeline_->set_listening(watching_ || !listeners_.empty()); }

  // Counts the query, and tells the query loggers of it (client/notifications.cpp), if there are any.
  inline void log_query(std::string_view sql, const EncodedParameters* params,
                        std::chrono::steady_clock::time_point started, const std::exception_ptr& failure) {
    ++queries_run_;
    if (!query_loggers_.empty()) tell_query_loggers(sql, params, started, failure);
  }
  void tell_query_loggers(std::string_view sql, const EncodedParameters* params,
                          std::chrono::steady_clock::time_point started, const std::exception_ptr& failure);

  PgConnection(asio::any_io_executor executor, ConnectOptions options, Options settings);

  Transport& transport() noexcept { return pipeline_->transport; }
  const Transport& transport() const noexcept { return pipeline_->transport; }

  // ---- Starting the session (client/startup.cpp).
  asio::awaitable<void> start(const HostSpec& host, std::optional<std::chrono::steady_clock::time_point> deadline);
  asio::awaitable<void> start_session(const HostSpec& host);
  std::string password_for(const HostSpec& host) const;
  asio::awaitable<void> authenticate(const HostSpec& host);
  asio::awaitable<bool> suits(TargetSessionAttrs target, bool standby_only);

  // ---- Statements (client/extended_query.cpp).

  // The Close messages due: statements the cache dropped, portals and prepared statements let go.
  void write_pending_closes(proto::ByteBuffer& out);

  // One step of a portal (PgPortal): Bind to the named portal on the first step, then Execute for at most
  // max_rows rows (none: Bind only) and Sync. The portal outlives the Sync inside a transaction; it is
  // suspended while rows remain.
  struct PortalStep {
    std::size_t rows = 0;
    bool suspended = false;
  };
  asio::awaitable<PortalStep> run_portal(const Prepared& prepared, const EncodedParameters* bind,
                                         const std::string& portal, std::size_t max_rows, RowSink& sink,
                                         ExclusiveHold& hold);

  // Parse + Describe + Sync: the statement's parameter types and result columns, as the server sees them.
  // Statements dropped since the last time are closed in the same write.
  asio::awaitable<Prepared> parse_and_describe(std::string name, std::string_view sql,
                                               std::span<const std::uint32_t> types,
                                               std::optional<std::chrono::steady_clock::time_point> deadline,
                                               bool owner);

  // The cached statement for a text and parameter types, if it is cached and fresh; not a coroutine, as
  // this is the common case. A coarse clock is enough for a lifetime of minutes.
  inline std::shared_ptr<const Prepared> cached_statement(std::string_view sql, std::span<const std::uint32_t> types) {
    if (is_closed()) return nullptr;
    return cache_.find(sql, types, coarse_now());
  }

  // The cached statement for a text and parameter types, prepared on first use. Concurrent callers of the
  // same text wait for one preparation. Uncached texts use the unnamed statement, holding the connection
  // (`hold`) until the caller has bound it.
  asio::awaitable<std::shared_ptr<const Prepared>> prepare(
      std::string_view sql, std::span<const std::uint32_t> types,
      std::optional<std::chrono::steady_clock::time_point> deadline, ExclusiveHold& hold);

  // ---- Open or closed. Inline, as every query checks it (see Pipeline::broken); the throw stays out of line.
  inline void ensure_open() const {
    if (is_closed()) throw_closed();
  }
  [[noreturn]] void throw_closed() const;

  using Callbacks = std::vector<std::pair<ListenerId, std::function<void()>>>;

  std::shared_ptr<Pipeline> pipeline_;
  ConnectOptions options_;
  Options settings_options_;
  std::map<std::string, std::string> settings_;
  bool ready_ = false;
  bool closing_ = false;
  bool watching_ = false;
  std::uint64_t queries_run_ = 0;
  bool session_changed_ = false;
  std::string authentication_method_ = "trust";
  StatementCache<Prepared> cache_;
  std::vector<std::optional<proto::Bytes>> row_cells_;  // one row's cells, reused by every reply
  std::unordered_map<std::string, std::shared_ptr<Waiters>> preparing_;
  // Portals and prepared statements (PgPortal, PreparedStatement) to close with the next write that can carry them.
  std::vector<std::pair<proto::Target, std::string>> to_close_;
  std::uint64_t portal_counter_ = 0;
  std::uint64_t statement_counter_ = 0;
  std::uint64_t cursor_counter_ = 0;
  std::string last_status_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  std::shared_ptr<const CodecRegistry> custom_codecs_;  // prepared statements check it before touching us
  ListenerId listener_ids_ = 0;
  std::map<std::string, std::vector<std::pair<ListenerId, std::function<void(const Notification&)>>>> listeners_;
  std::vector<std::pair<ListenerId, std::function<void(const Notice&)>>> log_listeners_;
  Callbacks termination_listeners_;
  std::vector<std::pair<ListenerId, std::function<void(const LoggedQuery&)>>> query_loggers_;
  friend class PreparedStatement;
  friend class PgPortal;
};

}  // namespace keel::pg
