// A statement in an engine's dialect with its bound values, what runs it, and what makes an object a query.
module;
#include <boost/asio/awaitable.hpp>
#include <concepts>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
export module keel.engine:statement;
import :dialect;
import :row;
import :value;

namespace asio = boost::asio;

export namespace keel {

// SQL text plus values. The text is shared, so a query whose text is rendered once per shape and dialect
// hands out statements without copying it; the values are always bound, never spliced into the text.
class Statement {
public:
  Statement(std::string sql, std::vector<Value> params = {})
      : sql_(std::make_shared<const std::string>(std::move(sql))), params_(std::move(params)) {}
  Statement(std::shared_ptr<const std::string> sql, std::vector<Value> params = {})
      : sql_(std::move(sql)), params_(std::move(params)) {}

  std::string_view sql() const noexcept { return *sql_; }
  const std::vector<Value>& params() const noexcept { return params_; }

private:
  std::shared_ptr<const std::string> sql_;
  std::vector<Value> params_;
};

// Something that runs statements: an engine (on a connection of its own choosing, or the transaction in
// scope) or a transaction.
class StatementRunner {
public:
  virtual ~StatementRunner() = default;
  virtual Dialect dialect() const = 0;
  virtual asio::awaitable<ExecResult> execute(const Statement& statement, RowSink* sink) = 0;
};

template <class Q>
using collector_t = decltype(std::declval<const Q&>().collector());

// A query renders itself as a Statement for a dialect, and gives a collector (a RowSink) that turns the rows
// and the ExecResult into its result_type. keel::raw(...) is one; the ORM's queries are others.
template <class Q>
concept Query = requires(const Q& q, Dialect d, collector_t<Q>& c, const ExecResult& r) {
  typename Q::result_type;
  { q.statement(d) } -> std::same_as<Statement>;
  { c.result(r) } -> std::same_as<typename Q::result_type>;
} && std::derived_from<collector_t<Q>, RowSink>;

// A query that only reads says so (static constexpr bool read_only = true), so that its batches run in a
// read-only transaction, which takes no write lock (SQLite) and is refused any write (PostgreSQL).
template <class Q>
inline constexpr bool reads_only = requires { requires Q::read_only; };

template <Query Q>
asio::awaitable<typename Q::result_type> run_query(StatementRunner& runner, Q query) {
  const Statement statement = query.statement(runner.dialect());
  auto collector = query.collector();
  const ExecResult result = co_await runner.execute(statement, &collector);
  co_return collector.result(result);
}

}  // namespace keel
