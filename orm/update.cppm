// UPDATE: set(...) columns of the rows that where(...) picks. Updating every row needs force(), as in Piccolo.
//   co_await keel::update<Band>().set(c<&Band::popularity>, c<&Band::popularity> + 100)
//                                .where(c<&Band::name> == "Pythonistas").run();   // -> rows updated
module;
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>
export module keel.orm:update;
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

export namespace keel {

template <auto Member, class E>
struct Assignment {
  using tables = typename E::tables;
  static constexpr TextShape shape = E::shape;
  E value;
  void write(SqlWriter& w) const {
    w.identifier(member_column<Member>::name);
    w.sql(" = ");
    value.write(w);
  }
};

/// `column = value` in a SET of table T, where value is a C++ value or an expression whose columns are of the
/// tables in `Allowed`; misuses fail to compile with keel's message.
template <class T, class Allowed, class C, class V>
auto assignment(const C&, const V& value) {
  static_assert(requires { C::member; }, "keel: set() takes a column, keel::c<&T::member>, and its new value");
  using Column = member_column<C::member>;
  static_assert(std::same_as<typename C::table, T>,
                "keel: set() takes a column of the table updated, keel::c<&T::member>, not of an alias");
  using E = expression_t<V>;
  constexpr SqlCategory target = category_v<typename Column::traits::value_type>;
  constexpr SqlCategory given = category_v<typename E::value_type>;
  static_assert(given != SqlCategory::null || Column::traits::nullable,
                "keel: set() gives NULL to a NOT NULL column; make the member std::optional to allow NULL");
  static_assert(given == SqlCategory::null || assignable(target, given),
                "keel: set() gives a column a value of another SQL type");
  static_assert(
      given == SqlCategory::null || same_enum_if_any<typename Column::traits::value_type, typename E::value_type>,
      "keel: an enum column takes values of its own enum only");
  if constexpr (target == SqlCategory::array && given == SqlCategory::array)
    static_assert(assignable(category_v<typename Column::traits::value_type::value_type>,
                             category_v<typename E::value_type::value_type>),
                  "keel: set() gives an array column an array of another SQL type");
  static_assert(is_subset_v<typename E::tables, Allowed>,
                "keel: set() computes a value from a column of a table that is not in the query");
  return Assignment<C::member, E>{as_expression(value)};
}

/// An UPDATE of table T: set() columns of the rows that where() picks. Without where() it does not compile,
/// unless force() says so.
template <class T, class Sets, class Where, bool Force, class Returning>
class Update : public Runnable<Update<T, Sets, Where, Force, Returning>> {
public:
  /// Whether returning() chose columns.
  static constexpr bool returns_columns = !std::same_as<Returning, NoReturning>;
  /// The number of rows changed, or the RETURNING columns' values.
  using result_type = returning_result_t<Returning, std::uint64_t>;
  /// What its text depends on besides its type (see TextShape).
  static constexpr TextShape shape = tuple_shape_v<Sets> + Where::shape + projection_shape<Returning>;

  /// An update that sets nothing yet; keel::update<T>() makes one.
  Update() = default;
  /// An update of these parts: set(), where() and returning() make them.
  Update(Sets sets, Where where, Returning returning)
      : sets_(std::move(sets)), where_(std::move(where)), returning_(std::move(returning)) {}

  /// column = value, where value is a C++ value or an expression (c<&Band::popularity> + 1).
  template <class C, class V>
  auto set(const C& column, const V& value) const {
    auto sets = std::tuple_cat(sets_, std::tuple(assignment<T, type_list<T>>(column, value)));
    return Update<T, decltype(sets), Where, Force, Returning>(sets, where_, returning_);
  }

  /// Rows for which the condition holds. Called again, it adds a condition with AND.
  template <class E>
  auto where(const E& condition) const {
    static_assert(is_subset_v<typename E::tables, type_list<T>>,
                  "keel: the expression uses a column of a table that is not in the query");
    auto combined = and_where(where_, condition);
    return Update<T, Sets, decltype(combined), Force, Returning>(sets_, combined, returning_);
  }

  /// Allows an update without where(), which changes every row.
  auto force() const { return Update<T, Sets, Where, true, Returning>(sets_, where_, returning_); }

  /// RETURNING chosen columns of the updated rows, instead of their count.
  template <class... E>
  auto returning(const E&... expressions) const {
    static_assert((Expression<E> && ...), "keel: returning() takes columns and expressions");
    static_assert(is_subset_v<concat_t<typename E::tables...>, type_list<T>>,
                  "keel: returning() takes columns of the table updated");
    using R = Columns<E...>;
    return Update<T, Sets, Where, Force, R>(sets_, where_, R{std::tuple(expressions...)});
  }

  /// The statement in `dialect`; an update without set(), or without where() or force(), does not compile.
  Statement statement(Dialect dialect) const {
    static_assert(std::tuple_size_v<Sets> > 0, "keel::update needs at least one set(column, value)");
    static_assert(Force || !std::same_as<Where, NoWhere>,
                  "keel::update without where() would change every row: add where(...), or force() to mean it");
    return make_statement(*this, dialect);
  }
  /// Counts the rows changed, or collects the RETURNING columns.
  auto collector() const { return returning_or_count_collector<Returning>(); }

  /// Writes the SQL text and binds the values.
  void write(SqlWriter& w) const {
    w.set_qualify_columns(false);  // SET takes bare names, and the statement has one table
    w.sql("UPDATE ");
    w.identifier(table_traits<T>::name);
    w.sql(" SET ");
    write_expression_list(w, sets_);
    write_where(w, where_);
    write_returning(w, returning_);
  }

private:
  Sets sets_{};
  Where where_{};
  Returning returning_{};
};

/// UPDATE T: add set(column, value) and where(...).
template <class T>
auto update() {
  (void)sizeof(table_traits<T>);
  return Update<T, std::tuple<>, NoWhere, false, NoReturning>();
}

}  // namespace keel
