// keel's engine values in COPY's text format: fields parted by tabs, rows ended by newlines, \N for NULL, and a
// backslash before a backslash, tab, newline or carriage return in a value. The server reads each field with
// its column's input function, as it reads an untyped literal in an INSERT. PostgresEngine writes many-row
// inserts this way (Connection::insert_rows): a bulk writer's merged inserts, and the ORM's.
module;
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>
export module keel.postgres:copy_text;
import keel.engine;
import :codecs;
import :text_format;

namespace keel::pg {

// A many-row insert's values, cell by cell, however the insert laid them out (InsertLayout).
class InsertedValues {
public:
  // Not valid() when the values do not fit the layout: a count of values that is not whole rows, a column that
  // is not an array, or arrays of different lengths.
  InsertedValues(std::span<const Value> params, std::size_t columns, InsertLayout layout);
  bool valid() const noexcept { return valid_; }
  std::size_t rows() const noexcept { return rows_; }
  std::size_t columns() const noexcept { return columns_; }
  bool from_arrays() const noexcept { return !arrays_.empty(); }
  inline const Value& at(std::size_t row, std::size_t column) const {
    return arrays_.empty() ? params_[row * columns_ + column] : (*arrays_[column])[row];
  }

private:
  std::span<const Value> params_;
  std::vector<const std::vector<Value>*> arrays_;  // one per column, for column arrays
  std::size_t columns_ = 0, rows_ = 0;
  bool valid_ = false;
};

// Rows in COPY's text format, and where each ends (one past its newline).
struct CopyRows {
  std::string text;
  std::vector<std::size_t> row_ends;
};

// The values as rows of COPY text. None when a value has no text form here that reads back as the same value
// (an array, a date past year 32767): the caller then inserts the rows instead.
std::optional<CopyRows> copy_rows(const InsertedValues& values);

// The rows, each led by its key and a tab: one key per row.
std::string with_leading_keys(const CopyRows& rows, std::span<const std::int64_t> keys);

bool copies_as_bound(ValueKind kind, std::uint32_t column_type);
// The same of every value, each under its column's type.
bool copies_as_bound(const InsertedValues& values, std::span<const std::uint32_t> column_types);

}  // namespace keel::pg

namespace keel::pg {
namespace {

void append_escaped(std::string& out, std::string_view text) {
  for (const char c : text) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      default: out += c;
    }
  }
}

template <class Time>
bool is_infinite(Time t) {
  return t == Time::max() || t == Time::min();
}
template <class Time>
std::string_view infinity(Time t) {
  return t == Time::max() ? "infinity" : "-infinity";
}

// year_month_day holds years -32767 to 32767; PostgreSQL's dates go further, and the binary path refuses them.
bool has_calendar_date(std::chrono::sys_days d) {
  using namespace std::chrono;
  return d >= sys_days(year::min() / January / 1) && d <= sys_days(year::max() / December / 31);
}

bool append_field(std::string& out, const Value& value) {
  using namespace std::chrono;
  const auto& v = value.storage();
  switch (value.kind()) {
    case ValueKind::null: out += "\\N"; return true;
    case ValueKind::boolean: out += std::get<bool>(v) ? 't' : 'f'; return true;
    case ValueKind::integer: {
      char digits[24];
      out.append(digits, std::to_chars(digits, digits + sizeof digits, std::get<std::int64_t>(v)).ptr);
      return true;
    }
    case ValueKind::real: out += text_detail::floating(std::get<double>(v), 15); return true;
    case ValueKind::text: append_escaped(out, std::get<std::string>(v)); return true;
    case ValueKind::json: append_escaped(out, std::get<Json>(v).text); return true;
    case ValueKind::numeric: append_escaped(out, std::get<Numeric>(v).text); return true;  // unchecked text
    case ValueKind::blob: {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\\\x";  // bytea's hex form, its backslash escaped for COPY
      for (const std::byte b : std::get<Blob>(v)) {
        out += hex[std::to_integer<unsigned>(b) >> 4];
        out += hex[std::to_integer<unsigned>(b) & 15];
      }
      return true;
    }
    case ValueKind::date: {
      const sys_days d = std::get<sys_days>(v);
      if (is_infinite(d)) {
        out += infinity(d);
        return true;
      }
      if (!has_calendar_date(d)) return false;
      const auto [text, bc] = text_detail::day(d);
      out += text;
      if (bc) out += " BC";
      return true;
    }
    case ValueKind::time: out += text_detail::clock(std::get<TimeOfDay>(v).since_midnight); return true;
    case ValueKind::timestamp: {
      const keel::Timestamp t = std::get<keel::Timestamp>(v);
      if (!is_infinite(t) && !has_calendar_date(floor<days>(sys_time<microseconds>(t.time_since_epoch()))))
        return false;
      out += is_infinite(t) ? std::string(infinity(t))
                            : text_detail::date_time(sys_time<microseconds>(t.time_since_epoch()), "");
      return true;
    }
    case ValueKind::timestamptz: {
      const keel::TimestampTz t = std::get<keel::TimestampTz>(v);
      if (!is_infinite(t) && !has_calendar_date(floor<days>(t))) return false;
      out += is_infinite(t) ? std::string(infinity(t)) : text_detail::date_time(t, "+00");
      return true;
    }
    case ValueKind::interval: {
      // An infinite interval is PostgreSQL 17's "infinity", which older servers' COPY refuses and their binary
      // input stores as it is: it goes as the insert.
      const Interval& interval = std::get<Interval>(v);
      if (interval.is_infinite()) return false;
      out += text_detail::interval(interval);
      return true;
    }
    case ValueKind::uuid: out += text_form::uuid(std::get<keel::Uuid>(v)); return true;
    case ValueKind::array: return false;
  }
  return false;
}

}  // namespace

