// BulkWriter: statements (SQL text or keel queries, their values bound) added one by one or as a list, and sent
// through an adapter (a keel engine's, or FunctionAdapter) in batches under the byte and parameter limits. A
// transient failure is retried with backoff; a circuit breaker spares a target that keeps failing; a collector
// records every batch. It knows only the engine interface.
//   keel::BulkWriter writer(db, {.max_bytes = 64 * 1024});
//   for (auto& event : events) if (writer.add(keel::insert(event))) co_await writer.flush_full_batches();
//   co_await writer.flush();
module;
#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>
export module keel.writer:bulk_writer;
import keel.engine;
import :adapter;
import :batching;
import :circuit_breaker;
import :collector;
import :engine_adapter;
import :insert_merging;
import :retry;

namespace asio = boost::asio;

export namespace keel {

/// Wide rows make smaller batches (SQL Batcher's auto_adjust_for_columns): the first INSERT ... VALUES added sets
/// the byte limit to max_bytes * reference_columns / its columns, kept between min_factor and max_factor times
/// max_bytes.
struct ColumnAdjustment {
  std::size_t reference_columns = 10;  ///< the column count at which the byte limit is max_bytes
  double min_factor = 0.5;             ///< the byte limit is at least this many times max_bytes
  double max_factor = 2.0;             ///< and at most this many times max_bytes
};

/// How a BulkWriter batches, runs, retries and records.
struct BulkWriterOptions {
  std::size_t max_bytes = 1'000'000;          ///< the SQL text of one batch
  std::optional<std::size_t> max_parameters;  ///< the bound values of one batch; the dialect's limit when empty
  /// How a batch runs on a keel engine (other adapters ignore these): see EngineAdapterOptions.
  ///@{
  BatchMode mode = BatchMode::pipelined;
  bool transaction_per_batch = true;
  bool savepoint_per_statement = false;
  ///@}
  /// Consecutive one-row inserts into one table (the same text up to VALUES) go as one multi-row insert, in
  /// batches that run all or nothing (transaction_per_batch): not with a savepoint per statement, nor in
  /// process_batch, which answer for each statement alone.
  bool merge_inserts = true;
  /// A merged insert of at least copy_min_rows rows goes by the engine's fastest way that stores the same rows:
  /// COPY on PostgreSQL (values in text form, read by each column's type), the insert itself elsewhere.
  bool copy_rows = true;
  std::size_t copy_min_rows = 100;  ///< the fewest rows of a merged insert that go copy_rows' way
  std::optional<ColumnAdjustment> auto_adjust_for_columns;  ///< smaller batches for wide rows (see ColumnAdjustment)
  RetryPolicy retry;                                        ///< how a failed batch is retried
  std::shared_ptr<CircuitBreaker> breaker;  ///< share one among writers of one target; each has its own when empty
  QueryCollector* collector = nullptr;      ///< records every batch when set
};

/// The bulk writer: statements (SQL text or keel queries, their values bound), added one by one or as a list,
/// sent through an adapter in batches under the byte and parameter limits, with retries of transient failures,
/// a circuit breaker, and a record of every batch.
class BulkWriter {
public:
  /// Writes through a keel engine, which must outlive the writer.
  explicit BulkWriter(Engine& engine, BulkWriterOptions options = {})
      : BulkWriter(
            std::make_shared<EngineAdapter>(engine, EngineAdapterOptions{options.mode, options.transaction_per_batch,
                                                                         options.savepoint_per_statement,
                                                                         options.copy_rows, options.copy_min_rows}),
            engine.dialect(), std::move(options)) {}
  /// Writes through any adapter (FunctionAdapter, or one of your own).
  BulkWriter(std::shared_ptr<WriterAdapter> adapter, BulkWriterOptions options = {})
      : BulkWriter(checked(std::move(adapter)), std::move(options), 0) {}
  /// A dry run: nothing is sent, and every batch goes to the collector as it would have been sent.
  BulkWriter(Dialect dialect, QueryCollector& collector, BulkWriterOptions options = {})
      : BulkWriter(nullptr, dialect, with_collector(std::move(options), collector)) {}

