// Rows: a RowReader reads the cells of the current row in place (an engine implements it over its own
// buffers), a RowSink receives rows as the engine produces them, and Row/Rows are the materialized form.
module;
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
export module keel.engine:row;
import :error;
import :value;

export namespace keel {

class RowReader {
public:
  virtual ~RowReader() = default;
  virtual std::size_t size() const = 0;
  virtual std::string_view name(std::size_t index) const = 0;
  virtual Cell cell(std::size_t index) const = 0;

  std::size_t index_of(std::string_view column) const {
    for (std::size_t i = 0, n = size(); i < n; ++i)
      if (name(i) == column) return i;
    throw ColumnNotFoundError("the row has no column named '" + std::string(column) + "'");
  }

  template <class T>
  T get(std::size_t index) const {
    if (index >= size())
      throw ColumnNotFoundError("column index " + std::to_string(index) + " is out of range: the row has " +
                                std::to_string(size()) + " columns");
    return decode_cell<T>(cell(index), CellOrigin{index, name(index)});
  }
  template <class T>
  T get(std::string_view column) const {
    const auto index = index_of(column);
    return decode_cell<T>(cell(index), CellOrigin{index, name(index)});
  }
  Value value(std::size_t index) const { return get<Value>(index); }
};

// Receives a statement's rows as the engine reads them. Engines call it on whichever thread runs the query,
// while the awaiting coroutine is suspended, so a sink needs no locking.
class RowSink {
public:
  virtual ~RowSink() = default;
  virtual void on_row(const RowReader& row) = 0;
};

using ColumnNames = std::shared_ptr<const std::vector<std::string>>;

// A materialized row; the column names are shared by all rows of one result.
class Row final : public RowReader {
public:
  Row() = default;
  Row(ColumnNames names, std::vector<Value> values) : names_(std::move(names)), values_(std::move(values)) {}

  std::size_t size() const override { return values_.size(); }
  std::string_view name(std::size_t index) const override { return (*names_)[index]; }
  Cell cell(std::size_t index) const override { return values_[index].cell(); }

  const Value& operator[](std::size_t index) const { return values_.at(index); }
  const Value& operator[](std::string_view column) const { return values_[index_of(column)]; }
  const std::vector<Value>& values() const noexcept { return values_; }
  const std::vector<std::string>& columns() const noexcept { return *names_; }

private:
  ColumnNames names_;
  std::vector<Value> values_;
};

// What running a statement did, apart from its rows.
struct ExecResult {
  std::uint64_t rows_affected = 0;            // rows inserted, updated or deleted; 0 for a query
  std::optional<std::int64_t> last_insert_id;  // where the engine reports one (SQLite's rowid)
  std::vector<std::int64_t> insert_ids;        // execute_each: each run's last_insert_id, in order, where reported
};

// The rows of one result, with what the statement did.
class Rows {
public:
  Rows() = default;
  Rows(std::vector<Row> rows, ExecResult result) : rows_(std::move(rows)), result_(result) {}

  std::size_t size() const noexcept { return rows_.size(); }
  bool empty() const noexcept { return rows_.empty(); }
  const Row& operator[](std::size_t i) const { return rows_.at(i); }
  auto begin() const noexcept { return rows_.begin(); }
  auto end() const noexcept { return rows_.end(); }
  const std::vector<Row>& rows() const noexcept { return rows_; }
  std::uint64_t rows_affected() const noexcept { return result_.rows_affected; }
  std::optional<std::int64_t> last_insert_id() const noexcept { return result_.last_insert_id; }

private:
  std::vector<Row> rows_;
  ExecResult result_;
};

// Collects rows into Rows: the collector of raw queries.
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
  Rows result(const ExecResult& exec) { return Rows(std::exchange(rows_, {}), exec); }

private:
  ColumnNames names_;
  std::vector<Row> rows_;
};

}  // namespace keel