bool copies_as_bound(ValueKind kind, std::uint32_t column_type) {
  switch (kind) {
    case ValueKind::null:
    case ValueKind::json:  // bound untyped, as text: the column's input function reads it either way
      return true;
    case ValueKind::integer:  // an exact integer, cast or read, rounds the same way into floats
      return column_type == types::int8 || column_type == types::int4 || column_type == types::int2 ||
             column_type == types::numeric || column_type == types::float8 || column_type == types::float4;
    case ValueKind::text:
      return column_type == types::text || column_type == types::varchar || column_type == types::bpchar;
    case ValueKind::boolean: return column_type == types::boolean;
    case ValueKind::real: return column_type == types::float8;
    case ValueKind::blob: return column_type == types::bytea;
    case ValueKind::date: return column_type == types::date;
    case ValueKind::time: return column_type == types::time;
    case ValueKind::timestamp: return column_type == types::timestamp;
    case ValueKind::timestamptz: return column_type == types::timestamptz;
    case ValueKind::interval: return column_type == types::interval;
    case ValueKind::uuid: return column_type == types::uuid;
    case ValueKind::numeric: return column_type == types::numeric;
    case ValueKind::array: return false;
  }
  return false;
}

InsertedValues::InsertedValues(std::span<const Value> params, std::size_t columns, InsertLayout layout)
    : params_(params), columns_(columns) {
  if (columns == 0) return;
  if (layout == InsertLayout::rows) {
    rows_ = params.size() / columns;
    valid_ = params.size() % columns == 0;
    return;
  }
  if (params.size() != columns) return;
  for (const Value& column : params) {
    if (column.kind() != ValueKind::array) return;
    arrays_.push_back(&std::get<ValueArray>(column.storage()).items);
    if (arrays_.back()->size() != arrays_.front()->size()) return;
  }
  rows_ = arrays_.front()->size();
  valid_ = true;
}

bool copies_as_bound(const InsertedValues& values, std::span<const std::uint32_t> column_types) {
  if (column_types.size() != values.columns()) return false;
  for (std::size_t row = 0; row < values.rows(); ++row)
    for (std::size_t column = 0; column < values.columns(); ++column) {
      const ValueKind kind = values.at(row, column).kind();
      if (!copies_as_bound(kind, column_types[column])) return false;
      // In column arrays JSON is bound as json[], not untyped: the INSERT casts it to json, jsonb or text only.
      const std::uint32_t type = column_types[column];
      if (kind == ValueKind::json && values.from_arrays() && type != types::json && type != types::jsonb &&
          type != types::text)
        return false;
    }
  return true;
}

std::optional<CopyRows> copy_rows(const InsertedValues& values) {
  CopyRows rows;
  rows.text.reserve(values.rows() * values.columns() * 12);
  rows.row_ends.reserve(values.rows());
  for (std::size_t row = 0; row < values.rows(); ++row) {
    for (std::size_t column = 0; column < values.columns(); ++column) {
      if (!append_field(rows.text, values.at(row, column))) return std::nullopt;
      rows.text += column + 1 == values.columns() ? '\n' : '\t';
    }
    rows.row_ends.push_back(rows.text.size());
  }
  return rows;
}

std::string with_leading_keys(const CopyRows& rows, std::span<const std::int64_t> keys) {
  std::string out;
  out.reserve(rows.text.size() + rows.row_ends.size() * 8);
  std::size_t start = 0;
  for (std::size_t row = 0; row < rows.row_ends.size(); ++row) {
    char digits[24];
    out.append(digits, std::to_chars(digits, digits + sizeof digits, keys[row]).ptr);
    out += '\t';
    out.append(rows.text, start, rows.row_ends[row] - start);
    start = rows.row_ends[row];
  }
  return out;
}

}  // namespace keel::pg
