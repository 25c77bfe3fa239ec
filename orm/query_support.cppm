// What every ORM query shares: the WHERE clause, RETURNING's absence, expression lists, and decoding a row
// straight into a struct.
// Nothing here is exported.
module;
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>
export module keel.orm:query_support;
import keel.engine;
import keel.reflection;
import :column;
import :expression;
import :sql_writer;
import :table;

namespace keel {

/// The text shape of every element of a tuple together.
template <class Tuple>
inline constexpr TextShape tuple_shape_v = []<std::size_t... I>(std::index_sequence<I...>) {
  return shape_of<std::tuple_element_t<I, Tuple>...>;
}(std::make_index_sequence<std::tuple_size_v<Tuple>>{});

/// The tables every element of a tuple reads, together.
template <class Tuple>
using tuple_tables_t = typename decltype([]<std::size_t... I>(std::index_sequence<I...>) {
  return std::type_identity<concat_t<typename std::tuple_element_t<I, Tuple>::tables...>>{};
}(std::make_index_sequence<std::tuple_size_v<Tuple>>{}))::type;

/// No WHERE clause.
struct NoWhere {
  using tables = type_list<>;          ///< reads no table
  static constexpr TextShape shape{};  ///< no text
  /// Writes nothing.
  void write(SqlWriter&) const {}
};

/// Writes ` WHERE ` and the condition, unless there is none.
template <class Where>
void write_where(SqlWriter& w, const Where& where) {
  if constexpr (!std::is_same_v<Where, NoWhere>) {
    w.sql(" WHERE ");
    where.write(w);
  }
}

/// where(a).where(b) means where(a && b), as in Piccolo.
template <class Where, class E>
auto and_where(const Where& where, const E& condition) {
  static_assert(Expression<E> && category_v<typename E::value_type> == SqlCategory::boolean,
                "keel: where() takes a condition, such as keel::c<&Band::popularity> > 1000");
  if constexpr (std::is_same_v<Where, NoWhere>)
    return condition;
  else
    return where && condition;
}

/// Decodes the cells [offset, offset + columns) of a row into the members of a table struct.
template <class T>
void decode_row(const RowReader& row, T& out, std::size_t offset = 0) {
  using Traits = table_traits<T>;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (assign_cell(reflection::get<I>(out), row.cell(offset + I), CellOrigin{offset + I, Traits::column_names[I]}), ...);
  }(std::make_index_sequence<Traits::column_count>{});
}

/// Throws ProtocolError when a row has fewer columns than the query selects.
inline void check_row_width(const RowReader& row, std::size_t expected) {
  if (row.size() < expected)
    throw ProtocolError("the engine returned " + std::to_string(row.size()) + " columns where the query selects " +
                        std::to_string(expected));
}

/// No RETURNING clause.
struct NoReturning {
  using tables = type_list<>;          ///< reads no table
  static constexpr TextShape shape{};  ///< no text
};

/// Writes expressions separated by commas.
template <class Tuple>
void write_expression_list(SqlWriter& w, const Tuple& items) {
  std::apply(
      [&](const auto&... item) {
        bool first = true;
        ((w.sql(first ? "" : ", "), item.write(w), first = false), ...);
      },
      items);
}

/// Writes the columns of table T, named by the query's name for it: "band"."id", "band"."name", ...
template <class T>
void write_table_columns(SqlWriter& w, std::string_view query_name = table_traits<T>::name) {
  using Traits = table_traits<T>;
  for (std::size_t i = 0; i < Traits::column_count; ++i) {
    if (i) w.sql(", ");
    w.column(query_name, Traits::column_names[i]);
  }
}

}  // namespace keel
