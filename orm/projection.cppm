// What a SELECT (or a RETURNING clause) lists, and the C++ rows it becomes: whole rows of a table, chosen
// expressions as tuples or values, or chosen expressions decoded into a struct; and the collector that decodes a
// statement's rows into them. Shared by select, union and RETURNING; nothing here is exported.
module;
#include <cstddef>
#include <limits>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>
export module keel.orm:projection;
import keel.engine;
import :column;
import :expression;
import :query_support;
import :sql_writer;
import :table;

namespace keel {

template <class S>
struct WholeRows {  // every column of table S (or of the table S aliases), decoded into that table's struct
  using tables = type_list<S>;
};
template <class... E>
struct Columns {  // chosen expressions, decoded into a tuple (or the value itself when there is one)
  using tables = concat_t<typename E::tables...>;
  std::tuple<E...> expressions;
};
template <class T, class P>
struct Into {  // chosen expressions (P: Columns<E...>), decoded member by member into struct T
  using tables = typename P::tables;
  decltype(P::expressions) expressions;
};
template <class P>
struct is_into : std::false_type {};
template <class T, class P>
struct is_into<Into<T, P>> : std::true_type {};
// The text shape of what a SELECT (or RETURNING) lists.
template <class P>
inline constexpr TextShape projection_shape{};
template <class... E>
inline constexpr TextShape projection_shape<Columns<E...>> = shape_of<E...>;
template <class T, class P>
inline constexpr TextShape projection_shape<Into<T, P>> = projection_shape<P>;

// The C++ type a selected expression decodes into: optional when it can be NULL, which includes every column
// of a LEFT JOINed table.
template <class E, class NullableTables>
struct decoded {
  template <class List>
  struct reads_nullable;
  template <class... T>
  struct reads_nullable<type_list<T...>> : std::bool_constant<(list_contains<T, NullableTables>::value || ...)> {};

  static constexpr bool nullable = E::nullable || (reads_nullable<typename E::tables>::value && !never_null<E>);
  using type = std::conditional_t<nullable, std::optional<typename E::value_type>, typename E::value_type>;
};

template <class Element, bool First>
using select_result_t = std::conditional_t<First, std::optional<Element>, std::vector<Element>>;

template <class Projection, class NullableTables>
struct projection_element;
template <class S, class N>
struct projection_element<WholeRows<S>, N> {
  using type = typename query_table<S>::table;
};
template <class E, class N>
struct projection_element<Columns<E>, N> {
  using type = typename decoded<E, N>::type;
};
template <class T, class P, class N>
struct projection_element<Into<T, P>, N> {
  using type = T;
};
template <class E1, class E2, class... E, class N>
struct projection_element<Columns<E1, E2, E...>, N> {
  using type =
      std::tuple<typename decoded<E1, N>::type, typename decoded<E2, N>::type, typename decoded<E, N>::type...>;
};

// Collects a statement's rows into the query's result: whole rows of table Element, or Element's columns. Keyed
// by the result alone, so that every query of one result type shares it, and the coroutine that runs it.
template <bool WholeRow, class Element, bool First>
class SelectCollector final : public RowSink {
public:
  using result_type = select_result_t<Element, First>;

  void on_row(const RowReader& row) override {
    if constexpr (First) {
      if (result_) return;
      result_.emplace(decode(row));
    } else {
      result_.push_back(decode(row));
    }
  }
  std::size_t max_rows() const noexcept override { return First ? 1 : std::numeric_limits<std::size_t>::max(); }
  result_type result(const ExecResult&) { return std::move(result_); }

private:
  static Element decode(const RowReader& row) {
    if constexpr (WholeRow) {
      check_row_width(row, table_traits<Element>::column_count);
      Element out{};
      decode_row(row, out);
      return out;
    } else if constexpr (is_tuple<Element>::value) {
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        check_row_width(row, sizeof...(I));
        return Element(decode_cell<std::tuple_element_t<I, Element>>(row.cell(I), CellOrigin{I, row.name(I)})...);
      }(std::make_index_sequence<std::tuple_size_v<Element>>{});
    } else {
      check_row_width(row, 1);
      return decode_cell<Element>(row.cell(0), CellOrigin{0, row.name(0)});
    }
  }
  template <class T>
  struct is_tuple : std::false_type {};
  template <class... T>
  struct is_tuple<std::tuple<T...>> : std::true_type {};

  result_type result_{};
};

}  // namespace keel
