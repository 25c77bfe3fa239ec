// Typed expressions. A column is named by its member pointer, keel::c<&Band::popularity>; expressions are
// built with C++ operators and methods, and their type says what they hold, whether they can be NULL, which
// tables they read, and what their SQL text depends on besides their type (TextShape): every operator,
// function and clause option is part of the type, so two expressions of one type always render one text:
//   c<&Band::popularity> > 1000 && c<&Band::name>.like("Py%")
// Mixing types that SQL would not compare (text with a number, say) is a compile error with one message.
module;
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>
export module keel.orm:expression;
import keel.engine;
import keel.reflection;
import :column;
import :sql_writer;
import :table;

export namespace keel {

/// An expression of the ORM: a column (keel::c<&T::m>), a bound value, or an operator, function or aggregate
/// over them. Its type says what it holds, whether it may be NULL, which tables it reads, and its TextShape.
template <class E>
concept Expression = requires { typename E::keel_expression_tag; };

// ---- Type lists of tables.
template <class... L>
struct concat;
template <>
struct concat<> {
  using type = type_list<>;
};
template <class... A>
struct concat<type_list<A...>> {
  using type = type_list<A...>;
};
template <class... A, class... B, class... Rest>
struct concat<type_list<A...>, type_list<B...>, Rest...> {
  using type = typename concat<type_list<A..., B...>, Rest...>::type;
};
template <class... L>
using concat_t = typename concat<L...>::type;

template <class Sub, class Super>
struct is_subset;
template <class... S, class Super>
struct is_subset<type_list<S...>, Super> : std::bool_constant<(list_contains<S, Super>::value && ...)> {};
template <class Sub, class Super>
inline constexpr bool is_subset_v = is_subset<Sub, Super>::value;

// ---- Tables of the query around a subquery. keel::outer(e) lists e's tables as OuterTable<T>: the subquery
// it stands in does not read them, the query around it must. One OuterTable is taken off per subquery level.
template <class T>
struct OuterTable {};

template <class T>
struct split_table {
  using own = type_list<T>;
  using outer = type_list<>;
};
template <class T>
struct split_table<OuterTable<T>> {
  using own = type_list<>;
  using outer = type_list<T>;
};
template <class List>
struct split_tables;
template <class... T>
struct split_tables<type_list<T...>> {
  using own = concat_t<typename split_table<T>::own...>;
  using outer = concat_t<typename split_table<T>::outer...>;
  using marked = type_list<OuterTable<T>...>;
};
// A table with every keel::outer mark taken off: the table a column names, however many levels out.
template <class T>
struct strip_outer {
  using type = T;
};
template <class T>
struct strip_outer<OuterTable<T>> : strip_outer<T> {};
template <class List>
struct strip_all_outer;
template <class... T>
struct strip_all_outer<type_list<T...>> {
  using type = type_list<typename strip_outer<T>::type...>;
};

/// The tables of a list that the query itself must read: those not marked by keel::outer.
template <class List>
using own_tables_t = typename split_tables<List>::own;
/// The tables of a list that the query around must read, one keel::outer level taken off.
template <class List>
using outer_tables_t = typename split_tables<List>::outer;

template <class List>
struct first_of;
template <class First, class... Rest>
struct first_of<type_list<First, Rest...>> {
  using type = First;
};

// ---- The C++ value type a bound argument stands for.
template <class T>
struct argument_traits {
  using U = std::remove_cvref_t<T>;
  static constexpr bool nullable = false;
  using value_type = decltype([] {
    if constexpr (std::same_as<U, std::nullptr_t> || std::same_as<U, std::nullopt_t>)
      return nullptr;
    else if constexpr (std::same_as<U, bool>)
      return bool{};
    else if constexpr (std::integral<U>)
      return std::int64_t{};
    else if constexpr (std::floating_point<U>)
      return double{};
    else if constexpr (std::same_as<U, Blob>)
      return Blob{};
    else if constexpr (std::convertible_to<const U&, std::string_view>)
      return std::string{};
    else if constexpr (TypedColumnValue<U> || ArrayColumnValue<U> || LabelledEnum<U>)
      return U{};
    else
      return nullptr;
  }());
};
template <class T, class... O>
struct argument_traits<Column<T, O...>> : argument_traits<T> {};
template <class T, class... O>
struct argument_traits<ForeignKey<T, O...>> : argument_traits<std::int64_t> {};
template <class T>
struct argument_traits<std::optional<T>> : argument_traits<T> {
  static constexpr bool nullable = true;
};

template <class T>
Value argument_value(const T& v) {
  if constexpr (is_optional_v<T>) {
    if (!v) return Value();
    return argument_value(*v);
  } else if constexpr (is_column_wrapper<T>::value || is_foreign_key<T>::value) {
    return Value(v.value);
  } else if constexpr (std::same_as<T, Blob> || std::same_as<T, bool> || std::integral<T> || std::floating_point<T> ||
                       TypedColumnValue<T> || ArrayColumnValue<T> || LabelledEnum<T>) {
    return Value(v);
  } else {
    return Value(std::string_view(v));
  }
}

template <class T>
inline constexpr SqlCategory category_v = category_of<T>();

constexpr bool is_numeric(SqlCategory c) { return c == SqlCategory::integer || c == SqlCategory::real; }
// A value of category b may be stored in a column of category a.
constexpr bool assignable(SqlCategory a, SqlCategory b) { return a == b || (is_numeric(a) && is_numeric(b)); }
// JSON has no comparison that means the same everywhere: PostgreSQL's json has no = at all, and jsonb's
// equality is not SQLite's equality of texts.
constexpr bool comparable(SqlCategory a, SqlCategory b) {
  return assignable(a, b) && a != SqlCategory::json && a != SqlCategory::array;
}

// Each enum is an SQL type of its own: an enum meets only values of the same enum (PostgreSQL has no = between
// two enum types, nor between an enum and text), and the category alone cannot tell two enums apart.
template <class A, class B>
inline constexpr bool same_enum_if_any =
    (category_v<A> != SqlCategory::enumeration && category_v<B> != SqlCategory::enumeration) || std::same_as<A, B>;

template <class E, bool Descending>
struct Ordering;
enum class LikeMode { like, not_like, ilike, not_ilike };
template <class E, LikeMode Mode>
struct Like;
template <class E, bool Negate>
struct InList;
template <class E, bool Negate>
struct IsNull;

/// A query that can stand inside another as a subquery (a select): in(subquery), keel::scalar, keel::exists.
template <class S>
concept Subquery = requires { typename S::keel_subquery_tag; };

/// An aggregate: count, sum, avg, min, max, count(*).
template <class T>
concept AggregateExpression = requires { typename T::keel_aggregate_tag; };

/// Whether an expression holds an aggregate anywhere in its tree, which makes its select aggregate rows (and so
/// lock none): an aggregate does, and a node over operands says whether one of them does in its `aggregates`,
/// beside its `tables`. A leaf holds none, nor does a subquery: its aggregates are of its own rows. (SQL counts an
/// aggregate of outer columns only, max(keel::outer(c)), as the outer query's; that one is not seen here.)
template <class E>
inline constexpr bool contains_aggregate_v = AggregateExpression<E> || requires { requires E::aggregates; };

// ---- Methods every expression has.
/// The methods every expression has: LIKE, IN, IS NULL and sort order.
template <class Derived>
struct ExpressionOps {
  /// LIKE `pattern`, case-sensitive on every engine (SQLite runs GLOB with the pattern translated); text only.
  template <class S>
  auto like(S&& pattern) const {
    return make_like<LikeMode::like>(std::forward<S>(pattern));
  }
  /// NOT LIKE `pattern`, case-sensitive as like() is.
  template <class S>
  auto not_like(S&& pattern) const {
    return make_like<LikeMode::not_like>(std::forward<S>(pattern));
  }
  /// Case-insensitive LIKE: ILIKE on PostgreSQL, LIKE on SQLite (which folds ASCII letters only).
  template <class S>
  auto ilike(S&& pattern) const {
    return make_like<LikeMode::ilike>(std::forward<S>(pattern));
  }
  /// NOT ILIKE `pattern`: the negation of ilike().
  template <class S>
  auto not_ilike(S&& pattern) const {
    return make_like<LikeMode::not_ilike>(std::forward<S>(pattern));
  }