  /// The dialect statements are rendered in.
  Dialect dialect() const noexcept { return dialect_; }
  /// The batches' limits: max_bytes (after any adjustment for wide rows) and max_parameters.
  const BatchLimits& limits() const noexcept { return limits_; }
  /// The circuit breaker the writer's batches go through.
  const CircuitBreaker& breaker() const noexcept { return *options_.breaker; }
  /// With auto_adjust_for_columns: the columns of the first INSERT ... VALUES added, which set limits().max_bytes.
  std::optional<std::size_t> detected_columns() const noexcept { return columns_; }

  /// Adds a statement. Returns true when the pending statements have reached the byte or parameter limit: a full
  /// batch is ready, which flush_full_batches() sends (flush splits at the limits in any case). A statement over
  /// the target's max_query_size on its own is refused here, before anything is sent.
  bool add_statement(Statement statement) {
    if (max_query_size_ && statement_bytes(statement) > *max_query_size_)
      throw MisuseError("a statement of " + std::to_string(statement_bytes(statement)) + " bytes is over the " +
                        std::to_string(*max_query_size_) +
                        " bytes the write target accepts in one query; nothing was sent");
    if (options_.auto_adjust_for_columns && !columns_) adjust_for_columns(statement);
    pending_bytes_ += statement_bytes(statement);
    pending_parameters_ += statement.params().size();
    pending_.push_back(std::move(statement));
    return pending_bytes_ >= limits_.max_bytes || pending_parameters_ >= limits_.max_parameters;
  }
  /// add_statement() of a text without values.
  bool add_statement(std::string sql) { return add_statement(Statement(std::move(sql))); }
  /// A keel query (keel::insert(row), keel::update<T>()..., keel::raw(...)), rendered for the target's dialect.
  template <Query Q>
  bool add(const Q& query) {
    return add_statement(query.statement(dialect_));
  }
  /// The statements added and not yet sent.
  std::size_t pending() const noexcept { return pending_.size(); }
  /// Drops the pending statements unsent; returns how many there were.
  std::size_t discard() noexcept {
    const std::size_t dropped = pending_.size();
    pending_.clear();
    pending_bytes_ = pending_parameters_ = 0;
    return dropped;
  }

  /// Sends the pending statements in batches under the limits; returns how many ran. When a batch fails for
  /// good (retries spent, or a failure not worth retrying), it throws: the batches before it are written, and
  /// the failed batch and those after it stay pending, to flush again or discard().
  asio::awaitable<std::size_t> flush(BatchMetadata metadata = {}) { return flush_batches(std::move(metadata), false); }
  /// flush(), but the last batch stays pending while it is short of both limits: the statement that made add()
  /// return true waits for the statements after it, instead of going alone. Call flush() at the end.
  asio::awaitable<std::size_t> flush_full_batches(BatchMetadata metadata = {}) {
    return flush_batches(std::move(metadata), true);
  }

  /// Adds the statements and flushes; returns how many ran.
  asio::awaitable<std::size_t> process_statements(std::vector<Statement> statements, BatchMetadata metadata = {}) {
    for (auto& statement : statements) add_statement(std::move(statement));
    co_return co_await flush(std::move(metadata));
  }
  /// Runs the statements as one batch, whatever the limits, one by one; returns each statement's result.
  asio::awaitable<std::vector<ExecResult>> process_batch(std::vector<Statement> statements,
                                                         BatchMetadata metadata = {}) {
    std::vector<ExecResult> results;
    co_await run_batch(statements, metadata, &results);
    co_return results;
  }
  /// Closes the adapter (a keel engine stays open: it is the caller's).
  asio::awaitable<void> close() {
    if (adapter_) co_await adapter_->close();
  }

