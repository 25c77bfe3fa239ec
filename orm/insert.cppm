// INSERT of one row or many. The result is the rows as inserted, with generated keys filled in:
//   Band saved = co_await keel::insert(Band{.name = "Pythonistas"}).run();   // saved.id is the new key
//   std::vector<Band> all = co_await keel::insert(bands).run();
//   auto names = co_await keel::insert(bands).returning(c<&Band::id>, c<&Band::name>).run();
//   std::uint64_t n = co_await keel::insert(bands).on_conflict(c<&Band::name>).do_nothing().run();  // inserted
module;
#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <concepts>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>
export module keel.orm:insert;
import keel.engine;
import keel.reflection;
import :column;
import :expression;
import :query_support;
import :projection;
import :returning;
import :sql_writer;
import :table;
import :text_cache;
import :update;
import :conflict;

namespace asio = boost::asio;

export namespace keel {

// Whether member I of table T is a column whose database chooses its value (default_now, default_uuid,
// default_sql).
template <class T, std::size_t I>
consteval bool is_database_defaulted() {
  using M = typename table_traits<T>::template member_type<I>;
  if constexpr (is_column_wrapper<M>::value)
    return M::database_default;
  else
    return false;
}
template <class T>
consteval std::size_t database_defaulted_count() {
  return []<std::size_t... I>(std::index_sequence<I...>) {
    return ((is_database_defaulted<T, I>() ? 1 : 0) + ... + 0);
  }(std::make_index_sequence<table_traits<T>::column_count>{});
}
// Calls f.template operator()<I>(n) for each database-defaulted member I, the n-th of them.
template <class T, class F>
void for_each_database_defaulted(F&& f) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    std::size_t n = 0;
    ((is_database_defaulted<T, I>() ? (f.template operator()<I>(n++), 0) : 0), ...);
  }(std::make_index_sequence<table_traits<T>::column_count>{});
}

// Key types whose value the database gives back in the text it was bound in (PostgreSQL respells numeric).
template <class V>
inline constexpr bool has_one_spelling = std::integral<V> || std::same_as<V, std::string> || std::same_as<V, Uuid> ||
                                         std::same_as<V, std::chrono::sys_days> || std::same_as<V, TimeOfDay> ||
                                         std::same_as<V, Timestamp> || std::same_as<V, TimestampTz>;

// Fills generated keys, and the values the database chose for columns it defaults, into copies of the inserted
// rows. Keys returned as rows (RETURNING) come in no promised order, but both engines assign the keys of a
// multi-row insert in row order, so the keys, sorted, belong to the rows in order. Keys an engine reports in
// ExecResult::insert_ids are in row order already. The returned defaults go with the generated key, else with the
// key the row was given (of a type with one spelling), else in the order the database returned them.
template <class T, bool Many>
class InsertedRowsCollector final : public RowSink {
  static constexpr std::size_t defaulted = database_defaulted_count<T>();

public:
  /// Whether the insert returns the keys the rows were given, to match its rows up (neither engine orders
  /// RETURNING); without such a key, the order the database returned them in is taken as theirs.
  static constexpr bool matches_by_given_key = [] {
    using Traits = table_traits<T>;
    if constexpr (defaulted == 0 || !Traits::has_primary_key || Traits::has_generated_key)
      return false;
    else if constexpr (is_database_defaulted<T, Traits::primary_key>())
      return false;  // the key is among them
    else
      return has_one_spelling<typename Traits::template traits<Traits::primary_key>::value_type>;
  }();

  using result_type = std::conditional_t<Many, std::vector<T>, T>;
  explicit InsertedRowsCollector(std::shared_ptr<const std::vector<T>> rows) : rows_(std::move(rows)) {}

  void on_row(const RowReader& row) override {
    std::size_t column = 0;
    if constexpr (table_traits<T>::has_generated_key)
      keys_.push_back(row.get<std::int64_t>(column++));
    else if constexpr (matches_by_given_key)
      given_keys_.push_back(text_form::of(row.get<Value>(column++)));
    if constexpr (defaulted > 0)
      for (; column < row.size(); ++column) chosen_.push_back(row.get<Value>(column));
  }