  /// IN (values...): one bound value per element of the range, so the text depends on their count.
  template <class Range>
  auto in(const Range& values) const {
    return make_in<false>(values);
  }
  /// in() of a braced list.
  template <class V>
  auto in(std::initializer_list<V> values) const {
    return make_in<false>(values);
  }
  /// IN (subquery): a select of one column, which the database runs inside this statement.
  template <class Range>
    requires Subquery<Range>
  auto in(const Range& subquery) const {
    return in_subquery(self(), subquery, std::false_type{});  // found where the subquery nodes are (:subquery)
  }
  /// NOT IN (subquery).
  template <class Range>
    requires Subquery<Range>
  auto not_in(const Range& subquery) const {
    return in_subquery(self(), subquery, std::true_type{});
  }
  /// NOT IN (values...).
  template <class Range>
  auto not_in(const Range& values) const {
    return make_in<true>(values);
  }
  /// not_in() of a braced list.
  template <class V>
  auto not_in(std::initializer_list<V> values) const {
    return make_in<true>(values);
  }

  /// IS NULL.
  auto is_null() const { return IsNull<Derived, false>{{}, self()}; }
  /// IS NOT NULL.
  auto is_not_null() const { return IsNull<Derived, true>{{}, self()}; }

  /// Ascending, for order_by.
  auto asc() const { return Ordering<Derived, false>{self()}; }
  /// Descending, for order_by.
  auto desc() const { return Ordering<Derived, true>{self()}; }

private:
  const Derived& self() const { return static_cast<const Derived&>(*this); }

