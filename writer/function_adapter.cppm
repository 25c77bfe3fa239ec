// The bulk writer on anything keel has no engine for: an awaitable function that runs one batch, and an
// optional one that closes the target. The README shows a Trino adapter written on it.
module;
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <utility>
export module keel.writer:function_adapter;
import keel.engine;
import :adapter;

namespace asio = boost::asio;

export namespace keel {

/// How a FunctionAdapter's target takes statements.
struct FunctionAdapterOptions {
  Dialect dialect = Dialect::sqlite;          ///< how queries are rendered for the target ('?' placeholders: sqlite)
  std::optional<std::size_t> max_query_size;  ///< the target's limit on one batch's text
  bool atomic_batches = false;  ///< the function runs each batch all or nothing: a lost connection may retry it
};

/// The bulk writer on anything keel has no engine for: an awaitable function that runs one batch, and an
/// optional one that closes the target.
class FunctionAdapter final : public WriterAdapter {
public:
  /// Runs one batch on the target; throws what failed.
  using RunBatch = std::function<asio::awaitable<void>(std::span<const Statement>)>;
  /// Ends the use of the target.
  using Close = std::function<asio::awaitable<void>()>;

  /// An adapter that runs batches with `run_batch` and closes the target with `close` (if given).
  FunctionAdapter(RunBatch run_batch, Close close = {}, FunctionAdapterOptions options = {})
      : run_batch_(std::move(run_batch)), close_(std::move(close)), options_(options) {
    if (!run_batch_) throw MisuseError("FunctionAdapter: no function to run a batch");
  }

  Dialect dialect() const override { return options_.dialect; }
  std::optional<std::size_t> max_query_size() const override { return options_.max_query_size; }
  asio::awaitable<void> run(std::span<const Statement> batch, BatchRun& run) override {
    run.atomic = options_.atomic_batches;
    co_await run_batch_(batch);
  }
  asio::awaitable<void> close() override {
    if (close_) co_await close_();
  }

private:
  RunBatch run_batch_;
  Close close_;
  FunctionAdapterOptions options_;
};

}  // namespace keel