  // ---- Sync forms, on the calling thread's private loop (keel::run_sync).
  /// flush() to completion on the calling thread's private event loop.
  std::size_t flush_sync(BatchMetadata metadata = {}) { return run_sync(flush(std::move(metadata))); }
  /// flush_full_batches() to completion on the calling thread's private event loop.
  std::size_t flush_full_batches_sync(BatchMetadata metadata = {}) {
    return run_sync(flush_full_batches(std::move(metadata)));
  }
  /// process_statements() to completion on the calling thread's private event loop.
  std::size_t process_statements_sync(std::vector<Statement> statements, BatchMetadata metadata = {}) {
    return run_sync(process_statements(std::move(statements), std::move(metadata)));
  }
  /// process_batch() to completion on the calling thread's private event loop.
  std::vector<ExecResult> process_batch_sync(std::vector<Statement> statements, BatchMetadata metadata = {}) {
    return run_sync(process_batch(std::move(statements), std::move(metadata)));
  }
  /// close() to completion on the calling thread's private event loop.
  void close_sync() { run_sync(close()); }

private:
  BulkWriter(std::shared_ptr<WriterAdapter> adapter, BulkWriterOptions options, int)
      : BulkWriter(adapter, adapter->dialect(), std::move(options)) {}
  BulkWriter(std::shared_ptr<WriterAdapter> adapter, Dialect dialect, BulkWriterOptions options)
      : adapter_(std::move(adapter)),
        dialect_(dialect),
        options_(std::move(options)),
        max_query_size_(adapter_ ? adapter_->max_query_size() : std::nullopt),
        limits_{std::min(options_.max_bytes, max_query_size_.value_or(options_.max_bytes)),
                options_.max_parameters.value_or(dialect->max_bound_values)} {
    if (limits_.max_bytes == 0 || limits_.max_parameters == 0)
      throw MisuseError("BulkWriter: the limits must be at least 1");
    if (options_.retry.max_attempts == 0) throw MisuseError("BulkWriter: retry.max_attempts must be at least 1");
    if (const auto& a = options_.auto_adjust_for_columns;
        a && (a->reference_columns == 0 || !(a->min_factor > 0) || !(a->min_factor <= a->max_factor)))
      throw MisuseError(
          "BulkWriter: auto_adjust_for_columns needs reference_columns >= 1 and 0 < min_factor <= max_factor");
    if (!options_.breaker) options_.breaker = std::make_shared<CircuitBreaker>();
  }
  static std::shared_ptr<WriterAdapter> checked(std::shared_ptr<WriterAdapter> adapter) {
    if (!adapter) throw MisuseError("BulkWriter: no adapter");
    return adapter;
  }
  static BulkWriterOptions with_collector(BulkWriterOptions options, QueryCollector& collector) {
    options.collector = &collector;
    return options;
  }

  // Takes the first `count` pending statements out of pending_ (and out of its counts of bytes and values).
  // flush() and flush_full_batches(): the batches in order, each run to its end before the next is taken.
  asio::awaitable<std::size_t> flush_batches(BatchMetadata metadata, bool full_only) {
    if (flushing_) throw MisuseError("BulkWriter: flush is already running; a writer takes one flush at a time");
    flushing_ = true;
    std::size_t ran = 0;
    std::exception_ptr failure;
    try {
      while (!pending_.empty()) {
        // The batch leaves pending_ while it runs, so that statements added meanwhile cannot move it.
        const std::size_t end = first_batch_end(pending_, limits_);
        if (full_only && end == pending_.size() && pending_bytes_ < limits_.max_bytes &&
            pending_parameters_ < limits_.max_parameters)
          break;  // the last batch, not full yet
        std::vector<Statement> batch = take_front(end);
        try {
          ran += co_await run_batch(batch, metadata, nullptr);
        } catch (...) {
          failure = std::current_exception();
        }
        if (failure) {  // back in front, unsent or rolled back, for the caller to flush again or discard
          restore_front(std::move(batch));
          break;
        }
      }
    } catch (...) {
      failure = std::current_exception();
    }
    flushing_ = false;
    if (failure) std::rethrow_exception(failure);
    co_return ran;
  }