  template <LikeMode Mode, class S>
  auto make_like(S&& pattern) const {
    static_assert(category_v<typename Derived::value_type> == SqlCategory::text,
                  "keel: like, not_like, ilike and not_ilike apply to text");
    static_assert(std::convertible_to<S, std::string_view>, "keel: a LIKE pattern is text");
    return Like<Derived, Mode>{{}, self(), std::string(std::string_view(pattern))};
  }

  template <bool Negate, class Range>
  auto make_in(const Range& values) const {
    using Element = std::remove_cvref_t<std::ranges::range_value_t<Range>>;
    static_assert(
        comparable(category_v<typename Derived::value_type>, category_v<typename argument_traits<Element>::value_type>),
        "keel: the values of in() and not_in() must have the expression's SQL type");
    static_assert(same_enum_if_any<typename Derived::value_type, typename argument_traits<Element>::value_type>,
                  "keel: an enum column takes values of its own enum only");
    InList<Derived, Negate> node{{}, self(), {}};
    for (const auto& v : values) node.values.push_back(argument_value(Element(v)));
    return node;
  }
};

// ---- Leaves.

// A column of table Source: the member's own table, or an alias of it (keel::Alias).
template <auto Member, class Source = reflection::member_class_t<Member>>
struct ColumnRef : ExpressionOps<ColumnRef<Member, Source>> {
  static_assert(std::is_member_object_pointer_v<decltype(Member)>,
                "keel::c<...> takes a pointer to a data member of a table: keel::c<&Band::name>");
  static_assert(std::same_as<typename query_table<Source>::table, reflection::member_class_t<Member>>,
                "keel: an alias's columns are members of its table: keel::Alias<T, \"name\">::c<&T::member>");
  using keel_expression_tag = void;
  using column = member_column<Member>;
  using table = Source;  // the table as the query names it
  using value_type = typename column::traits::value_type;
  static constexpr bool nullable = column::traits::nullable;
  using tables = type_list<Source>;
  static constexpr TextShape shape{};
  static constexpr auto member = Member;

