// Rows: a RowReader reads the cells of the current row in place (an engine implements it over its own
// buffers), a RowSink receives rows as the engine produces them, and Row/Rows are the materialized form.
module;
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
export module keel.core:row;
import :error;
import :value;

export namespace keel {

/// The current row of a result, read in place: an engine implements it over its own buffers.
class RowReader {
public:
  virtual ~RowReader() = default;
  /// The number of columns.
  virtual std::size_t size() const = 0;
  /// The name of column `index`.
  virtual std::string_view name(std::size_t index) const = 0;
  /// The cell of column `index`, valid while the row is current.
  virtual Cell cell(std::size_t index) const = 0;

  /// The index of the column named `column`; throws ColumnNotFoundError when there is none.
  std::size_t index_of(std::string_view column) const {
    for (std::size_t i = 0, n = size(); i < n; ++i)
      if (name(i) == column) return i;
    throw ColumnNotFoundError("the row has no column named '" + std::string(column) + "'");
  }

  /// Column `index` read as a T, by FromCell<T>'s rules.
  template <class T>
  T get(std::size_t index) const {
    if (index >= size())
      throw ColumnNotFoundError("column index " + std::to_string(index) + " is out of range: the row has " +
                                std::to_string(size()) + " columns");
    return decode_cell<T>(cell(index), CellOrigin{index, name(index)});
  }
  /// The column named `column` read as a T, by FromCell<T>'s rules.
  template <class T>
  T get(std::string_view column) const {
    const auto index = index_of(column);
    return decode_cell<T>(cell(index), CellOrigin{index, name(index)});
  }
  /// Column `index` as a Value that owns its data.
  Value value(std::size_t index) const { return get<Value>(index); }
};

/// Receives a statement's rows as the engine reads them. Engines call it on whichever thread runs the query,
/// while the awaiting coroutine is suspended, so a sink needs no locking.
class RowSink {
public:
  virtual ~RowSink() = default;
  /// One row; it can be read only during the call.
  virtual void on_row(const RowReader& row) = 0;
  /// The most rows it wants (a query's first() wants one; 0 means all, as for a cursor): a runner may stop
  /// reading a statement that only reads once it has handed them over.
  virtual std::size_t max_rows() const noexcept { return std::numeric_limits<std::size_t>::max(); }
};

/// Column names shared by the rows of one result.
using ColumnNames = std::shared_ptr<const std::vector<std::string>>;

/// A materialized row; the column names are shared by all rows of one result.
class Row final : public RowReader {
public:
  /// A row of no columns.
  Row() = default;
  /// A row of `values`, named by `names`.
  Row(ColumnNames names, std::vector<Value> values) : names_(std::move(names)), values_(std::move(values)) {}

  std::size_t size() const override { return values_.size(); }
  std::string_view name(std::size_t index) const override { return (*names_)[index]; }
  Cell cell(std::size_t index) const override { return values_[index].cell(); }

  /// The value of column `index`; throws std::out_of_range past the end.
  const Value& operator[](std::size_t index) const { return values_.at(index); }
  /// The value of the column named `column`.
  const Value& operator[](std::string_view column) const { return values_[index_of(column)]; }
  /// The row's values, in column order.
  const std::vector<Value>& values() const noexcept { return values_; }
  /// The column names.
  const std::vector<std::string>& columns() const noexcept { return *names_; }

private:
  ColumnNames names_;
  std::vector<Value> values_;
};

/// What running a statement did, apart from its rows.
struct ExecResult {
  std::uint64_t rows_affected = 0;             ///< rows inserted, updated or deleted; 0 for a query
  std::optional<std::int64_t> last_insert_id;  ///< where the engine reports one (SQLite's rowid)
  std::vector<std::int64_t> insert_ids;        ///< execute_each: each run's last_insert_id, in order, where reported
};

/// The rows of one result, with what the statement did.
class Rows {
public:
  /// No rows, nothing affected.
  Rows() = default;
  /// `rows`, with what the statement did.
  Rows(std::vector<Row> rows, ExecResult result) : rows_(std::move(rows)), result_(result) {}

  /// The number of rows.
  std::size_t size() const noexcept { return rows_.size(); }
  /// Whether there are no rows.
  bool empty() const noexcept { return rows_.empty(); }
  /// Row `i`; throws std::out_of_range past the end.
  const Row& operator[](std::size_t i) const { return rows_.at(i); }
  /// The first row.
  auto begin() const noexcept { return rows_.begin(); }
  /// Past the last row.
  auto end() const noexcept { return rows_.end(); }
  /// All rows.
  const std::vector<Row>& rows() const noexcept { return rows_; }
  /// Rows inserted, updated or deleted (ExecResult::rows_affected).
  std::uint64_t rows_affected() const noexcept { return result_.rows_affected; }
  /// The key of the inserted row, where the engine reports one (SQLite's rowid).
  std::optional<std::int64_t> last_insert_id() const noexcept { return result_.last_insert_id; }

private:
  std::vector<Row> rows_;
  ExecResult result_;
};

/// Collects rows into Rows: the collector of raw queries.
class RowsCollector final : public RowSink {
public:
  void on_row(const RowReader& row) override {
    const std::size_t n = row.size();
    if (!names_) {
      auto names = std::make_shared<std::vector<std::string>>();
      names->reserve(n);
      for (std::size_t i = 0; i < n; ++i) names->emplace_back(row.name(i));
      names_ = std::move(names);
    }
    std::vector<Value> values;
    values.reserve(n);
    for (std::size_t i = 0; i < n; ++i) values.push_back(Value::from_cell(row.cell(i)));
    rows_.emplace_back(names_, std::move(values));
  }
  /// The rows collected so far, with what the statement did; the collector starts empty again.
  Rows result(const ExecResult& exec) { return Rows(std::exchange(rows_, {}), exec); }

private:
  ColumnNames names_;
  std::vector<Row> rows_;
};

}  // namespace keel
