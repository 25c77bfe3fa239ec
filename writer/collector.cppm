// The query collector: a record of every batch the writer flushed (or, with no engine, would have run), with
// the caller's metadata. Thread-safe: writers on several threads may share one.
module;
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>
export module keel.writer:collector;

export namespace keel {

/// The caller's notes on a flush (a job id, a source file), kept with each batch it sent.
using BatchMetadata = std::map<std::string, std::string, std::less<>>;

/// One batch the writer flushed (or, with no engine, would have run).
struct BatchRecord {
  std::vector<std::string> sql;  ///< each text sent, in order (one-row inserts merged into one, when they were)
  std::size_t statements = 0;    ///< the statements added, before any merge
  std::size_t bytes = 0;         ///< the bytes of the texts sent, added up
  std::size_t parameters = 0;    ///< bound values, added up
  std::chrono::steady_clock::duration elapsed{};  ///< all attempts, their waits included
  std::size_t attempts = 0;                       ///< 0: not run (a dry run, or the circuit breaker was open)
  bool succeeded = false;                         ///< whether it ran to the end
  std::string error;                              ///< why the batch failed, when it did
  std::vector<std::string> statement_errors;      ///< with a savepoint per statement: the statements that failed alone
  BatchMetadata metadata;                         ///< the caller's notes on the flush that sent it
};

/// The query collector: a record of every batch the writer flushed, with the caller's metadata. Thread-safe:
/// writers on several threads may share one.
class QueryCollector {
public:
  /// Adds a batch's record.
  void record(BatchRecord batch) {
    std::lock_guard lock(mutex_);
    records_.push_back(std::move(batch));
  }
  /// Every record so far, in the order they were added (copied).
  std::vector<BatchRecord> records() const {
    std::lock_guard lock(mutex_);
    return records_;
  }
  /// Forgets every record.
  void clear() {
    std::lock_guard lock(mutex_);
    records_.clear();
  }

private:
  mutable std::mutex mutex_;
  std::vector<BatchRecord> records_;
};

}  // namespace keel
