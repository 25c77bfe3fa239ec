// Query loggers: every statement an engine runs, its values, the time it took, its rows, and its error, handed
// to the callbacks an application adds (engine.add_query_logger). With none added, a statement pays one load.
module;
#include <algorithm>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <type_traits>
#include <utility>
#include <vector>
export module keel.engine:query_log;
import keel.core;
import :statement_runner;

namespace asio = boost::asio;

export namespace keel {

/// What a query logger hears of one statement.
struct LoggedStatement {
  std::string_view sql;                ///< the statement's text
  std::span<const Value> params;       ///< its bound values
  std::chrono::nanoseconds elapsed{};  ///< how long it ran
  std::uint64_t rows = 0;              ///< rows the statement returned
  std::uint64_t rows_affected = 0;     ///< rows it inserted, updated or deleted
  std::exception_ptr error;            ///< what it threw; null when it succeeded
};

/// A query logger: called once for each statement, after it ran (see Engine::add_query_logger).
using QueryLogger = std::function<void(const LoggedStatement&)>;

/// A value as a log line shows it: NULL, true, 42, 2.5, 'text' (quotes doubled), \\x0aff for a blob (its first
/// 32 bytes, then "...").
inline std::string describe(const Value& value) {
  switch (value.kind()) {
    case ValueKind::null: return "NULL";
    case ValueKind::boolean:
    case ValueKind::integer:
    case ValueKind::real: return text_form::of(value);
    case ValueKind::blob: {
      const Blob& bytes = std::get<Blob>(value.storage());
      const std::string text =
          text_form::of(Value(Blob(bytes.begin(), bytes.begin() + std::min<std::size_t>(bytes.size(), 32))));
      return bytes.size() > 32 ? text + "..." : text;
    }
    default: {  // text, and the text form of the others: quoted, quotes doubled
      std::string quoted;
      append_quoted_literal(quoted, text_form::of(value));
      return quoted;
    }
  }
}
/// Names a logger added, for its removal.
using QueryLoggerId = std::uint64_t;

/// A logger that prints to std::clog, as Piccolo's log_queries and log_responses print: the statement and its
/// values, and what came back (rows, rows changed, or the error) with the time it took.
inline QueryLogger printing_logger(bool queries = true, bool responses = true) {
  return [queries, responses](const LoggedStatement& s) {
    std::string line;
    if (queries) {
      line = "keel query: " + std::string(s.sql);
      for (std::size_t i = 0; i < s.params.size(); ++i) line += (i ? ", " : " -- values: ") + describe(s.params[i]);
      line += '\n';
    }
    if (responses) {
      line += "keel response: ";
      if (s.error) {
        try {
          std::rethrow_exception(s.error);
        } catch (const std::exception& e) {
          line += std::string("error: ") + e.what();
        } catch (...) {
          line += "error";
        }
      } else {
        line += std::to_string(s.rows) + " rows, " + std::to_string(s.rows_affected) + " changed";
      }
      line += " in " + std::to_string(std::chrono::duration<double, std::milli>(s.elapsed).count()) + " ms\n";
    }
    std::clog << line << std::flush;
  };
}

}  // namespace keel

// The list an engine keeps its loggers in: the engine's own, not exported.
namespace keel {

/// An engine's query loggers. Adding and removing copy the list, so that a statement reads it without waiting.
class QueryLoggers {
public:
  /// Adds a logger; the id removes it.
  QueryLoggerId add(QueryLogger logger) {
    std::lock_guard lock(mutex_);
    auto next = std::make_shared<Entries>(*entries_);
    next->emplace_back(++last_id_, std::move(logger));
    entries_ = std::move(next);
    any_.store(true, std::memory_order_release);
    return last_id_;
  }
  /// Removes the logger `id` names.
  void remove(QueryLoggerId id) {
    std::lock_guard lock(mutex_);
    auto next = std::make_shared<Entries>(*entries_);
    std::erase_if(*next, [id](const auto& entry) { return entry.first == id; });
    any_.store(!next->empty(), std::memory_order_release);
    entries_ = std::move(next);
  }

  /// Whether any logger listens: without one, statements need not pass through run().
  inline bool active() const noexcept { return any_.load(std::memory_order_acquire); }

  /// Runs `execute(sink)` (a statement on a connection) and tells the loggers about it.
  template <class Execute>
  asio::awaitable<ExecResult> run(const Statement& statement, RowSink* sink, Execute execute) const {
    if (!any_.load(std::memory_order_acquire)) co_return co_await execute(sink);
    CountingSink counted(sink);
    LoggedStatement logged{.sql = statement.sql(), .params = statement.params()};
    const auto started = std::chrono::steady_clock::now();
    ExecResult result;
    try {
      result = co_await execute(sink ? &counted : nullptr);
    } catch (...) {
      logged.error = std::current_exception();
    }
    logged.elapsed = std::chrono::steady_clock::now() - started;
    logged.rows = counted.rows;
    logged.rows_affected = result.rows_affected;
    tell(logged);
    if (logged.error) std::rethrow_exception(logged.error);
    co_return result;
  }

private:
  using Entries = std::vector<std::pair<QueryLoggerId, QueryLogger>>;

  class CountingSink final : public RowSink {
  public:
    explicit CountingSink(RowSink* inner) : inner_(inner) {}
    void on_row(const RowReader& row) override {
      ++rows;
      inner_->on_row(row);
    }
    std::size_t max_rows() const noexcept override { return inner_ ? inner_->max_rows() : RowSink::max_rows(); }
    std::uint64_t rows = 0;

  private:
    RowSink* inner_;
  };

  // A logger that throws does not fail the statement.
  void tell(const LoggedStatement& logged) const {
    std::shared_ptr<const Entries> entries;
    {
      std::lock_guard lock(mutex_);
      entries = entries_;
    }
    for (const auto& [id, logger] : *entries) {
      try {
        logger(logged);
      } catch (...) {}
    }
  }

  mutable std::mutex mutex_;
  std::shared_ptr<const Entries> entries_ = std::make_shared<const Entries>();
  std::atomic<bool> any_{false};
  QueryLoggerId last_id_ = 0;
};

}  // namespace keel