  result_type result(const ExecResult& outcome) {
    std::vector<T> rows(*rows_);
    std::vector<std::size_t> order;  // the returned row of each inserted row
    if constexpr (defaulted > 0) {
      order.resize(chosen_.size() / defaulted);
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      if constexpr (table_traits<T>::has_generated_key) {
        if (keys_.size() == order.size()) {
          std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return keys_[a] < keys_[b]; });
          std::vector<std::int64_t> sorted;
          sorted.reserve(keys_.size());
          for (std::size_t i : order) sorted.push_back(keys_[i]);
          keys_ = std::move(sorted);
        }
      } else if constexpr (matches_by_given_key) {
        // The rows' own keys say which returned row is whose.
        std::unordered_map<std::string, std::size_t> returned;
        for (std::size_t i = 0; i < given_keys_.size(); ++i) returned.emplace(given_keys_[i], i);
        if (returned.size() == rows.size()) {
          for (std::size_t i = 0; i < rows.size() && i < order.size(); ++i) {
            const auto found =
                returned.find(text_form::of(to_value(reflection::get<table_traits<T>::primary_key>(rows[i]))));
            if (found == returned.end()) throw ProtocolError("the insert returned no row for a key it was given");
            order[i] = found->second;
          }
        }
      }
      if (order.size() != rows.size())
        throw ProtocolError("the insert returned the database's defaults of " + std::to_string(order.size()) +
                            " rows for " + std::to_string(rows.size()) + " rows");
      for (std::size_t i = 0; i < rows.size(); ++i) {
        for_each_database_defaulted<T>([&]<std::size_t I>(std::size_t n) {
          const Value& value = chosen_[order[i] * defaulted + n];
          assign_cell(reflection::get<I>(rows[i]), value.cell(), CellOrigin{n, table_traits<T>::column_names[I]});
        });
      }
    }
    if constexpr (table_traits<T>::has_generated_key) {
      // Written without RETURNING where the engine reports the keys: one row (reports_last_insert_id), or each
      // row of an execute_each (inserts_rows_one_by_one).
      if (!keys_.empty()) {
        if constexpr (defaulted == 0) std::sort(keys_.begin(), keys_.end());
      } else if (Many) {
        keys_ = outcome.insert_ids;
      } else if (outcome.last_insert_id) {
        keys_.push_back(*outcome.last_insert_id);
      }
      if (keys_.size() != rows.size())
        throw ProtocolError("the insert returned " + std::to_string(keys_.size()) + " keys for " +
                            std::to_string(rows.size()) + " rows");
      for (std::size_t i = 0; i < rows.size(); ++i)
        stored_value_ref(reflection::get<table_traits<T>::primary_key>(rows[i])) = keys_[i];
    }
    if constexpr (Many)
      return rows;
    else
      return std::move(rows.front());
  }

private:
  std::shared_ptr<const std::vector<T>> rows_;
  std::vector<std::int64_t> keys_;
  std::vector<Value> chosen_;            // the database-defaulted columns' values, row after row
  std::vector<std::string> given_keys_;  // each returned row's key, as text, where the rows' keys were given
};

/// An INSERT of one row, or of many (Many): it gives the rows as inserted, their generated keys filled in, or
/// the RETURNING columns' values. With an ON CONFLICT clause (Conflict), it gives the number of rows it
/// inserted or updated instead of the rows, since a skipped row has no key.
template <class T, bool Many, class Returning, class Conflict = NoConflict>
class Insert : public Runnable<Insert<T, Many, Returning, Conflict>> {
  using Traits = table_traits<T>;

public:
  /// The table inserted into.
  using table_type = T;
  /// Whether returning() chose columns.
  static constexpr bool returns_columns = !std::same_as<Returning, NoReturning>;
  /// Whether it has an ON CONFLICT clause.
  static constexpr bool has_conflict = Conflict::present;
  /// Whether the database chooses some columns' values (default_now, default_uuid, default_sql) when a row
  /// leaves them unset; the insert then gives back what it chose.
  static constexpr bool has_database_defaults = database_defaulted_count<T>() > 0;
  /// The row, the rows, the RETURNING columns' values, or with ON CONFLICT the rows inserted or updated.
  using result_type =
      returning_result_t<Returning,
                         std::conditional_t<has_conflict, std::uint64_t, std::conditional_t<Many, std::vector<T>, T>>>;
  /// One row has one text; many rows have one placeholder group per row.
  static constexpr TextShape shape = TextShape{.fixed = !Many} + Conflict::shape + projection_shape<Returning>;

