// The kinds of value an engine carries, and the types keel gives the ones C++ has no type for. The standard
// and Boost types are used where they fit: std::chrono::sys_days (date), local_time (timestamp, a wall-clock
// reading), sys_time (timestamptz, an instant), boost::uuids::uuid.
module;
#include <boost/uuid/uuid.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
export module keel.core:value_types;

export namespace keel {

/// The kinds of value an engine carries, in the order of Value::Storage's alternatives.
enum class ValueKind {
  null,
  boolean,
  integer,
  real,
  text,
  blob,
  date,
  time,
  timestamp,
  timestamptz,
  interval,
  uuid,
  json,
  numeric,
  array
};

/// The kind's name, as error messages give it.
constexpr std::string_view to_string(ValueKind kind) noexcept {
  switch (kind) {
    case ValueKind::null: return "NULL";
    case ValueKind::boolean: return "boolean";
    case ValueKind::integer: return "integer";
    case ValueKind::real: return "real";
    case ValueKind::text: return "text";
    case ValueKind::blob: return "blob";
    case ValueKind::date: return "date";
    case ValueKind::time: return "time";
    case ValueKind::timestamp: return "timestamp";
    case ValueKind::timestamptz: return "timestamptz";
    case ValueKind::interval: return "interval";
    case ValueKind::uuid: return "uuid";
    case ValueKind::json: return "json";
    case ValueKind::numeric: return "numeric";
    case ValueKind::array: return "array";
  }
  return "unknown";
}

/// A timestamp without time zone reads a wall clock; with time zone it is an instant. Both to the microsecond,
/// PostgreSQL's resolution; ±infinity are the extreme time points (their `max()` and `min()`).
using Timestamp = std::chrono::local_time<std::chrono::microseconds>;
/// A timestamp with time zone: an instant, to the microsecond.
using TimestampTz = std::chrono::sys_time<std::chrono::microseconds>;
/// A UUID (boost::uuids::uuid).
using Uuid = boost::uuids::uuid;

/// A time of day, without time zone.
struct TimeOfDay {
  std::chrono::microseconds since_midnight{};  ///< the time since midnight
  /// Equal when the times are.
  friend bool operator==(const TimeOfDay&, const TimeOfDay&) = default;
};

/// PostgreSQL's interval: months and days are kept apart from the clock time, since their length depends on
/// the calendar (a month is 28 to 31 days, a day 23 to 25 hours across a change of daylight saving time).
/// PostgreSQL 17's infinite intervals are every field at its largest (infinity()) or smallest (minus_infinity()),
/// as the server stores them.
struct Interval {
  std::int32_t months = 0;           ///< whole months
  std::int32_t days = 0;             ///< whole days
  std::chrono::microseconds time{};  ///< the clock time
  /// Equal field by field: 1 month and 30 days differ.
  friend bool operator==(const Interval&, const Interval&) = default;

  /// PostgreSQL 17's infinity: every field at its largest.
  static constexpr Interval infinity() noexcept {
    return {std::numeric_limits<std::int32_t>::max(), std::numeric_limits<std::int32_t>::max(),
            std::chrono::microseconds(std::numeric_limits<std::int64_t>::max())};
  }
  /// PostgreSQL 17's -infinity: every field at its smallest.
  static constexpr Interval minus_infinity() noexcept {
    return {std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::min(),
            std::chrono::microseconds(std::numeric_limits<std::int64_t>::min())};
  }
  /// Whether it is either infinity.
  constexpr bool is_infinite() const noexcept { return *this == infinity() || *this == minus_infinity(); }
};

/// An exact decimal, kept as its text ("-12.50", "NaN", "Infinity"): never rounded through a double.
struct Numeric {
  std::string text;  ///< the decimal's text
  /// Equal when the texts are: "1.0" and "1.00" differ.
  friend bool operator==(const Numeric&, const Numeric&) = default;
};

/// A JSON document as its text. keel reads and binds boost::json::value through it.
struct Json {
  std::string text;  ///< the JSON text
  /// Equal when the texts are.
  friend bool operator==(const Json&, const Json&) = default;
};

}  // namespace keel

// Boost's comparisons of UUIDs, visible to every importer: clang drops what a module's global fragment declares
// and its purview never names, which would leave `a == b` on two keel::Uuid without an operator.
export namespace boost::uuids {
using boost::uuids::operator==;
using boost::uuids::operator!=;
using boost::uuids::operator<;
}  // namespace boost::uuids
