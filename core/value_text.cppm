// The text forms of keel's time, interval and UUID values: ISO 8601 (an interval as PostgreSQL's iso_8601
// style writes it) and the canonical UUID form. An engine without these types (SQLite) stores them as this
// text, and reading a value from text parses it. Parsers return nullopt for text that is not of the form.
module;
#include <boost/uuid/uuid.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
export module keel.core:value_text;
import :value_types;

namespace keel::text_form_detail {

using std::chrono::microseconds;

constexpr std::int64_t us_per_second = 1'000'000;
constexpr std::int64_t us_per_day = 86'400 * us_per_second;

// ".5", ".123456": the fraction of a second with trailing zeros dropped, nothing for a whole second.
inline std::string fraction(std::int64_t us) {
  if (us == 0) return "";
  char b[16];
  std::snprintf(b, sizeof b, ".%06lld", static_cast<long long>(us));
  std::string s = b;
  while (s.back() == '0') s.pop_back();
  return s;
}

// A cursor over text being parsed.
struct Reader {
  std::string_view text;
  std::size_t at = 0;
  bool done() const { return at == text.size(); }
  bool peek(char c) const { return at < text.size() && text[at] == c; }
  bool take(char c) {
    if (!peek(c)) return false;
    ++at;
    return true;
  }
  // Exactly `count` digits (any number when count is 0, at least one).
  std::optional<std::int64_t> digits(std::size_t count = 0) {
    std::size_t end = at;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9' && (count == 0 || end - at < count)) ++end;
    if (end == at || (count != 0 && end - at != count)) return std::nullopt;
    std::int64_t v = 0;
    if (std::from_chars(text.data() + at, text.data() + end, v).ec != std::errc()) return std::nullopt;
    at = end;
    return v;
  }
  // ".ffffff" after seconds: up to microseconds kept, further digits dropped.
  std::int64_t fraction_us() {
    if (!take('.')) return 0;
    std::int64_t us = 0;
    int places = 0;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      if (places < 6) us = us * 10 + (text[at] - '0'), ++places;
      ++at;
    }
    for (; places < 6; ++places) us *= 10;
    return us;
  }
};

inline std::optional<std::chrono::sys_days> read_date(Reader& r) {
  const bool negative = r.take('-');
  const auto y = r.digits();
  if (!y || !r.take('-')) return std::nullopt;
  const auto m = r.digits(2);
  if (!m || !r.take('-')) return std::nullopt;
  const auto d = r.digits(2);
  if (!d || *y > 32767) return std::nullopt;  // std::chrono::year's range
  const std::chrono::year_month_day ymd{std::chrono::year(static_cast<int>(negative ? -*y : *y)),
                                        std::chrono::month(static_cast<unsigned>(*m)),
                                        std::chrono::day(static_cast<unsigned>(*d))};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days(ymd);
}

inline std::optional<microseconds> read_clock(Reader& r) {
  const auto h = r.digits(2);
  if (!h || !r.take(':')) return std::nullopt;
  const auto m = r.digits(2);
  if (!m) return std::nullopt;
  std::int64_t s = 0, us = 0;
  if (r.take(':')) {
    const auto sec = r.digits(2);
    if (!sec) return std::nullopt;
    s = *sec;
    us = r.fraction_us();
  }
  if (*h > 24 || *m > 59 || s > 60) return std::nullopt;
  const std::int64_t total = (*h * 3600 + *m * 60 + s) * us_per_second + us;
  if (total > us_per_day) return std::nullopt;
  return microseconds(total);
}

// "Z", or ±HH[[:]MM[[:]SS]]: seconds east of UTC.
inline std::optional<std::int64_t> read_offset(Reader& r) {
  if (r.take('Z') || r.take('z')) return 0;
  const bool east = r.peek('+');
  if (!r.take('+') && !r.take('-')) return std::nullopt;
  const auto h = r.digits(2);
  if (!h) return std::nullopt;
  std::int64_t seconds = *h * 3600;
  for (int unit : {60, 1}) {
    const bool colon = r.take(':');
    const auto part = r.digits(2);
    if (!part) {
      if (colon) return std::nullopt;
      break;
    }
    seconds += *part * unit;
  }
  return east ? seconds : -seconds;
}

