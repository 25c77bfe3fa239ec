// What the bulk writer writes through: an adapter runs one batch of statements. keel's engines have one
// (EngineAdapter); FunctionAdapter wraps any awaitable function, for a target keel has no engine for.
module;
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <vector>
export module keel.writer:adapter;
import keel.engine;

namespace asio = boost::asio;

export namespace keel {

/// One batch's run, as the adapter reports it.
struct BatchRun {
  std::vector<ExecResult>* results = nullptr;  ///< each statement's result, when the caller wants them
  /// Set by the adapter: the batch ran all or nothing in a transaction of its own, so after a lost connection
  /// nothing of it was applied and it may run again.
  bool atomic = false;
  /// Set by the adapter: the batch ran inside the caller's own transaction, which its failure aborted; it is
  /// never retried.
  bool joined = false;
  std::vector<std::string> statement_errors;  ///< statements that failed alone (a savepoint each), with why
};

/// What the bulk writer writes through: an adapter runs one batch of statements on its target.
class WriterAdapter {
public:
  virtual ~WriterAdapter() = default;
  /// The dialect statements are rendered in, and whose bound-value limit applies.
  virtual Dialect dialect() const = 0;
  /// The most bytes one batch's text may have on the target (Trino's query.max-length, say): batches stay under
  /// it, and a statement over it on its own is refused before anything is sent. None when empty.
  virtual std::optional<std::size_t> max_query_size() const { return std::nullopt; }
  /// Runs the statements of one batch; throws what failed.
  virtual asio::awaitable<void> run(std::span<const Statement> batch, BatchRun& run) = 0;
  /// Ends the adapter's use (with_writer calls it on the way out).
  virtual asio::awaitable<void> close() { co_return; }
};

}  // namespace keel