  void write(SqlWriter& w) const { w.column(query_table<Source>::name, column::name); }
};

/// A column of the query around a subquery, inside the subquery (a correlated subquery): the subquery need
/// not read its table, the query around it must.
template <class E>
struct Outer : ExpressionOps<Outer<E>> {
  using keel_expression_tag = void;
  using value_type = typename E::value_type;
  static constexpr bool nullable = E::nullable;
  using tables = typename split_tables<typename E::tables>::marked;
  static constexpr bool aggregates = contains_aggregate_v<E>;
  static constexpr TextShape shape = E::shape;
  E inner;  ///< the expression, written as it is
  /// Writes the expression, its columns named by their tables.
  void write(SqlWriter& w) const { inner.write(w); }
};

/// A column (or expression) of the query around a subquery, used inside the subquery, which the database
/// evaluates once per row of the outer query: the bands with a concert,
///   keel::select<Band>().where(keel::exists(keel::select(c<&Concert::id>)
///                                              .where(c<&Concert::band> == keel::outer(c<&Band::id>))))
/// Where both read the same table, give one of them an alias (keel::Alias). Two levels out: outer(outer(e)).
template <class E>
auto outer(const E& expression) {
  static_assert(Expression<E>, "keel::outer takes a column or an expression of the query around a subquery");
  return Outer<E>{{}, expression};
}

/// A column of a table, as an expression: keel::c<&Band::name>.
template <auto Member>
inline constexpr ColumnRef<Member> c{};

template <class T>
struct Argument : ExpressionOps<Argument<T>> {
  using keel_expression_tag = void;
  using keel_argument_tag = void;
  using value_type = typename argument_traits<T>::value_type;
  static constexpr bool nullable = argument_traits<T>::nullable;  // a std::optional, which may be empty
  using tables = type_list<>;
  static constexpr TextShape shape{};

  Value value;
  void write(SqlWriter& w) const { w.param(value); }
};

template <class T>
auto as_expression(const T& v) {
  if constexpr (Expression<T>) {
    return v;
  } else {
    static_assert(!std::same_as<typename argument_traits<T>::value_type, std::nullptr_t> ||
                      std::same_as<T, std::nullptr_t> || std::same_as<T, std::nullopt_t>,
                  "keel: this value cannot be bound as a SQL value (use bool, an integer, a floating-point number, "
                  "text, keel::Blob, or std::optional of one)");
    if constexpr (std::same_as<T, std::nullptr_t> || std::same_as<T, std::nullopt_t>) {
      return Argument<std::nullptr_t>{{}, Value()};
    } else {
      return Argument<T>{{}, argument_value(v)};
    }
  }
}
template <class T>
using expression_t = decltype(as_expression(std::declval<const T&>()));

// ---- Operators. Each is its own type, so that the text of a query type never depends on which was used.

enum class BinaryOp { eq, ne, lt, le, gt, ge, logical_and, logical_or, add, sub, mul, div, mod };

constexpr std::string_view sql_symbol(BinaryOp op) {
  switch (op) {
    case BinaryOp::eq: return "=";
    case BinaryOp::ne: return "<>";
    case BinaryOp::lt: return "<";
    case BinaryOp::le: return "<=";
    case BinaryOp::gt: return ">";
    case BinaryOp::ge: return ">=";
    case BinaryOp::logical_and: return "AND";
    case BinaryOp::logical_or: return "OR";
    case BinaryOp::add: return "+";
    case BinaryOp::sub: return "-";
    case BinaryOp::mul: return "*";
    case BinaryOp::div: return "/";
    case BinaryOp::mod: return "%";
  }
  return "";
}
constexpr bool is_arithmetic(BinaryOp op) { return op >= BinaryOp::add; }

// A bound value that may be empty (a std::optional).
template <class E>
concept NullableArgument = requires { typename E::keel_argument_tag; } && E::nullable;

template <BinaryOp Op, class L, class R>
struct Binary : ExpressionOps<Binary<Op, L, R>> {
  using keel_expression_tag = void;
  using value_type = std::conditional_t<
      !is_arithmetic(Op), bool,
      std::conditional_t<std::integral<typename L::value_type> && std::integral<typename R::value_type>, std::int64_t,
                         double>>;
  static constexpr bool nullable = L::nullable || R::nullable;
  using tables = concat_t<typename L::tables, typename R::tables>;
  static constexpr bool aggregates = contains_aggregate_v<L> || contains_aggregate_v<R>;
  // = and <> with an optional that is empty mean IS NULL and IS NOT NULL (as Piccolo's == None): `= NULL`
  // would match no row. Which of the two texts runs is chosen per run, and the text is cached by the choice.
  static constexpr bool null_aware =
      (Op == BinaryOp::eq || Op == BinaryOp::ne) && (NullableArgument<L> || NullableArgument<R>);
  static constexpr TextShape shape = L::shape + R::shape + TextShape{true, null_aware ? 1u : 0u};