// One signed number of an ISO 8601 duration, with its fraction when it is seconds.
inline std::optional<std::pair<std::int64_t, std::int64_t>> read_duration_number(Reader& r) {
  const bool negative = r.take('-');
  if (!negative) r.take('+');
  const auto whole = r.digits();
  if (!whole) return std::nullopt;
  const std::int64_t us = r.fraction_us();
  return std::pair{negative ? -*whole : *whole, negative ? -us : us};
}

}  // namespace keel::text_form_detail

export namespace keel::text_form {

/// "YYYY-MM-DD"; a year before 1 with a minus sign (ISO 8601's astronomical year: 0 is 1 BC); "infinity".
inline std::string date(std::chrono::sys_days d) {
  if (d == std::chrono::sys_days::max()) return "infinity";
  if (d == std::chrono::sys_days::min()) return "-infinity";
  const std::chrono::year_month_day ymd(d);
  const int y = static_cast<int>(ymd.year());
  char b[32];
  std::snprintf(b, sizeof b, "%s%04d-%02u-%02u", y < 0 ? "-" : "", y < 0 ? -y : y, static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return b;
}

/// "HH:MM:SS[.ffffff]".
inline std::string time(TimeOfDay t) {
  const std::int64_t us = t.since_midnight.count();
  const std::int64_t s = us / text_form_detail::us_per_second;
  char b[32];
  std::snprintf(b, sizeof b, "%02lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return b + text_form_detail::fraction(us % text_form_detail::us_per_second);
}

/// "YYYY-MM-DD HH:MM:SS[.ffffff]".
inline std::string timestamp(Timestamp t) {
  if (t == Timestamp::max()) return "infinity";
  if (t == Timestamp::min()) return "-infinity";
  const auto day = std::chrono::floor<std::chrono::days>(t);
  return date(std::chrono::sys_days(day.time_since_epoch())) + " " + time(TimeOfDay{t - day});
}

/// An instant in UTC: "YYYY-MM-DD HH:MM:SS[.ffffff]+00:00", which sorts as text in time order and which
/// SQLite's date functions read.
inline std::string timestamptz(TimestampTz t) {
  if (t == TimestampTz::max()) return "infinity";
  if (t == TimestampTz::min()) return "-infinity";
  return timestamp(Timestamp(t.time_since_epoch())) + "+00:00";
}

/// PostgreSQL's iso_8601 interval style: "P1Y2M3DT4H5M6.5S", each part signed on its own, "PT0S" for zero;
/// "infinity" and "-infinity" as PostgreSQL 17 writes them.
inline std::string interval(const Interval& v) {
  if (v == Interval::infinity()) return "infinity";
  if (v == Interval::minus_infinity()) return "-infinity";
  if (v.months == 0 && v.days == 0 && v.time.count() == 0) return "PT0S";
  std::string out = "P";
  if (v.months / 12) out += std::to_string(v.months / 12) + "Y";
  if (v.months % 12) out += std::to_string(v.months % 12) + "M";
  if (v.days) out += std::to_string(v.days) + "D";
  const std::int64_t us = v.time.count();
  if (us != 0) {
    const bool negative = us < 0;
    const std::int64_t a = negative ? -us : us;
    const std::int64_t s = a / text_form_detail::us_per_second;
    const std::string sign = negative ? "-" : "";
    out += "T";
    if (s / 3600) out += sign + std::to_string(s / 3600) + "H";
    if (s / 60 % 60) out += sign + std::to_string(s / 60 % 60) + "M";
    if (s % 60 || a % text_form_detail::us_per_second)
      out += sign + std::to_string(s % 60) + text_form_detail::fraction(a % text_form_detail::us_per_second) + "S";
  }
  return out;
}

/// 8-4-4-4-12 lowercase hexadecimal.
inline std::string uuid(const Uuid& u) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[u.data[i] >> 4];
    out += hex[u.data[i] & 15];
  }
  return out;
}

/// A date in date()'s form, or "infinity" or "-infinity".
inline std::optional<std::chrono::sys_days> parse_date(std::string_view text) {
  if (text == "infinity") return std::chrono::sys_days::max();
  if (text == "-infinity") return std::chrono::sys_days::min();
  text_form_detail::Reader r{text};
  auto d = text_form_detail::read_date(r);
  return d && r.done() ? d : std::nullopt;
}

/// A time of day, "HH:MM[:SS[.f]]" (up to 24:00:00).
inline std::optional<TimeOfDay> parse_time(std::string_view text) {
  text_form_detail::Reader r{text};
  auto t = text_form_detail::read_clock(r);
  if (!t || !r.done()) return std::nullopt;
  return TimeOfDay{*t};
}

/// A date and time, with the UTC offset it names if any: "YYYY-MM-DD[ T]HH:MM[:SS[.f]][Z|±HH[:MM]]", or a
/// date alone (midnight).
struct ParsedTimestamp {
  Timestamp local;                             ///< the date and time as written
  std::optional<std::int64_t> offset_seconds;  ///< the offset east of UTC it names, in seconds; none when it names none
};
/// The date and time of `text`, as ParsedTimestamp says, or "infinity" or "-infinity".
inline std::optional<ParsedTimestamp> parse_timestamp(std::string_view text) {
  if (text == "infinity") return ParsedTimestamp{Timestamp::max(), 0};
  if (text == "-infinity") return ParsedTimestamp{Timestamp::min(), 0};
  text_form_detail::Reader r{text};
  const auto d = text_form_detail::read_date(r);
  if (!d) return std::nullopt;
  ParsedTimestamp out{Timestamp(d->time_since_epoch()), std::nullopt};
  if (r.done()) return out;
  if (!r.take(' ') && !r.take('T')) return std::nullopt;
  const auto t = text_form_detail::read_clock(r);
  if (!t) return std::nullopt;
  out.local += *t;
  if (!r.done()) {
    out.offset_seconds = text_form_detail::read_offset(r);
    if (!out.offset_seconds || !r.done()) return std::nullopt;
  }
  return out;
}

/// An ISO 8601 duration, PostgreSQL's iso_8601 style included: "P1Y2M3W4DT5H6M7.5S", parts signed on their own.
inline std::optional<Interval> parse_interval(std::string_view text) {
  if (text == "infinity" || text == "+infinity") return Interval::infinity();
  if (text == "-infinity") return Interval::minus_infinity();
  text_form_detail::Reader r{text};
  if (!r.take('P')) return std::nullopt;
  std::int64_t months = 0, days = 0;
  std::chrono::microseconds time{};
  bool in_time = false, any = false;
  constexpr std::int64_t largest = 1'000'000'000'000;  // a bound on each number, far beyond what an interval holds
  while (!r.done()) {
    if (!in_time && r.take('T')) {
      in_time = true;
      continue;
    }
    const auto number = text_form_detail::read_duration_number(r);
    if (!number || r.done()) return std::nullopt;
    const auto [whole, us] = *number;
    if (whole > largest || whole < -largest) return std::nullopt;
    const char unit = r.text[r.at++];
    if (us != 0 && !(in_time && unit == 'S')) return std::nullopt;
    any = true;
    if (!in_time && unit == 'Y')
      months += whole * 12;
    else if (!in_time && unit == 'M')
      months += whole;
    else if (!in_time && unit == 'W')
      days += whole * 7;
    else if (!in_time && unit == 'D')
      days += whole;
    else if (in_time && unit == 'H')
      time += std::chrono::hours(whole);
    else if (in_time && unit == 'M')
      time += std::chrono::minutes(whole);
    else if (in_time && unit == 'S')
      time += std::chrono::seconds(whole) + std::chrono::microseconds(us);
    else
      return std::nullopt;
  }
  constexpr std::int64_t int32_max = std::numeric_limits<std::int32_t>::max();
  if (!any || months > int32_max || months < -int32_max || days > int32_max || days < -int32_max) return std::nullopt;
  return Interval{static_cast<std::int32_t>(months), static_cast<std::int32_t>(days), time};
}

/// The canonical form, upper or lower case, with or without hyphens and braces.
inline std::optional<Uuid> parse_uuid(std::string_view text) {
  Uuid u{};
  std::size_t n = 0;
  int high = -1;
  for (char c : text) {
    if (c == '-' || c == '{' || c == '}') continue;
    int v = -1;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v = c - 'A' + 10;
    if (v < 0 || n >= 16) return std::nullopt;
    if (high < 0)
      high = v;
    else {
      u.data[n++] = static_cast<std::uint8_t>(high << 4 | v);
      high = -1;
    }
  }
  if (n != 16 || high >= 0) return std::nullopt;
  return u;
}

}  // namespace keel::text_form
