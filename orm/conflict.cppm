// ON CONFLICT, the upsert of PostgreSQL and SQLite (both speak it): what an insert does with a row that would
// break a unique constraint, instead of failing.
//   keel::insert(band).on_conflict(c<&Band::name>).do_nothing()
//   keel::insert(band).on_conflict(c<&Band::name>).do_update(c<&Band::popularity>)   // = excluded.popularity
//   keel::insert(band).on_conflict(c<&Band::name>).do_update()
//       .set(c<&Band::popularity>, c<&Band::popularity> + keel::excluded<&Band::popularity>)
//       .where(c<&Band::popularity> < 100)
module;
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>
export module keel.orm:conflict;
import keel.engine;
import :column;
import :expression;
import :query_support;
import :sql_writer;
import :table;
import :update;

export namespace keel {

/// The row an insert proposed, as a table of its own: only ON CONFLICT ... DO UPDATE may read it.
template <class T>
struct ExcludedRow {};

/// A column of the row that an insert proposed, in ON CONFLICT ... DO UPDATE: keel::excluded<&Band::name>.
template <auto Member>
struct ExcludedColumn : ExpressionOps<ExcludedColumn<Member>> {
  using keel_expression_tag = void;
  using column = member_column<Member>;
  using value_type = typename column::traits::value_type;
  static constexpr bool nullable = column::traits::nullable;
  using tables = type_list<ExcludedRow<typename column::table>>;
  static constexpr TextShape shape{};
  /// Writes excluded."name".
  void write(SqlWriter& w) const {
    w.sql("excluded.");
    w.identifier(column::name);
  }
};

/// The value an insert proposed for a column, in ON CONFLICT ... DO UPDATE: keel::excluded<&Band::popularity>.
template <auto Member>
inline constexpr ExcludedColumn<Member> excluded{};

/// No ON CONFLICT clause: a row that breaks a unique constraint fails the insert.
struct NoConflict {
  static constexpr bool present = false;  ///< no clause
  static constexpr TextShape shape{};     ///< no text
  /// Writes nothing.
  void write(SqlWriter&) const {}
};

/// ON CONFLICT ... DO NOTHING: the row is skipped.
struct DoNothing {
  static constexpr bool updates = false;  ///< skips the row
  static constexpr TextShape shape{};     ///< no values
  /// Writes DO NOTHING.
  void write(SqlWriter& w) const { w.sql(" DO NOTHING"); }
};

/// ON CONFLICT ... DO UPDATE SET ... [WHERE ...]: the existing row is updated instead.
template <class Sets, class Where>
struct DoUpdate {
  static constexpr bool updates = true;  ///< updates the existing row
  static constexpr TextShape shape = tuple_shape_v<Sets> + Where::shape;
  Sets sets;    ///< the assignments, in order
  Where where;  ///< which existing rows are updated (NoWhere: all that conflict)
  /// Writes DO UPDATE SET a = ..., b = ... [WHERE ...], the stored row's columns qualified: bare, PostgreSQL
  /// would find them ambiguous with excluded's.
  void write(SqlWriter& w) const {
    w.sql(" DO UPDATE SET ");
    const bool qualify = w.qualify_columns();
    w.set_qualify_columns(true);
    write_expression_list(w, sets);
    write_where(w, where);
    w.set_qualify_columns(qualify);
  }
};

/// ON CONFLICT [(target columns)] followed by its action.
template <class Target, class Action>
struct OnConflict {
  static constexpr bool present = true;  ///< a clause
  static constexpr TextShape shape = Action::shape;
  Target target;  ///< a tuple of columns (ColumnRef), maybe empty
  Action action;  ///< DoNothing or DoUpdate
  /// Writes ON CONFLICT ("a", "b") and the action.
  void write(SqlWriter& w) const {
    w.sql(" ON CONFLICT");
    if constexpr (std::tuple_size_v<Target> > 0) {
      w.sql(" (");
      std::apply(
          [&](const auto&... column) {
            bool first = true;
            ((w.sql(first ? "" : ", "), w.identifier(std::remove_cvref_t<decltype(column)>::column::name),
              first = false),
             ...);
          },
          target);
      w.sql(")");
    }
    action.write(w);
  }
};

/// Whether an insert's Conflict is ON CONFLICT ... DO UPDATE, which takes set() and where().
template <class Conflict>
inline constexpr bool updates_on_conflict = false;
template <class Target, class Sets, class Where>
inline constexpr bool updates_on_conflict<OnConflict<Target, DoUpdate<Sets, Where>>> = true;

/// Whether an insert's Conflict is a DO UPDATE that sets nothing, which no database takes.
template <class Conflict>
inline constexpr bool updates_nothing_on_conflict = false;
template <class Target, class Where>
inline constexpr bool updates_nothing_on_conflict<OnConflict<Target, DoUpdate<std::tuple<>, Where>>> = true;

/// What on_conflict(...) gives: choose do_nothing() or do_update(...) to get the insert back.
template <class Insert, class Target>
class ConflictChoice {
public:
  /// The insert and the columns whose unique constraint (or index) the conflict is about.
  ConflictChoice(Insert insert, Target target) : insert_(std::move(insert)), target_(std::move(target)) {}

  /// Skip the rows that conflict: the insert counts (or returns) only the rows it inserted.
  auto do_nothing() const { return insert_.with_conflict(OnConflict<Target, DoNothing>{target_, {}}); }

  /// Update the existing row instead, setting each of `columns` to the value the insert proposed for it
  /// (excluded.<column>); add more with set(column, value) and a condition with where(...).
  template <class... C>
  auto do_update(const C&... columns) const {
    using T = typename Insert::table_type;
    static_assert(std::tuple_size_v<Target> > 0,
                  "keel: do_update() needs the conflicting columns: on_conflict(keel::c<&T::member>)");
    static_assert((requires { C::member; } && ...), "keel: do_update() takes columns, keel::c<&T::member>");
    auto sets = std::tuple(assignment<T, type_list<T, ExcludedRow<T>>>(columns, excluded<C::member>)...);
    return insert_.with_conflict(OnConflict<Target, DoUpdate<decltype(sets), NoWhere>>{target_, {sets, {}}});
  }

private:
  Insert insert_;
  Target target_;
};

}  // namespace keel
