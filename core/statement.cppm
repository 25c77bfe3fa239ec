// A statement in an engine's dialect with its bound values, and what makes an object a query.
module;
#include <concepts>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
export module keel.core:statement;
import :dialect;
import :error;
import :row;
import :value;

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

}  // namespace keel