  std::vector<Statement> take_front(std::size_t count) {
    const auto end = pending_.begin() + static_cast<std::ptrdiff_t>(count);
    for (auto it = pending_.begin(); it != end; ++it) {
      pending_bytes_ -= statement_bytes(*it);
      pending_parameters_ -= it->params().size();
    }
    std::vector<Statement> taken(std::make_move_iterator(pending_.begin()), std::make_move_iterator(end));
    pending_.erase(pending_.begin(), end);
    return taken;
  }
  void restore_front(std::vector<Statement> batch) {
    for (const Statement& statement : batch) {
      pending_bytes_ += statement_bytes(statement);
      pending_parameters_ += statement.params().size();
    }
    pending_.insert(pending_.begin(), std::make_move_iterator(batch.begin()), std::make_move_iterator(batch.end()));
  }

  void adjust_for_columns(const Statement& statement) {
    const std::optional<InsertValues> insert = split_insert_values(statement.sql(), dialect_);
    if (!insert || insert->columns == 0) return;
    columns_ = insert->columns;
    const ColumnAdjustment& adjustment = *options_.auto_adjust_for_columns;
    const double factor = std::clamp(static_cast<double>(adjustment.reference_columns) / static_cast<double>(*columns_),
                                     adjustment.min_factor, adjustment.max_factor);
    const auto adjusted = static_cast<std::size_t>(static_cast<double>(options_.max_bytes) * factor);
    limits_.max_bytes = std::max<std::size_t>(1, std::min(adjusted, max_query_size_.value_or(adjusted)));
  }

  // One batch, with its retries; recorded whatever happens. Returns how many statements ran.
  asio::awaitable<std::size_t> run_batch(std::span<const Statement> statements, const BatchMetadata& metadata,
                                         std::vector<ExecResult>* results) {
    // What is sent: the statements, or fewer with their one-row inserts merged.
    std::vector<Statement> merged;
    if (options_.merge_inserts && options_.transaction_per_batch && !results && !options_.savepoint_per_statement)
      merged = merge_inserts(statements, dialect_, limits_);
    const std::span<const Statement> batch = merged.empty() ? statements : std::span<const Statement>(merged);
    BatchRecord record = describe(batch, metadata);
    record.statements = statements.size();
    if (!adapter_) {  // a dry run
      record.succeeded = true;
      if (options_.collector) options_.collector->record(std::move(record));
      co_return 0;
    }
    const auto started = std::chrono::steady_clock::now();
    std::exception_ptr failure;
    for (std::size_t attempt = 1;; ++attempt) {
      try {
        options_.breaker->before_batch();
      } catch (...) {
        if (!failure) failure = std::current_exception();  // on a retry, the batch's own failure stands
        break;
      }
      record.attempts = attempt;
      if (results) results->clear();
      BatchRun run{results};
      failure = nullptr;
      try {
        co_await adapter_->run(batch, run);
      } catch (...) {
        failure = std::current_exception();
      }
      record.statement_errors = std::move(run.statement_errors);
      if (!failure) break;
      if (run.joined || attempt >= options_.retry.max_attempts || !is_transient(failure, run.atomic)) break;
      asio::steady_timer wait(co_await asio::this_coro::executor, retry_delay(options_.retry, attempt + 1, random_));
      boost::system::error_code waited;
      co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, waited));
      if (waited) break;  // the caller was cancelled: no more attempts
    }
    // The breaker counts batches, not attempts, and only failures that say the target is in trouble.
    if (!failure)
      options_.breaker->on_success();
    else if (record.attempts > 0 && is_target_failure(failure))
      options_.breaker->on_failure();
    else if (record.attempts > 0)
      options_.breaker->on_neutral();
    record.elapsed = std::chrono::steady_clock::now() - started;
    record.succeeded = !failure;
    if (failure) record.error = message_of(failure);
    if (options_.collector) options_.collector->record(std::move(record));
    if (failure) std::rethrow_exception(failure);
    co_return statements.size();
  }

  static BatchRecord describe(std::span<const Statement> batch, const BatchMetadata& metadata) {
    BatchRecord record;
    record.metadata = metadata;
    for (const Statement& statement : batch) {
      record.sql.emplace_back(statement.sql());
      record.bytes += statement_bytes(statement);
      record.parameters += statement.params().size();
    }
    return record;
  }
  std::shared_ptr<WriterAdapter> adapter_;  // none: a dry run
  Dialect dialect_;
  BulkWriterOptions options_;
  std::optional<std::size_t> max_query_size_;
  BatchLimits limits_;
  std::optional<std::size_t> columns_;
  std::vector<Statement> pending_;
  std::size_t pending_bytes_ = 0, pending_parameters_ = 0;
  bool flushing_ = false;
  std::mt19937 random_{std::random_device{}()};
};

