// BulkWriter: statements (SQL text or keel queries, their values bound) added one by one or as a list, and sent
// in batches under the byte and parameter limits, each batch in a transaction of its own by default. A
// transient failure is retried with backoff; a circuit breaker spares a target that keeps failing; a
// collector records every batch. It knows only the engine interface.
//   keel::BulkWriter writer(db, {.max_bytes = 64 * 1024});
//   for (auto& event : events) if (writer.add(keel::insert(event))) co_await writer.flush();
//   co_await writer.flush();
module;
#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
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
import :batching;
import :circuit_breaker;
import :collector;
import :retry;

namespace asio = boost::asio;

export namespace keel {

enum class BatchMode {
  pipelined,   // a batch's statements are sent together: one round trip on PostgreSQL
  one_by_one,  // each statement waits for the one before it, and has its own result
};

struct BulkWriterOptions {
  std::size_t max_bytes = 1'000'000;          // the SQL text of one batch
  std::optional<std::size_t> max_parameters;  // the bound values of one batch; the engine's limit when empty
  BatchMode mode = BatchMode::pipelined;
  bool transaction_per_batch = true;     // all of a batch or none of it; off: each statement commits alone
  bool savepoint_per_statement = false;  // in the batch's transaction: a failing statement alone is undone
  RetryPolicy retry;
  std::shared_ptr<CircuitBreaker> breaker;  // share one among writers of one target; each has its own when empty
  QueryCollector* collector = nullptr;      // records every batch when set
};

class BulkWriter {
public:
  // Writes through `engine`, which must outlive the writer.
  explicit BulkWriter(Engine& engine, BulkWriterOptions options = {}) : BulkWriter(&engine, engine.dialect(), std::move(options)) {}
  // A dry run: nothing is sent, and every batch goes to the collector as it would have been sent.
  BulkWriter(Dialect dialect, QueryCollector& collector, BulkWriterOptions options = {})
      : BulkWriter(nullptr, dialect, with_collector(std::move(options), collector)) {}

  Dialect dialect() const noexcept { return dialect_; }
  const BatchLimits& limits() const noexcept { return limits_; }
  const CircuitBreaker& breaker() const noexcept { return *options_.breaker; }

  // Adds a statement. Returns true when the pending statements have reached the byte or parameter limit, and
  // a flush is due (flush splits them at the limits in any case).
  bool add_statement(Statement statement) {
    pending_bytes_ += statement_bytes(statement);
    pending_parameters_ += statement.params().size();
    pending_.push_back(std::move(statement));
    return pending_bytes_ >= limits_.max_bytes || pending_parameters_ >= limits_.max_parameters;
  }
  bool add_statement(std::string sql) { return add_statement(Statement(std::move(sql))); }
  // A keel query (keel::insert(row), keel::update<T>()..., keel::raw(...)), rendered for the engine's dialect.
  template <Query Q>
  bool add(const Q& query) {
    return add_statement(query.statement(dialect_));
  }
  std::size_t pending() const noexcept { return pending_.size(); }
  // Drops the pending statements unsent; returns how many there were.
  std::size_t discard() noexcept {
    const std::size_t dropped = pending_.size();
    pending_.clear();
    pending_bytes_ = pending_parameters_ = 0;
    return dropped;
  }

  // Sends the pending statements in batches under the limits; returns how many ran. When a batch fails for
  // good (retries spent, or a failure not worth retrying), it throws: the batches before it are written, and
  // the failed batch and those after it stay pending, to flush again or discard().
  asio::awaitable<std::size_t> flush(BatchMetadata metadata = {}) {
    std::size_t ran = 0;
    while (!pending_.empty()) {
      const std::size_t end = batch_ends(pending_, limits_).front();
      const std::span<const Statement> batch(pending_.data(), end);
      ran += co_await run_batch(batch, metadata, nullptr);
      drop_front(end);
    }
    co_return ran;
  }
  // Adds the statements and flushes; returns how many ran.
  asio::awaitable<std::size_t> process_statements(std::vector<Statement> statements, BatchMetadata metadata = {}) {
    for (auto& statement : statements) add_statement(std::move(statement));
    co_return co_await flush(std::move(metadata));
  }
  // Runs the statements as one batch, whatever the limits, one by one; returns each statement's result.
  asio::awaitable<std::vector<ExecResult>> process_batch(std::vector<Statement> statements, BatchMetadata metadata = {}) {
    std::vector<ExecResult> results;
    co_await run_batch(statements, metadata, &results);
    co_return results;
  }

  // ---- Sync forms, on the calling thread's private loop (keel::run_sync).
  std::size_t flush_sync(BatchMetadata metadata = {}) { return run_sync(flush(std::move(metadata))); }
  std::size_t process_statements_sync(std::vector<Statement> statements, BatchMetadata metadata = {}) {
    return run_sync(process_statements(std::move(statements), std::move(metadata)));
  }
  std::vector<ExecResult> process_batch_sync(std::vector<Statement> statements, BatchMetadata metadata = {}) {
    return run_sync(process_batch(std::move(statements), std::move(metadata)));
  }

private:
  BulkWriter(Engine* engine, Dialect dialect, BulkWriterOptions options)
      : engine_(engine), dialect_(dialect), options_(std::move(options)),
        limits_{options_.max_bytes, options_.max_parameters.value_or(max_bound_values(dialect))} {
    if (limits_.max_bytes == 0 || limits_.max_parameters == 0) throw MisuseError("BulkWriter: the limits must be at least 1");
    if (options_.retry.max_attempts == 0) throw MisuseError("BulkWriter: retry.max_attempts must be at least 1");
    if (options_.savepoint_per_statement && !options_.transaction_per_batch)
      throw MisuseError("BulkWriter: savepoint_per_statement needs transaction_per_batch");
    if (!options_.breaker) options_.breaker = std::make_shared<CircuitBreaker>();
  }
  static BulkWriterOptions with_collector(BulkWriterOptions options, QueryCollector& collector) {
    options.collector = &collector;
    return options;
  }

