// Reading dates, times, intervals, UUIDs, exact numbers and JSON from a cell: from the engine's own value
// (PostgreSQL's binary types), or from their text (how SQLite stores them, see text_form).
module;
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
export module keel.core:value_decoders;
import :error;
import :value;
import :value_text;
import :value_types;

namespace keel::value_detail {

// A time point of precision D holds a microsecond reading without loss.
template <class D>
concept HoldsMicroseconds = std::is_convertible_v<std::chrono::microseconds, D>;

// ±infinity (the extremes) stay the extremes; a reading the time point's precision cannot hold is refused.
template <class TimePoint>
TimePoint from_microseconds(std::int64_t us, const CellOrigin& origin) {
  if (us == std::numeric_limits<std::int64_t>::max()) return TimePoint::max();
  if (us == std::numeric_limits<std::int64_t>::min()) return TimePoint::min();
  constexpr std::int64_t limit =
      std::chrono::duration_cast<std::chrono::microseconds>(TimePoint::duration::max()).count();
  if (us > limit || us < -limit)
    throw ValueOutOfRangeError(origin.describe() +
                               " is a time too far from 1970 for the requested time point's precision");
  return TimePoint(std::chrono::microseconds(us));
}

// A date's midnight, in microseconds since 1970 (±infinity as the extremes).
inline std::int64_t midnight_microseconds(std::int64_t days) {
  constexpr std::int64_t us_per_day = 86'400'000'000;
  if (days > std::numeric_limits<std::int64_t>::max() / us_per_day) return std::numeric_limits<std::int64_t>::max();
  if (days < std::numeric_limits<std::int64_t>::min() / us_per_day) return std::numeric_limits<std::int64_t>::min();
  return days * us_per_day;
}

}  // namespace keel::value_detail

