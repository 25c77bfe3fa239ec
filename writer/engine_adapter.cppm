// The bulk writer on a keel engine: each batch in a transaction (or each statement on its own), pipelined in
// one round trip where the engine can, or one by one with a savepoint per statement on request.
module;
#include <boost/asio/awaitable.hpp>
#include <exception>
#include <span>
#include <string>
#include <utility>
export module keel.writer:engine_adapter;
import keel.engine;
import :adapter;

namespace asio = boost::asio;

export namespace keel {

enum class BatchMode {
  pipelined,   // a batch's statements are sent together: one round trip on PostgreSQL
  one_by_one,  // each statement waits for the one before it
};

struct EngineAdapterOptions {
  BatchMode mode = BatchMode::pipelined;
  bool transaction_per_batch = true;     // all of a batch or none of it; off: each statement commits alone
  bool savepoint_per_statement = false;  // in the batch's transaction: a failing statement alone is undone
};

class EngineAdapter final : public WriterAdapter {
public:
  // `engine` must outlive the adapter; closing the adapter leaves the engine open.
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
          run.statement_errors.push_back(std::string(statement.sql()) + ": " + failure_message(failure));
        } else {
          co_await savepoint.release();
        }
        if (run.results) run.results->push_back(std::move(result));
      }
      co_return;
    }
    if (options_.mode == BatchMode::pipelined && !run.results && transaction) {
      co_await transaction->state()->execute_all(batch);
      co_return;
    }
    for (const Statement& statement : batch) {
      ExecResult result = co_await runner.execute(statement, nullptr);
      if (run.results) run.results->push_back(std::move(result));
    }
  }

  Engine& engine_;
  EngineAdapterOptions options_;
};

}  // namespace keel