  void drop_front(std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      pending_bytes_ -= statement_bytes(pending_[i]);
      pending_parameters_ -= pending_[i].params().size();
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(count));
  }

  // One batch, with its retries; recorded whatever happens. Returns how many statements ran.
  asio::awaitable<std::size_t> run_batch(std::span<const Statement> batch, const BatchMetadata& metadata,
                                         std::vector<ExecResult>* results) {
    BatchRecord record = describe(batch, metadata);
    if (!engine_) {  // a dry run
      record.succeeded = true;
      if (options_.collector) options_.collector->record(std::move(record));
      co_return 0;
    }
    const auto started = std::chrono::steady_clock::now();
    // Inside a caller's transaction the batch joins it: a failure aborted that transaction, so no retry.
    const bool joined = co_await engine_->transaction_exists();
    const bool own_transaction = options_.transaction_per_batch && !joined;
    std::exception_ptr failure;
    for (std::size_t attempt = 1;; ++attempt) {
      try {
        options_.breaker->before_batch();
      } catch (...) {
        failure = std::current_exception();
        break;
      }
      record.attempts = attempt;
      record.statement_errors.clear();
      if (results) results->clear();
      failure = nullptr;
      try {
        if (options_.transaction_per_batch) {
          co_await engine_->transaction([&](Transaction& tx) { return send(tx, batch, record, results); });
        } else {
          co_await send(*engine_, batch, record, results);
        }
      } catch (...) {
        failure = std::current_exception();
      }
      if (!failure) {
        options_.breaker->on_success();
        break;
      }
      options_.breaker->on_failure();
      if (joined || attempt >= options_.retry.max_attempts || !is_transient(failure, own_transaction)) break;
      asio::steady_timer wait(co_await asio::this_coro::executor, retry_delay(options_.retry, attempt + 1, random_));
      boost::system::error_code ignored;
      co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    record.elapsed = std::chrono::steady_clock::now() - started;
    record.succeeded = !failure;
    if (failure) record.error = describe(failure);
    if (options_.collector) options_.collector->record(std::move(record));
    if (failure) std::rethrow_exception(failure);
    co_return batch.size();
  }

  // The statements of one batch on `runner` (the batch's transaction, or the engine).
  asio::awaitable<void> send(StatementRunner& runner, std::span<const Statement> batch, BatchRecord& record,
                             std::vector<ExecResult>* results) {
    auto* transaction = dynamic_cast<Transaction*>(&runner);
    if (options_.savepoint_per_statement && transaction) {
      for (const Statement& statement : batch) {
        Savepoint savepoint = co_await transaction->savepoint();
        std::exception_ptr failure;
        ExecResult result;
        try {
          result = co_await runner.execute(statement, nullptr);
        } catch (const DatabaseError&) {
          failure = std::current_exception();
        }
        if (failure) {
          co_await savepoint.rollback_to();
          record.statement_errors.push_back(std::string(statement.sql()) + ": " + describe(failure));
        } else {
          co_await savepoint.release();
        }
        if (results) results->push_back(result);
      }
      co_return;
    }
    if (options_.mode == BatchMode::pipelined && !results && transaction) {
      co_await transaction->state()->execute_all(batch);
      co_return;
    }
    for (const Statement& statement : batch) {
      ExecResult result = co_await runner.execute(statement, nullptr);
      if (results) results->push_back(std::move(result));
    }
  }

  static BatchRecord describe(std::span<const Statement> batch, const BatchMetadata& metadata) {
    BatchRecord record;
    record.statements = batch.size();
    record.metadata = metadata;
    for (const Statement& statement : batch) {
      record.sql.emplace_back(statement.sql());
      record.bytes += statement_bytes(statement);
      record.parameters += statement.params().size();
    }
    return record;
  }
  static std::string describe(std::exception_ptr failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      return e.what();
    } catch (...) {
      return "unknown error";
    }
  }

  Engine* engine_;
  Dialect dialect_;
  BulkWriterOptions options_;
  BatchLimits limits_;
  std::vector<Statement> pending_;
  std::size_t pending_bytes_ = 0, pending_parameters_ = 0;
  std::mt19937 random_{std::random_device{}()};
};

// Runs body(writer) (returning an awaitable) with a writer on `engine`, and flushes what it added when the body
// returns; returns how many statements ran. When the body throws, what it added is discarded unsent (a partial
// stream is not written by accident) and the exception goes on.
template <class F>
asio::awaitable<std::size_t> with_writer(Engine& engine, BulkWriterOptions options, F body) {
  BulkWriter writer(engine, std::move(options));
  std::exception_ptr failure;
  try {
    co_await body(writer);
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    writer.discard();
    std::rethrow_exception(failure);
  }
  co_return co_await writer.flush();
}

}  // namespace keel
