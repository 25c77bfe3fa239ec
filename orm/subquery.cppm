// Subqueries: a select inside another query, run by the database as part of the same statement.
//   c<&Band::manager>.in(keel::select(c<&Manager::id>).where(c<&Manager::name>.like("G%")))
//   c<&Band::popularity> > keel::scalar(keel::select(keel::avg(c<&Band::popularity>)))
//   keel::exists(keel::select(c<&Concert::id>).where(c<&Concert::sold_out> == true))
// A correlated subquery reads the outer query's row through keel::outer(column); the outer query must read that
// table. Its values are bound where its text stands.
module;
#include <cstddef>
#include <optional>
#include <type_traits>
export module keel.orm:subquery;
import keel.engine;
import :column;
import :expression;
import :sql_writer;

namespace keel {

template <class T>
struct without_optional {
  using type = T;
};
template <class T>
struct without_optional<std::optional<T>> {
  using type = T;
};

// Writes a subquery in parentheses, keeping the outer statement's choice of qualified or bare columns.
template <class Sub>
void write_subquery(SqlWriter& w, const Sub& subquery) {
  const bool qualify = w.qualify_columns();
  w.sql("(");
  subquery.write(w);
  w.sql(")");
  w.set_qualify_columns(qualify);
}

// The checks every subquery passes, each with its own message.
template <class Sub>
consteval void check_subquery() {
  static_assert(Sub::complete,
                "keel: the subquery selects a column of a table that is not in it; join that table inside it");
  static_assert(!Sub::shadows_outer,
                "keel: the subquery reads a table that keel::outer(...) names in the query around it, so the outer "
                "column would read the subquery's row; select from an alias inside (keel::Alias<T, \"name\">)");
  static_assert(Sub::read_only,
                "keel: a select that locks its rows (for_update(), for_share()) cannot be a subquery; lock the rows "
                "in the outer query, or run the locking select first");
}
template <class Sub>
consteval void check_one_column() {
  check_subquery<Sub>();
  static_assert(Sub::width == 1, "keel: this subquery must select exactly one column");
}

}  // namespace keel

export namespace keel {

/// The SQL type of what a one-column subquery gives.
template <class Sub>
using subquery_value_t = typename without_optional<typename Sub::element_type>::type;

/// x IN (subquery), or NOT IN.
template <class E, class Sub, bool Negate>
struct InSubquery : ExpressionOps<InSubquery<E, Sub, Negate>> {
  using keel_expression_tag = void;
  using value_type = bool;
  static constexpr bool nullable = true;  // NOT IN over a subquery with a NULL is unknown
  using tables = concat_t<typename E::tables, typename Sub::outer_tables>;
  static constexpr bool aggregates = contains_aggregate_v<E>;  // the subquery's own aggregates are of its rows
  static constexpr TextShape shape = E::shape + Sub::shape;
  E operand;     ///< the left side
  Sub subquery;  ///< a select of one column
  /// Writes (x IN (SELECT ...)).
  void write(SqlWriter& w) const {
    w.sql("(");
    operand.write(w);
    w.sql(Negate ? " NOT IN " : " IN ");
    write_subquery(w, subquery);
    w.sql(")");
  }
};

/// expression.in(subquery) and not_in(subquery) (see ExpressionOps).
template <class E, class Sub, bool Negate>
auto in_subquery(const E& operand, const Sub& subquery, std::bool_constant<Negate>) {
  check_one_column<Sub>();
  static_assert(comparable(category_v<typename E::value_type>, category_v<subquery_value_t<Sub>>),
                "keel: in() compares with a subquery of another SQL type");
  static_assert(same_enum_if_any<typename E::value_type, subquery_value_t<Sub>>,
                "keel: an enum column takes values of its own enum only");
  return InSubquery<E, Sub, Negate>{{}, operand, subquery};
}

/// A subquery of one column and at most one row, as a value: (SELECT ...). NULL when it finds no row.
template <class Sub>
struct ScalarSubquery : ExpressionOps<ScalarSubquery<Sub>> {
  using keel_expression_tag = void;
  using value_type = subquery_value_t<Sub>;
  static constexpr bool nullable = true;  // no row gives NULL
  using tables = typename Sub::outer_tables;
  static constexpr TextShape shape = Sub::shape;
  Sub subquery;  ///< a select of one column
  /// Writes (SELECT ...).
  void write(SqlWriter& w) const { write_subquery(w, subquery); }
};

/// A subquery of one column and at most one row as a value, to compare with or compute from:
/// c<&Band::popularity> > keel::scalar(keel::select(keel::avg(c<&Band::popularity>))). More than one row is
/// the database's error.
template <class Sub>
  requires Subquery<Sub>
auto scalar(const Sub& subquery) {
  check_one_column<Sub>();
  return ScalarSubquery<Sub>{{}, subquery};
}

/// EXISTS (subquery), or NOT EXISTS.
template <class Sub, bool Negate>
struct ExistsSubquery : ExpressionOps<ExistsSubquery<Sub, Negate>> {
  using keel_expression_tag = void;
  using value_type = bool;
  static constexpr bool nullable = false;
  using tables = typename Sub::outer_tables;
  static constexpr TextShape shape = Sub::shape;
  Sub subquery;  ///< any select
  /// Writes (EXISTS (SELECT ...)).
  void write(SqlWriter& w) const {
    w.sql(Negate ? "(NOT EXISTS " : "(EXISTS ");
    write_subquery(w, subquery);
    w.sql(")");
  }
};

/// EXISTS (subquery): whether the subquery finds a row.
template <class Sub>
  requires Subquery<Sub>
auto exists(const Sub& subquery) {
  check_subquery<Sub>();
  static_assert(!Sub::scalar,
                "keel: exists() of a count or an exists always finds its one row; pass the select itself");
  return ExistsSubquery<Sub, false>{{}, subquery};
}
/// NOT EXISTS (subquery).
template <class Sub>
  requires Subquery<Sub>
auto not_exists(const Sub& subquery) {
  check_subquery<Sub>();
  static_assert(!Sub::scalar,
                "keel: not_exists() of a count or an exists always finds its one row; pass the select itself");
  return ExistsSubquery<Sub, true>{{}, subquery};
}

}  // namespace keel
