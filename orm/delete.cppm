// DELETE the rows that where(...) picks. Deleting every row needs force(), as in Piccolo.
//   co_await keel::delete_from<Band>().where(c<&Band::popularity> < 100).run();   // -> rows deleted
module;
#include <concepts>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>
export module keel.orm:delete_query;
import keel.engine;
import :column;
import :expression;
import :query_support;
import :projection;
import :returning;
import :sql_writer;
import :table;
import :text_cache;

export namespace keel {

/// A DELETE from table T of the rows that where() picks. Without where() it does not compile, unless force()
/// says so.
template <class T, class Where, bool Force, class Returning>
class Delete : public Runnable<Delete<T, Where, Force, Returning>> {
public:
  /// Whether returning() chose columns.
  static constexpr bool returns_columns = !std::same_as<Returning, NoReturning>;
  /// The number of rows deleted, or the RETURNING columns' values.
  using result_type = returning_result_t<Returning, std::uint64_t>;
  /// What its text depends on besides its type (see TextShape).
  static constexpr TextShape shape = Where::shape + projection_shape<Returning>;

  /// A delete with no condition yet; keel::delete_from<T>() makes one.
  Delete() = default;
  /// A delete of these parts: where() and returning() make them.
  Delete(Where where, Returning returning) : where_(std::move(where)), returning_(std::move(returning)) {}

  /// Rows for which the condition holds. Called again, it adds a condition with AND.
  template <class E>
  auto where(const E& condition) const {
    static_assert(is_subset_v<typename E::tables, type_list<T>>,
                  "keel: the expression uses a column of a table that is not in the query");
    auto combined = and_where(where_, condition);
    return Delete<T, decltype(combined), Force, Returning>(combined, returning_);
  }

  /// Allows a delete without where(), which removes every row.
  auto force() const { return Delete<T, Where, true, Returning>(where_, returning_); }

  /// RETURNING chosen columns of the deleted rows, instead of their count.
  template <class... E>
  auto returning(const E&... expressions) const {
    static_assert((Expression<E> && ...), "keel: returning() takes columns and expressions");
    static_assert(is_subset_v<concat_t<typename E::tables...>, type_list<T>>,
                  "keel: returning() takes columns of the table deleted from");
    using R = Columns<E...>;
    return Delete<T, Where, Force, R>(where_, R{std::tuple(expressions...)});
  }

  /// The statement in `dialect`; a delete without where() or force() does not compile.
  Statement statement(Dialect dialect) const {
    static_assert(Force || !std::same_as<Where, NoWhere>,
                  "keel::delete_from without where() would delete every row: add where(...), or force() to mean it");
    return make_statement(*this, dialect);
  }
  /// Counts the rows deleted, or collects the RETURNING columns.
  auto collector() const { return returning_or_count_collector<Returning>(); }

  /// Writes the SQL text and binds the values.
  void write(SqlWriter& w) const {
    w.set_qualify_columns(false);
    w.sql("DELETE FROM ");
    w.identifier(table_traits<T>::name);
    write_where(w, where_);
    write_returning(w, returning_);
  }

private:
  Where where_{};
  Returning returning_{};
};

/// DELETE FROM T: add where(...), or force() to delete every row.
template <class T>
auto delete_from() {
  (void)sizeof(table_traits<T>);
  return Delete<T, NoWhere, false, NoReturning>();
}

}  // namespace keel