  /// An insert of `rows`; keel::insert makes one.
  explicit Insert(std::shared_ptr<const std::vector<T>> rows, Returning returning = {}, Conflict conflict = {})
      : rows_(std::move(rows)), returning_(std::move(returning)), conflict_(std::move(conflict)) {}

  /// ON CONFLICT on the unique constraint (or index) of `columns`, or on any constraint without columns: then
  /// do_nothing() or do_update(...). Both engines speak it.
  template <class... C>
  auto on_conflict(const C&...) const {
    static_assert(!has_conflict, "keel: on_conflict() is already chosen for this insert");
    static_assert((requires { C::member; } && ...), "keel: on_conflict() takes columns, keel::c<&T::member>");
    static_assert((std::same_as<typename C::table, T> && ...),
                  "keel: on_conflict() takes columns of the table inserted into, keel::c<&T::member>");
    return ConflictChoice<Insert, std::tuple<C...>>(*this, std::tuple<C...>{});
  }
  /// This insert with `conflict` as its ON CONFLICT clause (ConflictChoice's do_nothing() and do_update()).
  template <class NewConflict>
  auto with_conflict(NewConflict conflict) const {
    return Insert<T, Many, Returning, NewConflict>(rows_, returning_, std::move(conflict));
  }
  /// After do_update(): also set `column` to `value` on conflict, where value may read the existing row
  /// (keel::c<&T::member>) and the proposed one (keel::excluded<&T::member>).
  template <class C, class V>
    requires updates_on_conflict<Conflict>
  auto set(const C& column, const V& value) const {
    auto sets =
        std::tuple_cat(conflict_.action.sets, std::tuple(assignment<T, type_list<T, ExcludedRow<T>>>(column, value)));
    using Action = DoUpdate<decltype(sets), decltype(conflict_.action.where)>;
    return with_conflict(
        OnConflict<decltype(conflict_.target), Action>{conflict_.target, {sets, conflict_.action.where}});
  }
  /// After do_update(): update only the existing rows for which `condition` holds (DO UPDATE ... WHERE). Called
  /// again, it adds a condition with AND.
  template <class E>
    requires updates_on_conflict<Conflict>
  auto where(const E& condition) const {
    static_assert(is_subset_v<typename E::tables, type_list<T, ExcludedRow<T>>>,
                  "keel: the condition uses a column of a table that is not in the insert");
    auto combined = and_where(conflict_.action.where, condition);
    using Action = DoUpdate<decltype(conflict_.action.sets), decltype(combined)>;
    return with_conflict(
        OnConflict<decltype(conflict_.target), Action>{conflict_.target, {conflict_.action.sets, combined}});
  }

  /// RETURNING chosen columns of the inserted rows, instead of the rows with their keys.
  template <class... E>
  auto returning(const E&... expressions) const {
    static_assert((Expression<E> && ...), "keel: returning() takes columns and expressions");
    static_assert(is_subset_v<concat_t<typename E::tables...>, type_list<T>>,
                  "keel: returning() takes columns of the table inserted into");
    using R = Columns<E...>;
    return Insert<T, Many, R, Conflict>(rows_, R{std::tuple(expressions...)}, conflict_);
  }

  /// Runs the insert. Rows beyond what one statement may bind are split into several statements, which run
  /// in one transaction (the one in scope, or a new one), so that the insert stays all or nothing.
  asio::awaitable<result_type> run() const {
    if constexpr (Many)
      return run_split_on_context(*this);
    else
      return Runnable<Insert>::run_on_context(*this);  // one row: one statement
  }
  /// run() on `runner`: an engine or a transaction.
  asio::awaitable<result_type> run(StatementRunner& runner) const {
    if constexpr (Many)
      return run_split(runner, *this);
    else
      return run_query(runner, *this);  // one row: one statement, and no coroutine of its own to say so
  }
  /// run() to completion on the calling thread's private event loop.
  result_type run_sync() const { return keel::run_sync(run()); }
  /// run(runner) to completion on the calling thread's private event loop.
  result_type run_sync(StatementRunner& runner) const { return keel::run_sync(run(runner)); }