  L left;
  R right;

  void write(SqlWriter& w) const {
    if constexpr (null_aware) {
      if (w.choose(compares_with_null())) {
        w.sql("(");
        if constexpr (NullableArgument<R>)
          left.write(w);
        else
          right.write(w);
        w.sql(Op == BinaryOp::eq ? " IS NULL)" : " IS NOT NULL)");
        return;
      }
    }
    w.sql("(");
    left.write(w);
    w.sql(" ");
    w.sql(sql_symbol(Op));
    w.sql(" ");
    right.write(w);
    w.sql(")");
  }

private:
  bool compares_with_null() const {
    if constexpr (NullableArgument<R>)
      return right.value.is_null();
    else
      return left.value.is_null();
  }
};

template <class E>
struct Not : ExpressionOps<Not<E>> {
  using keel_expression_tag = void;
  using value_type = bool;
  static constexpr bool nullable = E::nullable;
  using tables = typename E::tables;
  static constexpr bool aggregates = contains_aggregate_v<E>;
  static constexpr TextShape shape = E::shape;
  E operand;
  void write(SqlWriter& w) const {
    w.sql("(NOT ");
    operand.write(w);
    w.sql(")");
  }
};

template <BinaryOp Op, class L, class R>
auto make_comparison(const L& l, const R& r) {
  using LE = expression_t<L>;
  using RE = expression_t<R>;
  constexpr SqlCategory a = category_v<typename LE::value_type>;
  constexpr SqlCategory b = category_v<typename RE::value_type>;
  static_assert(a != SqlCategory::null && b != SqlCategory::null,
                "keel: compare with NULL through .is_null() or .is_not_null(), not with an operator");
  static_assert(a != SqlCategory::json && b != SqlCategory::json,
                "keel: JSON values cannot be compared with an operator; use raw SQL for JSON's operators");
  static_assert(a != SqlCategory::array && b != SqlCategory::array,
                "keel: arrays cannot be compared with an operator; use raw SQL for an engine's array operators");
  static_assert(!((a == SqlCategory::text && is_numeric(b)) || (is_numeric(a) && b == SqlCategory::text)),
                "keel: cannot compare text with a number");
  static_assert(a == SqlCategory::null || b == SqlCategory::null || comparable(a, b) ||
                    (a == SqlCategory::text && is_numeric(b)) || (is_numeric(a) && b == SqlCategory::text),
                "keel: the two sides of this comparison have SQL types that cannot be compared");
  static_assert(same_enum_if_any<typename LE::value_type, typename RE::value_type>,
                "keel: an enum column takes values of its own enum only");
  return Binary<Op, LE, RE>{{}, as_expression(l), as_expression(r)};
}

template <BinaryOp Op, class L, class R>
auto make_arithmetic(const L& l, const R& r) {
  using LE = expression_t<L>;
  using RE = expression_t<R>;
  static_assert(is_numeric(category_v<typename LE::value_type>) && is_numeric(category_v<typename RE::value_type>),
                "keel: arithmetic takes numbers on both sides");
  return Binary<Op, LE, RE>{{}, as_expression(l), as_expression(r)};
}

template <BinaryOp Op, class L, class R>
auto make_logic(const L& l, const R& r) {
  using LE = expression_t<L>;
  using RE = expression_t<R>;
  static_assert(category_v<typename LE::value_type> == SqlCategory::boolean &&
                    category_v<typename RE::value_type> == SqlCategory::boolean,
                "keel: && and || join conditions (boolean expressions)");
  return Binary<Op, LE, RE>{{}, as_expression(l), as_expression(r)};
}

template <class L, class R>
concept AnExpressionSide = Expression<L> || Expression<R>;

/// SQL `=`; with an empty std::optional, IS NULL. Comparing text with a number does not compile.
template <class L, class R>
  requires AnExpressionSide<L, R>
auto operator==(const L& l, const R& r) {
  return make_comparison<BinaryOp::eq>(l, r);
}
/// SQL `<>`; with an empty std::optional, IS NOT NULL.
template <class L, class R>
  requires AnExpressionSide<L, R>
auto operator!=(const L& l, const R& r) {
  return make_comparison<BinaryOp::ne>(l, r);
}
/// SQL `<`.
template <class L, class R>
  requires AnExpressionSide<L, R>
auto operator<(const L& l, const R& r) {
  return make_comparison<BinaryOp::lt>(l, r);
}
/// SQL `<=`.
template <class L, class R>
  requires AnExpressionSide<L, R>
auto operator<=(const L& l, const R& r) {
  return make_comparison<BinaryOp::le>(l, r);
}
/// SQL `>`.
template <class L, class R>
  requires AnExpressionSide<L, R>
auto operator>(const L& l, const R& r) {
  return make_comparison<BinaryOp::gt>(l, r);
}
/// SQL `>=`.
template <class L, class R>
  requires AnExpressionSide<L, R>
auto operator>=(const L& l, const R& r) {
  return make_comparison<BinaryOp::ge>(l, r);
}
/// SQL AND of two conditions.
template <class L, class R>
  requires AnExpressionSide<L, R>
auto operator&&(const L& l, const R& r) {
  return make_logic<BinaryOp::logical_and>(l, r);
}
/// SQL OR of two conditions.
template <class L, class R>
  requires AnExpressionSide<L, R>
auto operator||(const L& l, const R& r) {
  return make_logic<BinaryOp::logical_or>(l, r);
}
/// SQL NOT of a condition.
template <Expression E>
auto operator!(const E& e) {
  static_assert(category_v<typename E::value_type> == SqlCategory::boolean, "keel: ! negates a condition");
  return Not<E>{{}, e};
}
/// SQL `+` of numbers.
template <class L, class R>
  requires AnExpressionSide<L, R>
auto operator+(const L& l, const R& r) {
  return make_arithmetic<BinaryOp::add>(l, r);
}
/// SQL `-` of numbers.
template <class L, class R>
  requires AnExpressionSide<L, R>
auto operator-(const L& l, const R& r) {
  return make_arithmetic<BinaryOp::sub>(l, r);
}
/// SQL `*` of numbers.
template <class L, class R>
  requires AnExpressionSide<L, R>
auto operator*(const L& l, const R& r) {
  return make_arithmetic<BinaryOp::mul>(l, r);
}
/// SQL `/` of numbers.
template <class L, class R>
  requires AnExpressionSide<L, R>
auto operator/(const L& l, const R& r) {
  return make_arithmetic<BinaryOp::div>(l, r);
}
/// SQL `%` of integers.
template <class L, class R>
  requires AnExpressionSide<L, R>
auto operator%(const L& l, const R& r) {
  using LE = expression_t<L>;
  using RE = expression_t<R>;
  static_assert(category_v<typename LE::value_type> == SqlCategory::integer &&
                    category_v<typename RE::value_type> == SqlCategory::integer,
                "keel: % takes integers on both sides");
  return Binary<BinaryOp::mod, LE, RE>{{}, as_expression(l), as_expression(r)};
}

// ---- LIKE, IN, IS NULL.

// PostgreSQL's LIKE is case-sensitive and SQLite's is not; SQLite's GLOB is case-sensitive, so `like` becomes
// GLOB there, with the pattern translated: % -> *, _ -> ?, \x -> x, and GLOB's own * ? [ made literal.
std::string like_pattern_to_glob(std::string_view pattern) {
  std::string glob;
  glob.reserve(pattern.size() + 4);
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    char ch = pattern[i];
    bool literal = false;
    if (ch == '\\' && i + 1 < pattern.size()) {
      ch = pattern[++i];
      literal = true;
    }
    if (!literal && ch == '%')
      glob += '*';
    else if (!literal && ch == '_')
      glob += '?';
    else if (ch == '*' || ch == '?' || ch == '[') {
      glob += '[';
      glob += ch;
      glob += ']';
    } else
      glob += ch;
  }
  return glob;
}

