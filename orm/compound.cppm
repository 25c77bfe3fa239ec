// UNION, UNION ALL, INTERSECT and EXCEPT of selects whose rows have the same column types: one statement, its
// values bound in order, its rows decoded as the first select's are. The combined rows sort by the columns they
// have (ORDER BY their positions, as both engines take it) and take LIMIT and OFFSET.
//   keel::union_all(keel::select(c<&Band::name>), keel::select(c<&Manager::name>))
//       .order_by(c<&Band::name>).limit(10)                                           -> std::vector<std::string>
module;
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
export module keel.orm:compound;
import keel.engine;
import :column;
import :expression;
import :query_support;
import :projection;
import :select;
import :sql_writer;
import :table;
import :text_cache;

export namespace keel {

/// How a compound select combines its parts' rows.
enum class SetOperation {
  union_distinct,  ///< UNION: the rows of any part, each once
  union_all,       ///< UNION ALL: the rows of every part, repeats kept
  intersect,       ///< INTERSECT: the rows every part has, each once
  except,          ///< EXCEPT: the first part's rows that no later part has, each once
};

// The element a row of two parts decodes into: their common type, std::optional where either may be NULL.
// None (no `type`) when their columns differ in number or type.
template <class A, class B>
struct common_element {};
template <class A>
struct common_element<A, A> {
  using type = A;
};
template <class A>
struct common_element<std::optional<A>, A> {
  using type = std::optional<A>;
};
template <class A>
struct common_element<A, std::optional<A>> {
  using type = std::optional<A>;
};
template <class... A, class... B>
  requires(sizeof...(A) == sizeof...(B) && !std::same_as<std::tuple<A...>, std::tuple<B...>> &&
           (requires { typename common_element<A, B>::type; } && ...))
struct common_element<std::tuple<A...>, std::tuple<B...>> {
  using type = std::tuple<typename common_element<A, B>::type...>;
};

template <class... E>
struct common_element_of {};
template <class E>
struct common_element_of<E> {
  using type = E;
};
template <class First, class Second, class... Rest>
  requires requires { typename common_element<First, Second>::type; }
struct common_element_of<First, Second, Rest...>
    : common_element_of<typename common_element<First, Second>::type, Rest...> {};

// The 1-based position of expression E among what Projection selects; 0 when it selects no such column.
template <class Projection, class E>
inline constexpr std::size_t position_in = 0;
template <class S, auto Member>
inline constexpr std::size_t position_in<WholeRows<S>, ColumnRef<Member, S>> = member_column<Member>::index + 1;
template <class T, class P, class X>
inline constexpr std::size_t position_in<Into<T, P>, X> = position_in<P, X>;
template <class... E, class X>
inline constexpr std::size_t position_in<Columns<E...>, X> = [] {
  std::size_t position = 0, index = 0;
  ((++index, position = position == 0 && std::same_as<E, X> ? index : position), ...);
  return position;
}();

// A term of the combined rows' ORDER BY: a column of the first part, written as its position.
template <std::size_t Position, bool Descending>
struct PositionOrdering {
  static constexpr TextShape shape{};
  void write(SqlWriter& w) const {
    w.sql(std::to_string(Position));
    w.sql(Descending ? " DESC" : " ASC");
  }
};

template <SetOperation Op, class Parts, class Order, SelectFlags Flags>
class Compound;

/// Selects combined by one set operation (see keel::union_all). Build it up with order_by, limit, offset and
/// first; run it as a select.
template <SetOperation Op, class... S, class Order, SelectFlags Flags>
class Compound<Op, std::tuple<S...>, Order, Flags> : public Runnable<Compound<Op, std::tuple<S...>, Order, Flags>> {
  using First = std::tuple_element_t<0, std::tuple<S...>>;
  static_assert(
      requires { typename common_element_of<typename S::element_type...>::type; },
      "keel: the selects of a union, intersect or except must have the same number of columns, of the "
      "same types (a NOT NULL column and a nullable one combine into std::optional)");

public:
  /// What a row decodes into: the parts' common element.
  using element_type = typename common_element_of<typename S::element_type...>::type;
  /// A std::vector of elements, or a std::optional after first().
  using result_type = select_result_t<element_type, Flags.first>;
  static constexpr bool read_only = true;  ///< its batches run in a read-only transaction
  /// What its text depends on besides its type.
  static constexpr TextShape shape = shape_of<S...> + tuple_shape_v<Order>;

  /// The parts, combined; keel::union_all and its kin make one.
  explicit Compound(std::tuple<S...> parts, Order order = {}, std::int64_t limit = 0, std::int64_t offset = 0)
      : parts_(std::move(parts)), order_(std::move(order)), limit_(limit), offset_(offset) {}

