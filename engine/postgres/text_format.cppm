// PostgreSQL's own text form of a value that arrived in binary: what the server would have sent in text
// format with its default output settings (DateStyle ISO, IntervalStyle postgres, bytea_output hex,
// extra_float_digits 1), in the session's TimeZone. keel-query --psql prints it, so that its output matches psql's.
module;
#include <date/tz.h>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>
export module keel.postgres:text_format;
import keel.core;
import keel.postgres.protocol;
import :codecs;

namespace proto = keel::pg::protocol;

namespace keel::pg::text_detail {

std::string two(long v) {
  char b[24];
  std::snprintf(b, sizeof b, "%02ld", v);
  return b;
}

// ".5", ".123456": microseconds with trailing zeros dropped, nothing for whole seconds.
std::string fraction(long microseconds) {
  if (microseconds == 0) return "";
  char b[16];
  std::snprintf(b, sizeof b, ".%06ld", microseconds);
  std::string s = b;
  while (s.back() == '0') s.pop_back();
  return s;
}

// HH:MM:SS[.ffffff] for a non-negative time of day.
std::string clock(std::chrono::microseconds t) {
  const long long us = t.count();
  const long long seconds = us / 1000000;
  return two(seconds / 3600) + ":" + two(seconds / 60 % 60) + ":" + two(seconds % 60) +
         fraction(static_cast<long>(us % 1000000));
}

// +HH[:MM[:SS]], as PostgreSQL writes a UTC offset.
std::string offset(long seconds_east) {
  std::string s = seconds_east < 0 ? "-" : "+";
  const long a = std::labs(seconds_east);
  s += two(a / 3600);
  if (a % 3600) {
    s += ":" + two(a / 60 % 60);
    if (a % 60) s += ":" + two(a % 60);
  }
  return s;
}

// YYYY-MM-DD, with " BC" kept apart for the caller (year 0 is 1 BC).
std::pair<std::string, bool> day(std::chrono::sys_days d) {
  const std::chrono::year_month_day ymd(d);
  int y = static_cast<int>(ymd.year());
  const bool bc = y <= 0;
  if (bc) y = 1 - y;
  char b[32];
  std::snprintf(b, sizeof b, "%04d-%02u-%02u", y, static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return {b, bc};
}

std::string date_time(std::chrono::sys_time<std::chrono::microseconds> t, std::string zone_suffix) {
  const auto d = std::chrono::floor<std::chrono::days>(t);
  const auto [text, bc] = day(d);
  return text + " " + clock(t - d) + zone_suffix + (bc ? " BC" : "");
}

// Shortest round-trip digits, laid out as PostgreSQL does: fixed notation for exponents from -4 to below
// `digits` (15 for float8, 6 for float4), scientific otherwise, with a signed exponent of at least two digits.
template <class F>
std::string floating(F v, int digits) {
  if (v != v) return "NaN";
  if (v == std::numeric_limits<F>::infinity()) return "Infinity";
  if (v == -std::numeric_limits<F>::infinity()) return "-Infinity";
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  char b[64];
  auto [end, ec] = std::to_chars(b, b + sizeof b, v, std::chars_format::scientific);
  std::string sci(b, end);  // d[.ddd]e±XX
  const std::size_t e = sci.find('e');
  const int exponent = std::atoi(sci.c_str() + e + 1);
  std::string mantissa = sci.substr(0, e);
  const bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits_only;
  for (char c : mantissa)
    if (c != '.') digits_only += c;
  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= digits) {
    out += digits_only.substr(0, 1);
    if (digits_only.size() > 1) out += "." + digits_only.substr(1);
    char ex[8];
    std::snprintf(ex, sizeof ex, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    return out + ex;
  }
  if (exponent < 0) return out + "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits_only;
  const std::size_t integer_digits = static_cast<std::size_t>(exponent) + 1;
  if (digits_only.size() <= integer_digits)
    return out + digits_only + std::string(integer_digits - digits_only.size(), '0');
  return out + digits_only.substr(0, integer_digits) + "." + digits_only.substr(integer_digits);
}

// IntervalStyle postgres: "1 year 2 mons 3 days 04:05:06.5", "-1 mons +2 days -00:00:03".
std::string interval(const Interval& v) {
  if (v == Interval::infinity()) return "infinity";
  if (v == Interval::minus_infinity()) return "-infinity";
  std::string out;
  bool is_zero = true, is_before = false;
  auto part = [&](long value, const char* unit) {
    if (value == 0) return;
    out += !is_zero ? " " : "";
    out += (is_before && value > 0) ? "+" : "";
    out += std::to_string(value) + " " + unit + (value != 1 ? "s" : "");
    is_before = value < 0;
    is_zero = false;
  };
  part(v.months / 12, "year");
  part(v.months % 12, "mon");
  part(v.days, "day");
  const long long us = v.time.count();
  if (is_zero || us != 0) {
    const long long a = us < 0 ? -us : us;
    const long long seconds = a / 1000000;
    out += is_zero ? "" : " ";
    out += us < 0 ? "-" : (is_before ? "+" : "");
    out += two(static_cast<long>(seconds / 3600)) + ":" + two(static_cast<long>(seconds / 60 % 60)) + ":" +
           two(static_cast<long>(seconds % 60)) + fraction(static_cast<long>(a % 1000000));
  }
  return out;
}

// An array element in array text: quoted when it is empty, says NULL, or holds a delimiter, brace, quote,
// backslash or space.
std::string array_element(std::string text) {
  bool quote = text.empty() || text == "NULL" || text == "null" || text == "Null";
  for (char c : text)
    if (c == '{' || c == '}' || c == ',' || c == '"' || c == '\\' || c == ' ' || c == '\t' || c == '\n' || c == '\r')
      quote = true;
  if (!quote) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace keel::pg::text_detail

export namespace keel::pg {

/// The session settings that shape text output.
struct TextSettings {
  std::string time_zone = "UTC";  ///< the TimeZone setting
};

/// PostgreSQL's text form of a cell. Text-format cells are returned as they are.
std::string postgres_text(std::uint32_t oid, proto::Format format, std::span<const std::uint8_t> b,
                          const TextSettings& settings) {
  using namespace text_detail;
  if (format == proto::Format::text) return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  switch (oid) {
    case types::boolean: return PgCodec<bool>::decode(oid, b) ? "t" : "f";
    case types::int2:
    case types::int4:
    case types::int8:
    case types::oid: return std::to_string(PgCodec<std::int64_t>::decode(oid, b));
    case types::float4: return floating(PgCodec<float>::decode(oid, b), 6);
    case types::float8: return floating(PgCodec<double>::decode(oid, b), 15);
    case types::numeric: return PgCodec<Numeric>::decode(oid, b).text;
    case types::bytea: {
      static constexpr char hex[] = "0123456789abcdef";
      std::string out = "\\x";
      for (std::uint8_t c : b) {
        out += hex[c >> 4];
        out += hex[c & 15];
      }
      return out;
    }
    case types::date: {
      const Date d = PgCodec<Date>::decode(oid, b);
      if (d.infinity) return d.infinity > 0 ? "infinity" : "-infinity";
      const auto [text, bc] = day(d.days);
      return text + (bc ? " BC" : "");
    }
    case types::time: return clock(PgCodec<Time>::decode(oid, b).since_midnight);
    case types::timetz: {
      const TimeTz t = PgCodec<TimeTz>::decode(oid, b);
      return clock(t.since_midnight) + offset(t.utc_offset_seconds);
    }
    case types::timestamp: {
      const Timestamp t = PgCodec<Timestamp>::decode(oid, b);
      if (t.infinity) return t.infinity > 0 ? "infinity" : "-infinity";
      return date_time(std::chrono::sys_time<std::chrono::microseconds>(t.time.time_since_epoch()), "");
    }
    case types::timestamptz: {
      const TimestampTz t = PgCodec<TimestampTz>::decode(oid, b);
      if (t == TimestampTz::max()) return "infinity";
      if (t == TimestampTz::min()) return "-infinity";
      long offset_seconds = 0;
      try {
        const date::time_zone* zone = date::locate_zone(settings.time_zone);
        offset_seconds = static_cast<long>(
            zone->get_info(date::sys_seconds(std::chrono::floor<std::chrono::seconds>(t))).offset.count());
      } catch (const std::exception&) {
        // A zone the tz database does not know (a POSIX spec such as "<+03>-03"): show UTC.
      }
      return date_time(t + std::chrono::seconds(offset_seconds), offset(offset_seconds));
    }
    case types::interval: return interval(PgCodec<Interval>::decode(oid, b));
    case types::uuid: return PgCodec<Uuid>::decode(oid, b).to_string();
    case types::json: return std::string(reinterpret_cast<const char*>(b.data()), b.size());
    case types::jsonb:
      if (b.empty() || b[0] != 1)
        throw ProtocolError("malformed jsonb value from the server: an unknown format version");
      return std::string(reinterpret_cast<const char*>(b.data()) + 1, b.size() - 1);
    case types::inet:
    case types::cidr: {
      const Inet v = PgCodec<Inet>::decode(oid, b);
      const bool full = v.prefix_length() == (v.address.is_v4() ? 32 : 128);
      return v.address.to_string() + ((v.is_cidr || !full) ? "/" + std::to_string(v.prefix_length()) : "");
    }
    default: break;
  }
  if (const std::uint32_t element = types::element_of(oid); element != 0) {
    // Arrays: decode the elements as raw bytes, then format each with its own type.
    proto::Reader r(b, 'D');
    const std::int32_t ndim = r.i32();
    (void)r.i32();
    const auto element_oid = static_cast<std::uint32_t>(r.i32());
    if (ndim < 0 || ndim > 6)
      throw ProtocolError("malformed array value from the server: an impossible number of dimensions");
    std::vector<std::int32_t> dims;
    std::string bounds;
    bool default_bounds = true;
    for (int d = 0; d < ndim; ++d) {
      dims.push_back(r.i32());
      const std::int32_t lower = r.i32();
      if (lower != 1) default_bounds = false;
      bounds += "[" + std::to_string(lower) + ":" + std::to_string(lower + dims.back() - 1) + "]";
    }
    if (ndim == 0) return "{}";
    std::string out = default_bounds ? "" : bounds + "=";
    std::vector<std::int32_t> index(static_cast<std::size_t>(ndim), 0);
    std::function<void(int)> level = [&](int d) {
      out += '{';
      for (std::int32_t i = 0; i < dims[static_cast<std::size_t>(d)]; ++i) {
        if (i) out += ',';
        if (d + 1 < ndim) {
          level(d + 1);
          continue;
        }
        const std::int32_t length = r.i32();
        if (length == -1) {
          out += "NULL";
          continue;
        }
        if (length < 0) throw ProtocolError("malformed array value from the server: a negative element length");
        out += array_element(
            postgres_text(element_oid, proto::Format::binary, r.bytes(static_cast<std::size_t>(length)), settings));
      }
      out += '}';
    };
    level(0);
    return out;
  }
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

}  // namespace keel::pg