  /// The rows of this table that one statement can take on a dialect.
  static constexpr std::size_t rows_per_statement(Dialect dialect) {
    if (from_arrays(dialect)) return max_rows_from_arrays;
    const std::size_t per_row = inserted_column_count();
    return per_row == 0 ? 1 : dialect->max_bound_values / per_row;
  }

  /// The rows of this insert that one statement can take on a dialect: rows_per_statement, less room for the
  /// values its ON CONFLICT clause binds (set(column, value), where(...)).
  std::size_t rows_per_run(Dialect dialect) const {
    if constexpr (has_conflict) {
      const std::size_t per_row = inserted_column_count();
      if (from_arrays(dialect) || per_row == 0) return rows_per_statement(dialect);
      SqlWriter values(dialect, /*write_text=*/false);
      conflict_.write(values);
      return (dialect->max_bound_values - values.take_params().size()) / per_row;
    } else {
      return rows_per_statement(dialect);
    }
  }

  /// One statement; an insert too large for one throws MisuseError here (atomic runs and batches take it
  /// this way); run() splits it instead.
  Statement statement(Dialect dialect) const {
    static_assert(!updates_nothing_on_conflict<Conflict>,
                  "keel: do_update() sets nothing: name the columns, do_update(c<&T::m>), or add set(column, value)");
    const std::size_t per_row = inserted_column_count();
    const std::size_t most = rows_per_run(dialect);
    if (per_row > 0 && rows_->size() > most)
      throw MisuseError("keel::insert of " + std::to_string(rows_->size()) + " rows binds " +
                        std::to_string(rows_->size() * per_row) + " values, more than " +
                        std::string(to_string(dialect)) + " accepts in one statement (" +
                        std::to_string(dialect->max_bound_values) + "); insert at most " + std::to_string(most) +
                        " rows of this table at a time");
    return make_statement(*this, dialect);
  }
  /// Fills the generated keys into the rows, or collects the RETURNING columns.
  auto collector() const {
    if constexpr (returns_columns)
      return ReturningCollector<Returning>();
    else if constexpr (has_conflict)
      return RowsAffectedCollector();
    else
      return InsertedRowsCollector<T, Many>(rows_);
  }

  /// Writes the SQL text and binds the values.
  void write(SqlWriter& w) const {
    if (!write_rows(w)) return;
    conflict_.write(w);
    if constexpr (returns_columns) {
      write_returning(w, returning_);
    } else if constexpr (has_database_defaults && !has_conflict) {
      // No engine reports what the database chose without RETURNING.
      write_returned_by_database(w);
    } else if constexpr (Traits::has_generated_key && !has_conflict) {
      if (Many || !w.dialect()->reports_last_insert_id) {
        w.sql(" RETURNING ");
        w.identifier(Traits::column_names[Traits::primary_key]);
      }
    }
  }

  /// " RETURNING" the generated key and the columns the database defaults, as InsertedRowsCollector reads them.
  static void write_returned_by_database(SqlWriter& w) {
    w.sql(" RETURNING ");
    bool first = true;
    if constexpr (Traits::has_generated_key || InsertedRowsCollector<T, Many>::matches_by_given_key) {
      w.identifier(Traits::column_names[Traits::primary_key]);
      first = false;
    }
    for_each_database_defaulted<T>([&]<std::size_t I>(std::size_t) {
      if (!first) w.sql(", ");
      first = false;
      w.identifier(Traits::column_names[I]);
    });
  }

  /// The INSERT up to its rows, without ON CONFLICT or RETURNING; with no rows, a statement that changes
  /// nothing and returns no row, and false.
  bool write_rows(SqlWriter& w) const {
    w.set_qualify_columns(false);
    if (rows_->empty()) {
      w.sql("SELECT 1 WHERE 1 = 0");
      return false;
    }
    w.sql("INSERT INTO ");
    w.identifier(Traits::name);
    if (inserted_column_count() == 0) {
      w.sql(" DEFAULT VALUES");
    } else {
      write_inserted_columns(w);
      if (from_arrays(w.dialect())) {
        write_from_arrays(w);
      } else {
        w.sql(" VALUES ");
        write_values(w);
      }
    }
    return true;
  }

