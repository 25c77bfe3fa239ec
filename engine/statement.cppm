// A statement in an engine's dialect with its bound values, what runs it, and what makes an object a query.
module;
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <concepts>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
export module keel.engine:statement;
import :dialect;
import :error;
import :row;
import :value;

namespace asio = boost::asio;

export namespace keel {

/// SQL text plus values. The text is shared, so a query whose text is rendered once per shape and dialect
/// hands out statements without copying it; the values are always bound, never spliced into the text.
class Statement {
public:
  /// A statement of `sql`, binding `params` in order.
  Statement(std::string sql, std::vector<Value> params = {})
      : sql_(std::make_shared<const std::string>(std::move(sql))), params_(std::move(params)) {}
  /// A statement of a shared text, binding `params` in order.
  Statement(std::shared_ptr<const std::string> sql, std::vector<Value> params = {})
      : sql_(std::move(sql)), params_(std::move(params)) {}

  /// The SQL text, in the dialect it was rendered for.
  std::string_view sql() const noexcept { return *sql_; }
  /// The text, shared: a statement made from it copies no characters.
  const std::shared_ptr<const std::string>& shared_sql() const noexcept { return sql_; }
  /// The values bound to the text's placeholders, in order.
  const std::vector<Value>& params() const noexcept { return params_; }

private:
  std::shared_ptr<const std::string> sql_;
  std::vector<Value> params_;
};

/// The number of runs of an execute_each: its values in groups of group_size.
inline std::size_t group_count(const Statement& statement, std::size_t group_size) {
  if (group_size == 0 || statement.params().size() % group_size != 0)
    throw MisuseError("execute_each takes values in whole groups of at least one: " +
                      std::to_string(statement.params().size()) + " values in groups of " + std::to_string(group_size));
  return statement.params().size() / group_size;
}

/// The statement of run `index` of an execute_each: the same text, that run's values.
inline Statement group_statement(const Statement& statement, std::size_t group_size, std::size_t index) {
  const auto first = statement.params().begin() + static_cast<std::ptrdiff_t>(index * group_size);
  return Statement(statement.shared_sql(), std::vector<Value>(first, first + static_cast<std::ptrdiff_t>(group_size)));
}

/// Adds one run's result to an execute_each's.
inline void add_run(ExecResult& total, const ExecResult& run) {
  total.rows_affected += run.rows_affected;
  if (run.last_insert_id) total.insert_ids.push_back(*run.last_insert_id);
  total.last_insert_id = run.last_insert_id;
}

/// execute_each by one execute per run, for what has nothing better.
template <class Runner>
asio::awaitable<ExecResult> execute_each_by_one(Runner& runner, const Statement& statement, std::size_t group_size,
                                                RowSink* sink) {
  ExecResult total;
  const std::size_t runs = group_count(statement, group_size);
  for (std::size_t i = 0; i < runs; ++i) add_run(total, co_await runner.execute(group_statement(statement, group_size, i), sink));
  co_return total;
}

/// How a many-row insert binds its rows: value after value, row after row (`VALUES ($1, $2), ($3, $4)`), or one
/// array per column (`SELECT * FROM unnest($1, $2)`).
enum class InsertLayout { rows, column_arrays };

/// Where a many-row insert goes: its table as the SQL names it ("s"."band"), its columns' names as the
/// database knows them (unquoted), in the insert's order, and how its values are laid out. returned_key names
/// the generated key it returns (`RETURNING <key>`, unquoted), or is empty when it returns nothing.
struct InsertTarget {
  std::string table;                         ///< the table, as SQL names it (quoted, maybe qualified)
  std::vector<std::string> columns;          ///< the columns' names, unquoted, in the insert's order
  InsertLayout layout = InsertLayout::rows;  ///< how the values are bound
  std::string returned_key;                  ///< the generated key it returns, unquoted; empty when it returns nothing
};

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

/// The collector (a RowSink) that a query of type Q gives.
template <class Q>
using collector_t = decltype(std::declval<const Q&>().collector());

/// A query renders itself as a Statement for a dialect, and gives a collector (a RowSink) that turns the rows
/// and the ExecResult into its result_type. keel::raw(...) is one; the ORM's queries are others.
template <class Q>
concept Query = requires(const Q& q, Dialect d, collector_t<Q>& c, const ExecResult& r) {
  typename Q::result_type;
  { q.statement(d) } -> std::same_as<Statement>;
  { c.result(r) } -> std::same_as<typename Q::result_type>;
} && std::derived_from<collector_t<Q>, RowSink>;

/// A query that only reads says so (static constexpr bool read_only = true), so that its batches run in a
/// read-only transaction, which takes no write lock (SQLite) and is refused any write (PostgreSQL).
template <class Q>
inline constexpr bool reads_only = requires { requires Q::read_only; };

/// Runs a query on a runner: its statement in the runner's dialect, its rows through its collector, its result.
template <Query Q>
asio::awaitable<typename Q::result_type> run_query(StatementRunner& runner, Q query) {
  const Statement statement = query.statement(runner.dialect());
  auto collector = query.collector();
  if (std::optional<ExecResult> done = runner.execute_at_once(statement, &collector, co_await asio::this_coro::executor))
    co_return collector.result(*done);
  const ExecResult result = co_await runner.execute(statement, &collector);
  co_return collector.result(result);
}

}  // namespace keel