template <class E, LikeMode Mode>
struct Like : ExpressionOps<Like<E, Mode>> {
  using keel_expression_tag = void;
  using value_type = bool;
  static constexpr bool nullable = E::nullable;
  using tables = typename E::tables;
  static constexpr bool aggregates = contains_aggregate_v<E>;
  static constexpr TextShape shape = E::shape;
  E operand;
  std::string pattern;

  void write(SqlWriter& w) const {
    constexpr bool negate = Mode == LikeMode::not_like || Mode == LikeMode::not_ilike;
    constexpr bool case_insensitive = Mode == LikeMode::ilike || Mode == LikeMode::not_ilike;
    w.sql("(");
    operand.write(w);
    if (w.dialect()->pattern_matching == PatternMatching::like_and_ilike) {
      w.sql(negate ? " NOT" : "");
      w.sql(case_insensitive ? " ILIKE " : " LIKE ");
      w.param(pattern);
    } else if (case_insensitive) {
      w.sql(negate ? " NOT LIKE " : " LIKE ");
      w.param(pattern);
      w.sql(" ESCAPE '\\'");
    } else {
      w.sql(negate ? " NOT GLOB " : " GLOB ");
      w.param(like_pattern_to_glob(pattern));
    }
    w.sql(")");
  }
};

