// The bulk writer on a keel engine: each batch in a transaction (or each statement on its own), pipelined in
// one round trip where the engine can, or one by one with a savepoint per statement on request. A merged
// many-row insert goes the engine's fastest way that stores the same rows (COPY on PostgreSQL).
module;
#include <boost/asio/awaitable.hpp>
#include <algorithm>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <utility>
export module keel.writer:engine_adapter;
import keel.engine;
import :adapter;
import :insert_merging;

namespace asio = boost::asio;

export namespace keel {

/// How a batch's statements go to a keel engine.
enum class BatchMode {
  pipelined,   ///< a batch's statements are sent together: one round trip on PostgreSQL
  one_by_one,  ///< each statement waits for the one before it
};

/// How an EngineAdapter runs a batch.
struct EngineAdapterOptions {
  BatchMode mode = BatchMode::pipelined;  ///< pipelined, or one by one
  bool transaction_per_batch = true;      ///< all of a batch or none of it; off: each statement commits alone
  bool savepoint_per_statement = false;   ///< in the batch's transaction: a failing statement alone is undone
  bool copy_rows = true;                  ///< many-row inserts by the engine's fastest way (COPY on PostgreSQL)
  std::size_t copy_min_rows = 100;        ///< fewer rows go as the insert: one round trip, where COPY takes three
};

/// The bulk writer on a keel engine: each batch in a transaction (or each statement on its own), pipelined in
/// one round trip where the engine can, or one by one with a savepoint per statement on request.
class EngineAdapter final : public WriterAdapter {
public:
  /// `engine` must outlive the adapter; closing the adapter leaves the engine open.
  EngineAdapter(Engine& engine, EngineAdapterOptions options) : engine_(engine), options_(options) {
    if (options_.savepoint_per_statement && !options_.transaction_per_batch)
      throw MisuseError("BulkWriter: savepoint_per_statement needs transaction_per_batch");
  }

  Dialect dialect() const override { return engine_.dialect(); }

  asio::awaitable<void> run(std::span<const Statement> batch, BatchRun& run) override {
    // Inside a caller's transaction the batch joins it (and its failure aborts that transaction).
    run.joined = co_await engine_.transaction_exists();
    run.atomic = options_.transaction_per_batch && !run.joined;
    if (options_.transaction_per_batch) {
      co_await engine_.transaction([&](Transaction& tx) { return send(tx, batch, run); });
    } else {
      co_await send(engine_, batch, run);
    }
  }

private:
  asio::awaitable<void> send(StatementRunner& runner, std::span<const Statement> batch, BatchRun& run) {
    auto* transaction = dynamic_cast<Transaction*>(&runner);
    if (options_.savepoint_per_statement && transaction) {
      for (const Statement& statement : batch) {
        Savepoint savepoint = co_await transaction->savepoint();
        std::exception_ptr failure;
        ExecResult result;
        try {
          result = co_await runner.execute(statement, nullptr);
        } catch (const SerializationFailure&) {
          throw;  // transient: the whole batch runs again, not this statement alone
        } catch (const DeadlockDetected&) {
          throw;
        } catch (const LockNotAvailable&) {
          throw;
        } catch (const DatabaseError&) {
          failure = std::current_exception();
        }
        if (failure) {
          co_await savepoint.rollback_to();
          run.statement_errors.push_back(std::string(statement.sql()) + ": " + message_of(failure));
        } else {
          co_await savepoint.release();
        }
        if (run.results) run.results->push_back(std::move(result));
      }
      co_return;
    }
    if (!run.results && transaction && (options_.mode == BatchMode::pipelined || options_.copy_rows)) {
      co_await send_all(*transaction->state(), batch, options_.copy_rows);
      co_return;
    }
    for (const Statement& statement : batch) {
      ExecResult result = co_await runner.execute(statement, nullptr);
      if (run.results) run.results->push_back(std::move(result));
    }
  }

  // Many-row inserts of at least copy_min_rows rows by TransactionState::insert_rows (COPY, where the engine
  // finds it stores the same rows), when `copy`; the statements between them pipelined, or one by one.
  asio::awaitable<void> send_all(TransactionState& state, std::span<const Statement> batch, bool copy) {
    const auto send_run = [&](std::span<const Statement> run) -> asio::awaitable<void> {
      if (options_.mode == BatchMode::pipelined) {
        co_await state.execute_all(run);
      } else {
        for (const Statement& statement : run) co_await state.execute(statement, nullptr);
      }
    };
    std::size_t start = 0;
    for (std::size_t i = 0; copy && i < batch.size(); ++i) {
      std::optional<RowsInsert> rows = rows_insert(batch[i], state.dialect());
      if (!rows || rows->rows < std::max<std::size_t>(2, options_.copy_min_rows)) continue;
      if (start < i) co_await send_run(batch.subspan(start, i - start));
      co_await state.insert_rows(batch[i], rows->target, nullptr);
      start = i + 1;
    }
    if (start < batch.size()) co_await send_run(batch.subspan(start));
  }

  Engine& engine_;
  EngineAdapterOptions options_;
};

}  // namespace keel