  /// A member's value as inserted: NULL for a member left to the database, which the insert's coalesce()
  /// replaces with the default.
  template <std::size_t I>
  static Value inserted_value(const T& row) {
    const auto& member = reflection::get<I>(row);
    if constexpr (is_database_defaulted<T, I>())
      if (left_to_database(member)) return Value();
    return to_value(member);
  }

private:
  // Rows per statement when they go as arrays: no parameter limit applies, but a Bind message must stay under
  // 1 GB, so very large inserts are still split (in one transaction).
  static constexpr std::size_t max_rows_from_arrays = 100'000;

  // Many rows, on a dialect that takes them as arrays, of columns whose values can be array elements.
  static constexpr bool from_arrays(Dialect dialect) {
    return Many && inserted_column_count() > 0 && columns_fit_arrays() && dialect->inserts_rows_from_arrays;
  }
  static constexpr bool columns_fit_arrays() {
    return []<std::size_t... I>(std::index_sequence<I...>) {
      return ((!is_inserted<I> ||
               natural_kind<typename column_traits<typename Traits::template member_type<I>>::value_type>() !=
                   ValueKind::null) &&
              ...);
    }(std::make_index_sequence<Traits::column_count>{});
  }

  // SELECT * FROM unnest($1, $2, ...): one array of each column's values, in row order. With columns the
  // database defaults: SELECT "a", coalesce("b", <default>) FROM unnest($1, $2) AS "keel_rows" ("a", "b").
  void write_from_arrays(SqlWriter& w) const {
    if constexpr (has_database_defaults) {
      w.sql(" SELECT ");
      bool first_column = true;
      for_each_inserted([&]<std::size_t I>() {
        if (!first_column) w.sql(", ");
        first_column = false;
        if constexpr (is_database_defaulted<T, I>()) {
          w.sql("coalesce(");
          w.identifier(Traits::column_names[I]);
          w.sql(", ");
          write_database_default<I>(w);
          w.sql(")");
        } else {
          w.identifier(Traits::column_names[I]);
        }
      });
      w.sql(" FROM unnest(");
    } else {
      w.sql(" SELECT * FROM unnest(");
    }
    bool first = true;
    for_each_inserted([&]<std::size_t I>() {
      if (!first) w.sql(", ");
      first = false;
      using V = typename column_traits<typename Traits::template member_type<I>>::value_type;
      ValueArray column{natural_kind<V>(), {}};
      column.items.reserve(rows_->size());
      for (const T& row : *rows_) column.items.push_back(inserted_value<I>(row));
      w.param(Value(std::move(column)));
    });
    w.sql(")");
    if constexpr (has_database_defaults) {
      w.sql(" AS \"keel_rows\"");
      write_inserted_columns(w);
    }
  }

  // " (a, b, ...)": the inserted columns.
  static void write_inserted_columns(SqlWriter& w) {
    w.sql(" (");
    bool first = true;
    for_each_inserted([&]<std::size_t I>() {
      if (!first) w.sql(", ");
      first = false;
      w.identifier(Traits::column_names[I]);
    });
    w.sql(")");
  }

  template <std::size_t I>
  static void write_database_default(SqlWriter& w) {
    using M = typename Traits::template member_type<I>;
    w.sql(checked_database_default<typename M::value_type, typename database_default_option<typename M::options>::type>(
        w.dialect(), Traits::name, Traits::column_names[I]));
  }

  // coalesce(CAST(? AS type), default): one text for rows given a value and rows left to the database (NULL).
  // The cast types a NULL, which PostgreSQL would otherwise read with a default such as '{}' as text. Only the
  // value is bound when the text is not written (it is rendered once per shape and dialect).
  template <std::size_t I>
  static void write_defaulted_value(SqlWriter& w, const T& row) {
    w.sql("coalesce(CAST(");
    w.param(inserted_value<I>(row));
    if (!w.writes_text()) return;
    w.sql(" AS ");
    w.sql(checked_column_sql_type<typename Traits::template traits<I>::value_type>(w.dialect(), Traits::name,
                                                                                   Traits::column_names[I]));
    w.sql("), ");
    write_database_default<I>(w);
    w.sql(")");
  }