template <class E, bool Negate>
struct InList : ExpressionOps<InList<E, Negate>> {
  using keel_expression_tag = void;
  using value_type = bool;
  static constexpr bool nullable = E::nullable;
  using tables = typename E::tables;
  static constexpr bool aggregates = contains_aggregate_v<E>;
  static constexpr TextShape shape = E::shape + TextShape{.fixed = false};  // a placeholder per value
  E operand;
  std::vector<Value> values;

  void write(SqlWriter& w) const {
    if (values.empty()) {  // x IN () is not SQL; it is false (and NOT IN () true) for every x
      w.sql(Negate ? "(1 = 1)" : "(1 = 0)");
      return;
    }
    w.sql("(");
    operand.write(w);
    w.sql(Negate ? " NOT IN (" : " IN (");
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i) w.sql(", ");
      w.param(values[i]);
    }
    w.sql("))");
  }
};

template <class E, bool Negate>
struct IsNull : ExpressionOps<IsNull<E, Negate>> {
  using keel_expression_tag = void;
  using value_type = bool;
  static constexpr bool nullable = false;
  using tables = typename E::tables;
  static constexpr bool aggregates = contains_aggregate_v<E>;
  static constexpr TextShape shape = E::shape;
  E operand;
  void write(SqlWriter& w) const {
    w.sql("(");
    operand.write(w);
    w.sql(Negate ? " IS NOT NULL)" : " IS NULL)");
  }
};

// ---- Sort order.
template <class E, bool Descending>
struct Ordering {
  using keel_ordering_tag = void;
  using tables = typename E::tables;
  static constexpr TextShape shape = E::shape;
  E operand;
  void write(SqlWriter& w) const {
    operand.write(w);
    w.sql(Descending ? " DESC" : " ASC");
  }
};

template <class T>
concept OrderingTerm = requires { typename T::keel_ordering_tag; };

template <class T>
auto as_ordering(const T& term) {
  if constexpr (OrderingTerm<T>)
    return term;
  else {
    static_assert(Expression<T>, "keel: order_by takes columns, expressions, or their .asc() / .desc()");
    return Ordering<T, false>{term};
  }
}

