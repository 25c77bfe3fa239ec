// The row a condition finds, or a new one inserted when it finds none (Piccolo's get_or_create).
//   auto [band, created] = co_await keel::get_or_create(c<&Band::name> == "Pythonistas",
//                                                       Band{.name = "Pythonistas", .popularity = 100}).run();
module;
#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
export module keel.orm:get_or_create;
import keel.engine;
import :expression;
import :insert;
import :select;
import :table;

namespace asio = boost::asio;

export namespace keel {

/// What get_or_create gives: the row as stored, and whether this call inserted it.
template <class T>
struct GetOrCreated {
  T row;                 ///< the row found, or inserted (its key and database defaults as stored)
  bool created = false;  ///< whether it was inserted by this call
};

/// The first row of T for which `condition` holds; when there is none, `row` is inserted and read back. An
/// insert that meets a unique constraint (another caller inserted the same row meanwhile) skips it (ON CONFLICT
/// DO NOTHING), and the row that caller stored is read instead: with a unique constraint on the condition's
/// columns, concurrent calls agree on one row. One statement when it finds the row; when it inserts, the insert
/// and the read run in one transaction (the one in scope, or a new one), so that a row that fails the check
/// after its insert is rolled back with it (inside a caller's transaction, by the caller).
// Whether Condition is a boolean expression. Asked before its tables, so that anything else gets keel's message,
// never the compiler's error about a missing Condition::value_type or Condition::tables.
template <class Condition>
consteval bool is_boolean_condition() {
  if constexpr (Expression<Condition>)
    return std::same_as<typename Condition::value_type, bool>;
  else
    return false;
}
template <class T, class Condition>
consteval bool condition_on_table_only() {
  if constexpr (is_boolean_condition<Condition>())
    return is_subset_v<typename Condition::tables, type_list<T>>;
  else
    return true;  // reported by the check before
}

template <class T, class Condition>
class GetOrCreate {
  static_assert(is_boolean_condition<Condition>(),
                "keel::get_or_create takes a condition on the table, then the row to insert when none meets it");
  static_assert(condition_on_table_only<T, Condition>(),
                "keel::get_or_create: the condition uses a column of a table that is not the row's");

public:
  /// What running it gives.
  using result_type = GetOrCreated<T>;

  /// Finds by `condition`, else inserts `row`; keel::get_or_create makes one.
  GetOrCreate(Condition condition, T row) : condition_(std::move(condition)), row_(std::move(row)) {}

  /// Runs on the transaction in scope, else on the default engine.
  asio::awaitable<result_type> run() const { return run_on_context(*this); }
  /// Runs on `runner`: an engine or a transaction.
  asio::awaitable<result_type> run(StatementRunner& runner) const { return run_on(runner, *this); }
  /// run() to completion on the calling thread's private event loop.
  result_type run_sync() const { return keel::run_sync(run()); }
  /// run(runner) to completion on the calling thread's private event loop.
  result_type run_sync(StatementRunner& runner) const { return keel::run_sync(run(runner)); }

private:
  static asio::awaitable<result_type> run_on_context(GetOrCreate query) {
    const std::shared_ptr<StatementRunner> runner = runner_for(co_await asio::this_coro::executor);
    co_return co_await run_on(*runner, std::move(query));
  }
  static asio::awaitable<result_type> run_on(StatementRunner& runner, GetOrCreate query) {
    const auto find = select<T>().where(query.condition_).first();
    if (std::optional<T> found = co_await run_query(runner, find)) co_return result_type{std::move(*found), false};
    if (auto* engine = dynamic_cast<Engine*>(&runner))
      co_return co_await engine->transaction(
          [&]() -> asio::awaitable<result_type> { co_return co_await insert_and_read(*engine, query); });
    co_return co_await insert_and_read(runner, query);
  }
  static asio::awaitable<result_type> insert_and_read(StatementRunner& runner, const GetOrCreate& query) {
    const auto find = select<T>().where(query.condition_).first();
    const std::uint64_t inserted = co_await run_query(runner, insert(query.row_).on_conflict().do_nothing());
    std::optional<T> stored = co_await run_query(runner, find);
    if (!stored)
      throw MisuseError(inserted ? "keel::get_or_create: the row it inserted into " +
                                       std::string(table_traits<T>::name) + " does not meet its condition"
                                 : "keel::get_or_create: the row conflicts with a stored " +
                                       std::string(table_traits<T>::name) + " row that its condition does not find");
    co_return result_type{std::move(*stored), inserted > 0};
  }

  Condition condition_;
  T row_;
};

/// The first row of T for which `condition` holds, or `row` inserted (see GetOrCreate):
/// co_await keel::get_or_create(c<&Band::name> == "X", Band{.name = "X"}).run() gives {row, created}.
template <class T, class Condition>
GetOrCreate<T, Condition> get_or_create(const Condition& condition, T row) {
  (void)sizeof(table_traits<T>);
  return GetOrCreate<T, Condition>(condition, std::move(row));
}

}  // namespace keel