  // VALUES (...), (...): a placeholder group per row.
  void write_values(SqlWriter& w) const {
    for (std::size_t r = 0; r < rows_->size(); ++r) {
      if (r) w.sql(", ");
      w.sql("(");
      const T& row = (*rows_)[r];
      bool first_value = true;
      for_each_inserted([&]<std::size_t I>() {
        if (!first_value) w.sql(", ");
        first_value = false;
        if constexpr (is_database_defaulted<T, I>())
          write_defaulted_value<I>(w, row);
        else
          w.param(to_value(reflection::get<I>(row)));
      });
      w.sql(")");
    }
  }

  static asio::awaitable<result_type> run_split_on_context(Insert query) {
    auto runner = runner_for(co_await asio::this_coro::executor);
    co_return co_await run_split(*runner, std::move(query));
  }
  static asio::awaitable<result_type> run_split(StatementRunner& runner, Insert query) {
    const std::size_t per_statement = query.rows_per_run(runner.dialect());
    // Row by row the engine reports keys, but not what the database chose for its defaults.
    if constexpr (Many && !returns_columns && !has_conflict && !has_database_defaults && inserted_column_count() > 0) {
      if (runner.dialect()->inserts_rows_one_by_one && !query.rows_->empty()) {
        if (auto* engine = dynamic_cast<Engine*>(&runner))
          co_return co_await engine->transaction(
              [&]() -> asio::awaitable<result_type> { co_return co_await run_each(*engine, query); });
        co_return co_await run_each(runner, query);
      }
    }
    if constexpr (Many) {
      if (query.rows_->size() > per_statement) {
        if (auto* engine = dynamic_cast<Engine*>(&runner))
          co_return co_await engine->transaction(
              [&]() -> asio::awaitable<result_type> { co_return co_await run_parts(*engine, query, per_statement); });
        co_return co_await run_parts(runner, query, per_statement);
      }
    }
    co_return co_await run_one(runner, std::move(query));
  }
  // One statement: many rows, enough for it, by the engine's bulk path (StatementRunner::insert_rows), which
  // may write them its faster way; else as the insert.
  static asio::awaitable<result_type> run_one(StatementRunner& runner, Insert query) {
    // COPY cannot write a default for some rows and a value for others.
    if constexpr (Many && !returns_columns && !has_conflict && !has_database_defaults && inserted_column_count() > 0) {
      const Dialect dialect = runner.dialect();
      if (query.rows_->size() >= dialect->bulk_insert_min_rows) {
        const Statement statement = query.statement(dialect);
        auto collector = query.collector();
        co_return collector.result(co_await runner.insert_rows(statement, bulk_target(dialect), &collector));
      }
    }
    co_return co_await run_query(runner, std::move(query));
  }
  static InsertTarget bulk_target(Dialect dialect) {
    InsertTarget target{.table = quote_identifier(Traits::name),
                        .layout = from_arrays(dialect) ? InsertLayout::column_arrays : InsertLayout::rows};
    for_each_inserted([&]<std::size_t I>() { target.columns.emplace_back(Traits::column_names[I]); });
    if constexpr (Traits::has_generated_key) target.returned_key = Traits::column_names[Traits::primary_key];
    return target;
  }
  // The one-row statement once per row, in one call (execute_each): its text is the one-row insert's, rendered
  // once per dialect.
  static asio::awaitable<result_type> run_each(StatementRunner& runner, const Insert& query) {
    const auto& rows = *query.rows_;
    const Statement one_row =
        Insert<T, false, NoReturning>(std::make_shared<const std::vector<T>>(rows.begin(), rows.begin() + 1))
            .statement(runner.dialect());
    std::vector<Value> values;
    values.reserve(rows.size() * inserted_column_count());
    for (const T& row : rows)
      for_each_inserted([&]<std::size_t I>() { values.push_back(to_value(reflection::get<I>(row))); });
    InsertedRowsCollector<T, true> collector(query.rows_);
    const ExecResult result = co_await runner.execute_each(Statement(one_row.shared_sql(), std::move(values)),
                                                           inserted_column_count(), &collector);
    co_return collector.result(result);
  }
  static asio::awaitable<result_type> run_parts(StatementRunner& runner, const Insert& query,
                                                std::size_t per_statement) {
    result_type all{};
    const auto& rows = *query.rows_;
    if constexpr (!std::same_as<result_type, std::uint64_t>) all.reserve(rows.size());
    for (std::size_t begin = 0; begin < rows.size(); begin += per_statement) {
      const std::size_t end = std::min(rows.size(), begin + per_statement);
      auto part_rows = std::make_shared<const std::vector<T>>(rows.begin() + begin, rows.begin() + end);
      auto part = co_await run_one(runner, Insert(std::move(part_rows), query.returning_, query.conflict_));
      if constexpr (std::same_as<result_type, std::uint64_t>)
        all += part;
      else
        all.insert(all.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
    }
    co_return all;
  }

  template <std::size_t I>
  static constexpr bool is_inserted = !has_option<typename Traits::template member_type<I>, generated>;

  template <class F>
  static void for_each_inserted(F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((is_inserted<I> ? (f.template operator()<I>(), 0) : 0), ...);
    }(std::make_index_sequence<Traits::column_count>{});
  }
  static constexpr std::size_t inserted_column_count() {
    return []<std::size_t... I>(std::index_sequence<I...>) {
      return ((is_inserted<I> ? 1 : 0) + ... + 0);
    }(std::make_index_sequence<Traits::column_count>{});
  }