// ---- Aggregates.
enum class AggregateKind { count, sum, avg, min, max };

template <AggregateKind Kind, class E>
struct aggregate_value_type {
  using type = typename E::value_type;
};
template <class E>
struct aggregate_value_type<AggregateKind::count, E> {
  using type = std::int64_t;
};
template <class E>
struct aggregate_value_type<AggregateKind::sum, E> {
  using type = std::conditional_t<std::integral<typename E::value_type>, std::int64_t, double>;
};
template <class E>
struct aggregate_value_type<AggregateKind::avg, E> {
  using type = double;
};

struct CountAll;

template <AggregateKind Kind, class E>
struct Aggregate : ExpressionOps<Aggregate<Kind, E>> {
  using keel_expression_tag = void;
  using keel_aggregate_tag = void;
  using value_type = typename aggregate_value_type<Kind, E>::type;
  static constexpr bool nullable = Kind != AggregateKind::count;  // over no rows, only count is not NULL
  using tables = typename E::tables;
  static constexpr TextShape shape = E::shape;
  E operand;

  void write(SqlWriter& w) const {
    // Where the database's sum of integers or its avg is not the type the query promises (PostgreSQL gives
    // numeric), cast it to the type the dialect names.
    std::string_view cast_to;
    if constexpr (Kind == AggregateKind::sum && std::integral<typename E::value_type>)
      cast_to = w.dialect()->integer_sum_type;
    if constexpr (Kind == AggregateKind::avg) cast_to = w.dialect()->average_type;
    if (!cast_to.empty()) w.sql("CAST(");
    w.sql(name());
    w.sql("(");
    operand.write(w);
    w.sql(")");
    if (!cast_to.empty()) {
      w.sql(" AS ");
      w.sql(cast_to);
      w.sql(")");
    }
  }
  static constexpr std::string_view name() {
    switch (Kind) {
      case AggregateKind::count: return "count";
      case AggregateKind::sum: return "sum";
      case AggregateKind::avg: return "avg";
      case AggregateKind::min: return "min";
      case AggregateKind::max: return "max";
    }
    return "";
  }
};

/// Whether an expression is never NULL, whatever it reads: a count, even of the nullable side of an outer join.
template <class E>
inline constexpr bool never_null = false;
template <class E>
inline constexpr bool never_null<Aggregate<AggregateKind::count, E>> = true;

// count(*): keel::count_all()
struct CountAll : ExpressionOps<CountAll> {
  using keel_expression_tag = void;
  using keel_aggregate_tag = void;
  using value_type = std::int64_t;
  static constexpr bool nullable = false;
  using tables = type_list<>;
  static constexpr TextShape shape{};
  void write(SqlWriter& w) const { w.sql("count(*)"); }
};

/// count(*): the number of rows.
inline CountAll count_all() { return {}; }
/// count(e): the number of rows where `e` is not NULL.
template <Expression E>
auto count(const E& e) {
  return Aggregate<AggregateKind::count, E>{{}, e};
}
/// sum(e) of numbers: int64 for integers (cast so on PostgreSQL), double otherwise; NULL over no rows.
template <Expression E>
auto sum(const E& e) {
  static_assert(is_numeric(category_v<typename E::value_type>), "keel::sum takes a number");
  return Aggregate<AggregateKind::sum, E>{{}, e};
}
/// avg(e) of numbers, as a double; NULL over no rows.
template <Expression E>
auto avg(const E& e) {
  static_assert(is_numeric(category_v<typename E::value_type>), "keel::avg takes a number");
  return Aggregate<AggregateKind::avg, E>{{}, e};
}
/// min(e); NULL over no rows.
template <Expression E>
auto min(const E& e) {
  return Aggregate<AggregateKind::min, E>{{}, e};
}
/// max(e); NULL over no rows.
template <Expression E>
auto max(const E& e) {
  return Aggregate<AggregateKind::max, E>{{}, e};
}

}  // namespace keel