/// Runs body(writer) (returning an awaitable), flushes what it added when the body returns, and closes the
/// adapter; returns how many statements ran. When the body throws, what it added and did not flush itself is
/// discarded unsent (a partial stream is not written by accident), the adapter is closed, and the exception goes
/// on.
template <class F>
asio::awaitable<std::size_t> with_writer(std::unique_ptr<BulkWriter> writer, F body) {
  std::exception_ptr failure;
  std::size_t ran = 0;
  try {
    co_await body(*writer);
    ran = co_await writer->flush();
  } catch (...) {
    failure = std::current_exception();
  }
  writer->discard();
  try {
    co_await writer->close();
  } catch (...) {
    if (!failure) failure = std::current_exception();  // the body's failure, when there is one, is the one to hear
  }
  if (failure) std::rethrow_exception(failure);
  co_return ran;
}
/// with_writer() on a writer for `engine`.
template <class F>
asio::awaitable<std::size_t> with_writer(Engine& engine, BulkWriterOptions options, F body) {
  return with_writer(std::make_unique<BulkWriter>(engine, std::move(options)), std::move(body));
}
/// with_writer() on a writer through `adapter`.
template <class F>
asio::awaitable<std::size_t> with_writer(std::shared_ptr<WriterAdapter> adapter, BulkWriterOptions options, F body) {
  return with_writer(std::make_unique<BulkWriter>(std::move(adapter), std::move(options)), std::move(body));
}

/// The sync form, for a plain thread: body(writer) returns void and uses the writer's _sync calls; then the same
/// as with_writer (flush on return; on an exception, what was not flushed is discarded and the exception goes on).
template <class F>
std::size_t with_writer_sync(std::unique_ptr<BulkWriter> writer, F body) {
  std::exception_ptr failure;
  std::size_t ran = 0;
  try {
    body(*writer);
    ran = writer->flush_sync();
  } catch (...) {
    failure = std::current_exception();
  }
  writer->discard();
  try {
    writer->close_sync();
  } catch (...) {
    if (!failure) failure = std::current_exception();
  }
  if (failure) std::rethrow_exception(failure);
  return ran;
}
/// with_writer_sync() on a writer for `engine`.
template <class F>
std::size_t with_writer_sync(Engine& engine, BulkWriterOptions options, F body) {
  return with_writer_sync(std::make_unique<BulkWriter>(engine, std::move(options)), std::move(body));
}
/// with_writer_sync() on a writer through `adapter`.
template <class F>
std::size_t with_writer_sync(std::shared_ptr<WriterAdapter> adapter, BulkWriterOptions options, F body) {
  return with_writer_sync(std::make_unique<BulkWriter>(std::move(adapter), std::move(options)), std::move(body));
}

}  // namespace keel