  /// Sorts the combined rows by columns the first select lists (as themselves, not as expressions of
  /// them), ascending unless given as .desc().
  template <class... Terms>
  auto order_by(const Terms&... terms) const {
    auto order = std::tuple_cat(order_, std::tuple(position_of(as_ordering(terms))...));
    return Compound<Op, std::tuple<S...>, decltype(order), Flags>(parts_, order, limit_, offset_);
  }
  /// LIMIT `count` of the combined rows, bound as a value.
  auto limit(std::int64_t count) const {
    static_assert(!Flags.first, "keel: first() already limits the query to one row; call limit() before first()");
    constexpr SelectFlags flags = with_flags<Flags>([](SelectFlags& f) { f.limit = true; });
    return Compound<Op, std::tuple<S...>, Order, flags>(parts_, order_, count, offset_);
  }
  /// OFFSET: skips `count` of the combined rows, bound as a value.
  auto offset(std::int64_t count) const {
    constexpr SelectFlags flags = with_flags<Flags>([](SelectFlags& f) { f.offset = true; });
    return Compound<Op, std::tuple<S...>, Order, flags>(parts_, order_, limit_, count);
  }
  /// The first combined row, or std::nullopt: LIMIT 1.
  auto first() const {
    constexpr SelectFlags flags = with_flags<Flags>([](SelectFlags& f) { f.limit = f.first = true; });
    return Compound<Op, std::tuple<S...>, Order, flags>(parts_, order_, 1, offset_);
  }

  /// The statement in `dialect`; its text is rendered once per shape and dialect, and shared.
  Statement statement(Dialect dialect) const { return make_statement(*this, dialect); }
  /// Decodes the rows as the first select's are.
  auto collector() const { return SelectCollector<First::decodes_members, element_type, Flags.first>(); }

  /// Writes the SQL text and binds the values.
  void write(SqlWriter& w) const {
    std::apply(
        [&](const auto&... part) {
          bool first = true;
          ((w.sql(first ? "" : operation()), part.write(w), first = false), ...);
        },
        parts_);
    if constexpr (std::tuple_size_v<Order> > 0) {
      w.sql(" ORDER BY ");
      write_expression_list(w, order_);
    }
    write_limit_and_offset<Flags>(w, limit_, offset_);
  }

private:
  static constexpr std::string_view operation() {
    switch (Op) {
      case SetOperation::union_distinct: return " UNION ";
      case SetOperation::union_all: return " UNION ALL ";
      case SetOperation::intersect: return " INTERSECT ";
      case SetOperation::except: return " EXCEPT ";
    }
    return "";
  }
  template <class E, bool Descending>
  static auto position_of(const Ordering<E, Descending>&) {
    constexpr std::size_t position = position_in<typename First::projection_type, E>;
    static_assert(
        position > 0,
        "keel: a union, intersect or except sorts by the columns its first select lists: order_by one of them");
    return PositionOrdering<position, Descending>{};
  }

  std::tuple<S...> parts_;
  Order order_;
  std::int64_t limit_ = 0;
  std::int64_t offset_ = 0;
};

template <SetOperation Op, class... S>
auto combine(const S&... parts) {
  static_assert(sizeof...(S) >= 2, "keel: a union, intersect or except combines two selects or more");
  static_assert((is_select<S>::value && ...), "keel: a union, intersect or except combines selects: keel::select(...)");
  static_assert((!S::scalar && ...), "keel: count<T>() and exists<T>() give one value: they are no part of a union");
  static_assert((S::complete && ...),
                "keel: a select of the union selects a column of a table that is not in it; join that table");
  static_assert((std::same_as<typename S::outer_tables, type_list<>> && ...),
                "keel::outer(...) names a column of the query around a subquery; this union is not inside one");
  (S::check_decoding(), ...);  // into<T>() of each part, against its joins
  // into<keel::Json>() of a text column and a select of a keel::Json column (or so of keel::Numeric) have one
  // element type but not one SQL type, and the rows would decode as the first part's do. Other mixes of into<T>()
  // and none have no common element, which Compound refuses.
  constexpr bool one_element = requires { typename common_element_of<typename S::element_type...>::type; };
  static_assert(!one_element || (S::decodes_members && ...) || (!S::decodes_members && ...),
                "keel: a union, intersect or except takes into<T>() in every select or in none");
  // Rows of two structs have no common type, whichever columns fill them.
  using first_element = typename first_of<type_list<S...>>::type::element_type;
  static_assert(!(S::decodes_members && ...) || (std::same_as<typename S::element_type, first_element> && ...),
                "keel: the selects of a union, intersect or except decode into one struct (into<T>() of one T, or "
                "whole rows of one table)");
  static_assert((S::combinable && ...),
                "keel: the selects of a union, intersect or except have no order_by, limit, offset, first or row "
                "lock of their own: give those to the combined query");
  return Compound<Op, std::tuple<S...>, std::tuple<>, SelectFlags{}>(std::tuple(parts...));
}

/// UNION ALL: every row of every select, repeats kept (the other operations give each row once).
template <class... S>
auto union_all(const S&... selects) {
  return combine<SetOperation::union_all>(selects...);
}
/// UNION: the rows of any of the selects, each once.
template <class... S>
auto union_distinct(const S&... selects) {
  return combine<SetOperation::union_distinct>(selects...);
}
/// INTERSECT: the rows that every select gives, each once.
template <class... S>
auto intersect(const S&... selects) {
  return combine<SetOperation::intersect>(selects...);
}
/// EXCEPT: the rows of the first select that none of the others gives, each once.
template <class... S>
auto except(const S&... selects) {
  return combine<SetOperation::except>(selects...);
}

}  // namespace keel
