// RETURNING of insert, update and delete: the rows it gives, their collector and its clause; and, without it,
// the count of rows a statement changed. Nothing here is exported.
module;
#include <concepts>
#include <cstdint>
#include <vector>
export module keel.orm:returning;
import keel.engine;
import :column;
import :projection;
import :query_support;
import :sql_writer;

namespace keel {

template <class Returning>
using returned_element_t = typename projection_element<Returning, type_list<>>::type;

template <class Returning, class Otherwise>
struct returning_result {
  using type = std::vector<returned_element_t<Returning>>;
};
template <class Otherwise>
struct returning_result<NoReturning, Otherwise> {
  using type = Otherwise;
};
// The result of a write query: the returned rows, or `Otherwise` without RETURNING.
template <class Returning, class Otherwise>
using returning_result_t = typename returning_result<Returning, Otherwise>::type;

template <class Returning>
using ReturningCollector = SelectCollector<false, returned_element_t<Returning>, false>;

template <class Returning>
void write_returning(SqlWriter& w, const Returning& returning) {
  if constexpr (!std::same_as<Returning, NoReturning>) {
    w.sql(" RETURNING ");
    write_expression_list(w, returning.expressions);
  }
}

// Counts the rows a statement changed.
class RowsAffectedCollector final : public RowSink {
public:
  using result_type = std::uint64_t;
  void on_row(const RowReader&) override {}
  std::uint64_t result(const ExecResult& exec) { return exec.rows_affected; }
};

// What a write query collects: the RETURNING rows, or without RETURNING the count of rows it changed.
template <class Returning>
auto returning_or_count_collector() {
  if constexpr (std::same_as<Returning, NoReturning>)
    return RowsAffectedCollector();
  else
    return ReturningCollector<Returning>();
}

}  // namespace keel
