// What runs statements: an engine, a transaction; and running a query on one.
module;
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <concepts>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>
export module keel.engine:statement_runner;
import keel.core;

namespace asio = boost::asio;

export namespace keel {

/// execute_each by one execute per run, for what has nothing better.
template <class Runner>
asio::awaitable<ExecResult> execute_each_by_one(Runner& runner, const Statement& statement, std::size_t group_size,
                                                RowSink* sink) {
  ExecResult total;
  const std::size_t runs = group_count(statement, group_size);
  for (std::size_t i = 0; i < runs; ++i)
    add_run(total, co_await runner.execute(group_statement(statement, group_size, i), sink));
  co_return total;
}

/// Something that runs statements: an engine (on a connection of its own choosing, or the transaction in
/// scope) or a transaction.
class StatementRunner {
public:
  virtual ~StatementRunner() = default;
  /// The SQL dialect of the statements it runs.
  virtual Dialect dialect() const = 0;
  /// Runs one statement, handing its rows to `sink` (none: the rows are dropped).
  virtual asio::awaitable<ExecResult> execute(const Statement& statement, RowSink* sink) = 0;
  /// Runs a statement to its end on the calling thread, without suspending, when the runner can tell beforehand
  /// that the run is short and hands the sink at most one row (an embedded database's statement whose last run
  /// was short): its result. std::nullopt when it cannot, and then nothing ran: execute() runs it. `executor` is
  /// the caller's, where the transaction in scope is found. Saves execute()'s coroutines on the hot path.
  virtual std::optional<ExecResult> execute_at_once(const Statement& statement, RowSink* sink,
                                                    const asio::any_io_executor& executor) {
    (void)statement, (void)sink, (void)executor;
    return std::nullopt;
  }
  /// Runs the statement once per group of group_size of its values, in order (DB-API's executemany): one text,
  /// prepared once, for many rows. The sink hears every run's rows; the result adds up rows_affected and lists
  /// the last_insert_id of each run that inserted a row (insert_ids: a run that inserted nothing, an INSERT OR
  /// IGNORE say, adds none). It stops at the first error, and is not atomic by itself: run it in a transaction.
  virtual asio::awaitable<ExecResult> execute_each(const Statement& statement, std::size_t group_size, RowSink* sink) {
    return execute_each_by_one(*this, statement, group_size, sink);
  }
  /// Runs a many-row insert into `target` the engine's fastest way that stores the same rows (PostgreSQL's COPY,
  /// where the table and the values allow), or the insert itself. Asked for keys, it reports them either as the
  /// statement's rows to the sink or, in row order, as ExecResult::insert_ids.
  virtual asio::awaitable<ExecResult> insert_rows(const Statement& insert, const InsertTarget& target, RowSink* sink) {
    (void)target;
    return execute(insert, sink);
  }
};

/// What a collector makes of a statement's rows: the result of a query that collects through it.
template <class Collector>
using collected_t = decltype(std::declval<Collector&>().result(std::declval<const ExecResult&>()));

/// Runs `statement` on `runner`, handing its rows to `collector`: the result the collector makes of them; or
/// throws `failure`, met while the statement was made, where the caller awaits it. The coroutine of every query:
/// one per collector type, which many query types share, rather than one per query type (each coroutine costs
/// the user's build time).
template <class Collector>
asio::awaitable<collected_t<Collector>> run_collected(StatementRunner& runner, Statement statement, Collector collector,
                                                      std::exception_ptr failure = nullptr) {
  if (failure) std::rethrow_exception(failure);
  if (std::optional<ExecResult> done =
          runner.execute_at_once(statement, &collector, co_await asio::this_coro::executor))
    co_return collector.result(*done);
  const ExecResult result = co_await runner.execute(statement, &collector);
  co_return collector.result(result);
}

/// Runs a query on a runner: its statement in the runner's dialect, its rows through its collector, its result.
/// The statement is made now; a failure to make it is thrown where the query is awaited.
template <Query Q>
asio::awaitable<typename Q::result_type> run_query(StatementRunner& runner, const Q& query) {
  std::exception_ptr failure;
  try {
    return run_collected(runner, query.statement(runner.dialect()), query.collector());
  } catch (...) {
    failure = std::current_exception();
  }
  return run_collected(runner, Statement(std::string()), query.collector(), std::move(failure));
}

}  // namespace keel