export namespace keel {

template <>
struct FromCell<std::chrono::sys_days> {
  static std::chrono::sys_days decode(const Cell& cell, const CellOrigin& origin) {
    if (cell.kind == ValueKind::date) return std::chrono::sys_days(std::chrono::days(cell.integer));
    if (cell.kind == ValueKind::text)
      if (auto d = text_form::parse_date(cell.text)) return *d;
    throw_mismatch(cell, origin, "a date (YYYY-MM-DD)");
  }
};

template <>
struct FromCell<std::chrono::year_month_day> {
  static std::chrono::year_month_day decode(const Cell& cell, const CellOrigin& origin) {
    return std::chrono::year_month_day(FromCell<std::chrono::sys_days>::decode(cell, origin));
  }
};

template <>
struct FromCell<TimeOfDay> {
  static TimeOfDay decode(const Cell& cell, const CellOrigin& origin) {
    if (cell.kind == ValueKind::time) return TimeOfDay{std::chrono::microseconds(cell.integer)};
    if (cell.kind == ValueKind::text)
      if (auto t = text_form::parse_time(cell.text)) return *t;
    throw_mismatch(cell, origin, "a time of day (HH:MM:SS)");
  }
};

/// A timestamp without time zone, or a date (its midnight). Text that names a UTC offset is an instant, not a
/// wall-clock reading, and is refused.
template <value_detail::HoldsMicroseconds D>
struct FromCell<std::chrono::local_time<D>> {
  static std::chrono::local_time<D> decode(const Cell& cell, const CellOrigin& origin) {
    using Target = std::chrono::local_time<D>;
    if (cell.kind == ValueKind::timestamp) return value_detail::from_microseconds<Target>(cell.integer, origin);
    if (cell.kind == ValueKind::date)
      return value_detail::from_microseconds<Target>(value_detail::midnight_microseconds(cell.integer), origin);
    if (cell.kind == ValueKind::text)
      if (auto t = text_form::parse_timestamp(cell.text);
          t && (!t->offset_seconds || t->local == Timestamp::max() || t->local == Timestamp::min())) {
        return value_detail::from_microseconds<Target>(t->local.time_since_epoch().count(), origin);
      }
    if (cell.kind == ValueKind::timestamptz)
      throw TypeMismatchError(origin.describe() + " holds timestamptz, an instant: read it as std::chrono::sys_time");
    throw_mismatch(cell, origin, "a timestamp (std::chrono::local_time)");
  }
};

/// timestamptz: an instant. Text without a UTC offset is read as UTC (SQLite's CURRENT_TIMESTAMP writes so).
template <value_detail::HoldsMicroseconds D>
  requires(!std::is_same_v<D, std::chrono::days>)
struct FromCell<std::chrono::sys_time<D>> {
  static std::chrono::sys_time<D> decode(const Cell& cell, const CellOrigin& origin) {
    using Target = std::chrono::sys_time<D>;
    if (cell.kind == ValueKind::timestamptz) return value_detail::from_microseconds<Target>(cell.integer, origin);
    if (cell.kind == ValueKind::text)
      if (auto t = text_form::parse_timestamp(cell.text)) {
        if (t->local == Timestamp::max() || t->local == Timestamp::min())
          return value_detail::from_microseconds<Target>(t->local.time_since_epoch().count(), origin);
        const auto utc = t->local.time_since_epoch() - std::chrono::seconds(t->offset_seconds.value_or(0));
        return value_detail::from_microseconds<Target>(utc.count(), origin);
      }
    if (cell.kind == ValueKind::timestamp)
      throw TypeMismatchError(
          origin.describe() +
          " holds a timestamp without time zone, a wall-clock reading: read it as std::chrono::local_time");
    throw_mismatch(cell, origin, "a timestamptz (std::chrono::sys_time)");
  }
};

template <>
struct FromCell<Interval> {
  static Interval decode(const Cell& cell, const CellOrigin& origin) {
    if (cell.kind == ValueKind::interval)
      return Interval{cell.months, cell.days, std::chrono::microseconds(cell.integer)};
    if (cell.kind == ValueKind::text)
      if (auto v = text_form::parse_interval(cell.text)) return *v;
    throw_mismatch(cell, origin, "an interval");
  }
};

/// An interval as a duration: a day counts 24 hours; months have no fixed length and are refused, as is a
/// remainder finer than the duration's unit.
template <class R, class P>
struct FromCell<std::chrono::duration<R, P>> {
  static std::chrono::duration<R, P> decode(const Cell& cell, const CellOrigin& origin) {
    const Interval v = FromCell<Interval>::decode(cell, origin);
    if (v.is_infinite())
      throw ValueOutOfRangeError(origin.describe() + " is an infinite interval, which no duration holds");
    if (v.months != 0)
      throw TypeMismatchError(origin.describe() +
                              " is an interval with months, which have no fixed length: read it as keel::Interval");
    const std::chrono::microseconds total = std::chrono::days(v.days) + v.time;
    const auto converted = std::chrono::duration_cast<std::chrono::duration<R, P>>(total);
    if (std::chrono::duration_cast<std::chrono::microseconds>(converted) != total)
      throw ValueOutOfRangeError(origin.describe() + " is not a whole number of the requested duration's unit");
    return converted;
  }
};

/// A UUID, from the engine's uuid, its text, or 16 bytes.
template <>
struct FromCell<Uuid> {
  static Uuid decode(const Cell& cell, const CellOrigin& origin) {
    if ((cell.kind == ValueKind::uuid || cell.kind == ValueKind::blob) && cell.blob.size() == 16) {
      Uuid u{};
      std::memcpy(u.data, cell.blob.data(), 16);
      return u;
    }
    if (cell.kind == ValueKind::text)
      if (auto u = text_form::parse_uuid(cell.text)) return *u;
    throw_mismatch(cell, origin, "a UUID");
  }
};

/// An exact number, from numeric, its text, or an integer.
template <>
struct FromCell<Numeric> {
  static Numeric decode(const Cell& cell, const CellOrigin& origin) {
    if (cell.kind == ValueKind::numeric || cell.kind == ValueKind::text) return Numeric{std::string(cell.text)};
    if (cell.kind == ValueKind::integer) return Numeric{std::to_string(cell.integer)};
    throw_mismatch(
        cell, origin,
        "an exact number (keel::Numeric); store it as TEXT on SQLite, whose NUMERIC affinity rounds it to a double");
  }
};

template <>
struct FromCell<Json> {
  static Json decode(const Cell& cell, const CellOrigin& origin) {
    if (cell.kind == ValueKind::json || cell.kind == ValueKind::text) return Json{std::string(cell.text)};
    throw_mismatch(cell, origin, "JSON");
  }
};

}  // namespace keel