  std::shared_ptr<const std::vector<T>> rows_;
  Returning returning_;
  Conflict conflict_;
};

template <class T>
struct insert_rows_of {
  using row = std::remove_cvref_t<T>;
  static constexpr bool many = false;
};
template <class T>
struct insert_rows_of<std::vector<T>> {
  using row = T;
  static constexpr bool many = true;
};
template <class T>
struct insert_rows_of<std::span<const T>> {
  using row = T;
  static constexpr bool many = true;
};
template <class T>
struct insert_rows_of<std::span<T>> {
  using row = std::remove_const_t<T>;
  static constexpr bool many = true;
};

struct deduce_table {};

/// keel::insert(row): the result is the row, with its generated key filled in.
/// keel::insert(rows) (a vector or span) or keel::insert(row1, row2, ...): the rows, with their keys.
/// keel::insert<Band>(...) names the table, and rows of another struct do not compile.
template <class Table = deduce_table, class First, class... More>
auto insert(First&& first, More&&... more) {
  using Rows = insert_rows_of<std::remove_cvref_t<First>>;
  using Row = typename Rows::row;
  using Expected = std::conditional_t<std::same_as<Table, deduce_table>, Row, Table>;
  static_assert(std::same_as<Row, Expected> && (std::same_as<std::remove_cvref_t<More>, Expected> && ...),
                "keel::insert<T>: every row must be a T (a struct of the table inserted into)");
  static_assert(!Rows::many || sizeof...(More) == 0, "keel::insert takes rows, or one vector or span of rows");
  (void)sizeof(table_traits<Row>);
  if constexpr (Rows::many) {
    std::shared_ptr<const std::vector<Row>> rows;
    if constexpr (std::same_as<std::remove_cvref_t<First>, std::vector<Row>> && !std::is_lvalue_reference_v<First>)
      rows = std::make_shared<const std::vector<Row>>(std::move(first));
    else
      rows = std::make_shared<const std::vector<Row>>(std::begin(first), std::end(first));
    return Insert<Row, true, NoReturning>(std::move(rows));
  } else if constexpr (sizeof...(More) == 0) {
    return Insert<Row, false, NoReturning>(
        std::make_shared<const std::vector<Row>>(std::vector<Row>{std::forward<First>(first)}));
  } else {
    return Insert<Row, true, NoReturning>(std::make_shared<const std::vector<Row>>(
        std::vector<Row>{Row(std::forward<First>(first)), Row(std::forward<More>(more))...}));
  }
}

}  // namespace keel
