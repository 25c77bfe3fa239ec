// keel's engine values in COPY's text format: fields parted by tabs, rows ended by newlines, \N for NULL, and a
// backslash before a backslash, tab, newline or carriage return in a value. The server reads each field with
// its column's input function, as it reads an untyped literal in an INSERT. PostgresEngine writes a bulk
// writer's many-row inserts this way (Connection::insert_rows).
module;
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
export module keel.postgres:copy_text;
import keel.engine;
import :codecs;
import :text_format;

namespace keel::pg {

// Appends `values` as rows of `columns` fields. Returns false, and leaves `out` as it was, when a value has no
// text form here that reads back as the same value (an array, a date past year 32767): the caller then inserts
// the rows instead.
bool append_copy_text(std::string& out, std::span<const Value> values, std::size_t columns);

// Whether a value of this kind, written as COPY text into a column of this type, is stored as the INSERT stores
// it bound (binary, typed by its kind, then cast to the column's type on assignment). Where the two differ (a
// double into numeric keeps more digits by COPY, a bool into text reads 't', text into an enum is refused by
// the INSERT) the rows go as the INSERT.
bool copies_as_bound(ValueKind kind, std::uint32_t column_type);

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
      if (!is_infinite(t) && !has_calendar_date(floor<days>(sys_time<microseconds>(t.time_since_epoch())))) return false;
      out += is_infinite(t) ? std::string(infinity(t)) : text_detail::date_time(sys_time<microseconds>(t.time_since_epoch()), "");
      return true;
    }
    case ValueKind::timestamptz: {
      const keel::TimestampTz t = std::get<keel::TimestampTz>(v);
      if (!is_infinite(t) && !has_calendar_date(floor<days>(t))) return false;
      out += is_infinite(t) ? std::string(infinity(t)) : text_detail::date_time(t, "+00");
      return true;
    }
    case ValueKind::interval: out += text_detail::interval(std::get<Interval>(v)); return true;
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

bool append_copy_text(std::string& out, std::span<const Value> values, std::size_t columns) {
  const std::size_t kept = out.size();
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!append_field(out, values[i])) {
      out.resize(kept);
      return false;
    }
    out += (i + 1) % columns == 0 ? '\n' : '\t';
  }
  return true;
}

}  // namespace keel::pg
