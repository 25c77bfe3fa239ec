// Binary codecs between PostgreSQL's types and C++ types: PgCodec<T> says which type OID a T is sent as,
// how to encode it, and how to decode it from the types it accepts. Pure functions over bytes; errors are
// ProtocolError (bytes the type cannot hold) or TypeMismatchError (a column read as the wrong C++ type).
//   bool, int16/32/64, float, double, std::string, keel::Blob, keel::pg::Numeric (exact), Date, Time, TimeTz,
//   Timestamp (without time zone), std::chrono::sys_time<microseconds> (timestamptz), Interval, Uuid,
//   boost::json::value (json, jsonb), Inet (inet, cidr), std::vector<T> and std::vector<std::optional<T>>
//   (one-dimensional arrays; Array<T> for any number of dimensions), std::optional<T> for NULL.
module;
#include <boost/asio/ip/address.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <array>
#include <bit>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <typeindex>
#include <typeinfo>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>
export module keel.postgres:codecs;
import keel.core;
import keel.postgres.protocol;

namespace proto = keel::pg::protocol;

export namespace keel::pg {

// ---- Type OIDs.
namespace types {
///@{
/// The OIDs of the built-in types keel has codecs for.
constexpr std::uint32_t boolean = 16, bytea = 17, name = 19, int8 = 20, int2 = 21, int4 = 23, text = 25, oid = 26,
                        json = 114, float4 = 700, float8 = 701, unknown = 705, inet = 869, cidr = 650, bpchar = 1042,
                        varchar = 1043, date = 1082, time = 1083, timestamp = 1114, timestamptz = 1184, interval = 1186,
                        timetz = 1266, numeric = 1700, uuid = 2950, jsonb = 3802;
///@}
/// The array type of each element type.
constexpr std::uint32_t array_of(std::uint32_t element) {
  switch (element) {
    case boolean: return 1000;
    case bytea: return 1001;
    case name: return 1003;
    case int2: return 1005;
    case int4: return 1007;
    case text: return 1009;
    case bpchar: return 1014;
    case varchar: return 1015;
    case int8: return 1016;
    case float4: return 1021;
    case float8: return 1022;
    case oid: return 1028;
    case inet: return 1041;
    case cidr: return 651;
    case json: return 199;
    case jsonb: return 3807;
    case date: return 1182;
    case time: return 1183;
    case timestamp: return 1115;
    case timestamptz: return 1185;
    case interval: return 1187;
    case timetz: return 1270;
    case numeric: return 1231;
    case uuid: return 2951;
    default: return 0;
  }
}
/// The element type of an array type; 0 for a type that is not an array keel knows.
constexpr std::uint32_t element_of(std::uint32_t array) {
  switch (array) {  // array_of, inverted: a switch, since every result cell of an unlisted type asks
    case 1000: return boolean;
    case 1001: return bytea;
    case 1003: return name;
    case 1005: return int2;
    case 1007: return int4;
    case 1009: return text;
    case 1014: return bpchar;
    case 1015: return varchar;
    case 1016: return int8;
    case 1021: return float4;
    case 1022: return float8;
    case 1028: return oid;
    case 1041: return inet;
    case 651: return cidr;
    case 199: return json;
    case 3807: return jsonb;
    case 1182: return date;
    case 1183: return time;
    case 1115: return timestamp;
    case 1185: return timestamptz;
    case 1187: return interval;
    case 1270: return timetz;
    case 1231: return numeric;
    case 2951: return uuid;
    default: return 0;
  }
}
static_assert(
    [] {
      for (std::uint32_t e :
           {boolean, bytea, name, int2,  int4, text, bpchar,    varchar,     int8,     float4, float8,  oid,
            inet,    cidr,  json, jsonb, date, time, timestamp, timestamptz, interval, timetz, numeric, uuid})
        if (element_of(array_of(e)) != e) return false;
      return true;
    }(),
    "element_of inverts array_of");
}  // namespace types

// ---- Value types for what C++ has no type for.

/// numeric, interval and time are keel's own value types (keel.engine), under the names the client has used.
///@{
using Numeric = keel::Numeric;
using Interval = keel::Interval;
using Time = keel::TimeOfDay;
///@}

/// Days since 1970-01-01 (std::chrono::sys_days), or ±infinity.
struct Date {
  std::chrono::sys_days days{};  ///< the date, when it is finite
  int infinity = 0;              ///< +1 'infinity', -1 '-infinity'
  /// Equal field by field.
  friend bool operator==(const Date&, const Date&) = default;
};

/// A time of day with its UTC offset (seconds east of UTC, as ISO 8601 writes it).
struct TimeTz {
  std::chrono::microseconds since_midnight{};  ///< the time since midnight, local
  std::int32_t utc_offset_seconds = 0;         ///< the offset, in seconds east of UTC
  /// Equal field by field.
  friend bool operator==(const TimeTz&, const TimeTz&) = default;
};

/// A timestamp without time zone: a wall-clock reading, not an instant.
struct Timestamp {
  std::chrono::local_time<std::chrono::microseconds> time{};  ///< the reading, when it is finite
  int infinity = 0;                                           ///< +1 'infinity', -1 '-infinity', 0 for a finite reading
  /// Equal field by field.
  friend bool operator==(const Timestamp&, const Timestamp&) = default;
};

/// timestamptz is an instant: std::chrono::sys_time<microseconds> (±infinity are the extreme values).
using TimestampTz = keel::TimestampTz;

/// A UUID as the client's typed API takes it: its 16 bytes (keel::Uuid is Boost's).
struct Uuid {
  std::array<std::uint8_t, 16> bytes{};  ///< the 16 bytes, in the order the text writes them
  /// Equal when the bytes are.
  friend bool operator==(const Uuid&, const Uuid&) = default;
  /// 8-4-4-4-12 hexadecimal.
  std::string to_string() const {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < 16; ++i) {
      if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
      out += hex[bytes[i] >> 4];
      out += hex[bytes[i] & 15];
    }
    return out;
  }
  /// Parses the canonical form (hyphens and braces optional, either case); throws ValueError for other text.
  static Uuid parse(std::string_view text) {
    Uuid u;
    std::size_t n = 0;
    auto nibble = [&](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int high = -1;
    for (char c : text) {
      if (c == '-' || c == '{' || c == '}') continue;
      const int v = nibble(c);
      if (v < 0 || n >= 16) throw ValueError("not a UUID: " + std::string(text));
      if (high < 0)
        high = v;
      else {
        u.bytes[n++] = static_cast<std::uint8_t>(high << 4 | v);
        high = -1;
      }
    }
    if (n != 16 || high >= 0) throw ValueError("not a UUID: " + std::string(text));
    return u;
  }
};

/// inet and cidr: an address and a prefix length.
struct Inet {
  boost::asio::ip::address address;  ///< the address
  int prefix = -1;                   ///< -1: the full length (32 or 128)
  bool is_cidr = false;              ///< cidr rather than inet
  /// Equal when the addresses, the prefix lengths and the kinds are.
  friend bool operator==(const Inet& a, const Inet& b) {
    return a.address == b.address && a.prefix_length() == b.prefix_length() && a.is_cidr == b.is_cidr;
  }
  /// The prefix length: `prefix`, or the address's full length.
  int prefix_length() const { return prefix >= 0 ? prefix : (address.is_v4() ? 32 : 128); }
};

}  // namespace keel::pg

// ---- Helpers over bytes (not exported).
namespace keel::pg::codec_detail {

inline std::uint64_t read_be(proto::Bytes b, std::size_t at, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | b[at + i];
  return v;
}
// The low n bytes of v, big-endian, at p.
inline void store_be(std::uint8_t* p, std::uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * (n - 1 - i)));
}
// Appends the low n bytes of v, big-endian. Any byte container: the fixed-width codecs below also write straight
// into a query's inline value buffer. One resize and plain stores: a push_back per byte costs several times more.
template <class Buffer>
inline void write_be(Buffer& out, std::uint64_t v, std::size_t n) {
  const std::size_t at = out.size();
  out.resize(at + n);
  store_be(out.data() + at, v, n);
}
[[noreturn]] inline void bad(std::string_view type, std::string_view problem) {
  throw ProtocolError("malformed " + std::string(type) + " value from the server: " + std::string(problem));
}
inline void need(proto::Bytes b, std::size_t n, std::string_view type) {
  if (b.size() != n) bad(type, std::to_string(b.size()) + " bytes where " + std::to_string(n) + " are needed");
}
[[noreturn]] inline void mismatch(std::uint32_t oid, std::string_view wanted) {
  throw TypeMismatchError("a value of PostgreSQL type OID " + std::to_string(oid) + " cannot be read as " +
                          std::string(wanted));
}

// PostgreSQL's epoch, 2000-01-01, against 1970-01-01.
constexpr std::int64_t epoch_days = 10957;
constexpr std::int64_t epoch_microseconds = epoch_days * 86400LL * 1000000LL;

// Microseconds since PostgreSQL's epoch to microseconds since 1970, and back. Every instant PostgreSQL can hold
// fits both ways; one that does not came from a malformed message, or is a user's value PostgreSQL cannot hold.
inline std::int64_t from_server_epoch(std::int64_t us, std::string_view type) {
  std::int64_t shifted = 0;
  if (__builtin_add_overflow(us, epoch_microseconds, &shifted)) bad(type, "an instant out of range");
  return shifted;
}
inline std::int64_t to_server_epoch(std::int64_t us, std::string_view type) {
  std::int64_t shifted = 0;
  // INT64_MIN and INT64_MAX stand for -infinity and infinity: a finite instant may not become one.
  if (__builtin_sub_overflow(us, epoch_microseconds, &shifted) || shifted == std::numeric_limits<std::int64_t>::min())
    throw ValueOutOfRangeError("the instant does not fit PostgreSQL's " + std::string(type));
  return shifted;
}

}  // namespace keel::pg::codec_detail

export namespace keel::pg {

/// The codec of T: oid (what T is sent as), encode, decode(oid, bytes).
/// keel has codecs for bool, integers, floating point, std::string, Blob, Numeric, Date, Time, TimeTz, Timestamp,
/// TimestampTz, Interval, Uuid, boost::json::value, Inet, std::optional, std::vector and Array.
template <class T>
struct PgCodec;

/// Whether a T can be sent: PgCodec<T> names its OID and encodes it.
template <class T>
concept PgEncodable = requires(const T& v, proto::ByteBuffer& out) {
  { PgCodec<T>::oid } -> std::convertible_to<std::uint32_t>;
  PgCodec<T>::encode(v, out);
};
/// Whether a T can be read: PgCodec<T> decodes it.
template <class T>
concept PgDecodable = requires(std::uint32_t oid, proto::Bytes b) {
  { PgCodec<T>::decode(oid, b) } -> std::same_as<T>;
};

template <>
struct PgCodec<bool> {
  static constexpr std::uint32_t oid = types::boolean;
  static constexpr std::size_t binary_size = 1;
  template <class Buffer>
  static void encode(bool v, Buffer& out) {
    out.push_back(v ? 1 : 0);
  }
  static bool decode(std::uint32_t oid, proto::Bytes b) {
    if (oid != types::boolean) codec_detail::mismatch(oid, "bool");
    codec_detail::need(b, 1, "bool");
    return b[0] != 0;
  }
};

template <std::integral T>
  requires(!std::same_as<T, bool> && sizeof(T) <= 8)
struct PgCodec<T> {
  static constexpr std::uint32_t oid = sizeof(T) <= 2 ? types::int2 : sizeof(T) == 4 ? types::int4 : types::int8;
  static constexpr std::size_t binary_size = oid == types::int2 ? 2 : oid == types::int4 ? 4 : 8;
  template <class Buffer>
  static void encode(T v, Buffer& out) {
    // An unsigned value may not fit the signed type of its width (4,000,000,000 as int4): refused, not wrapped.
    using Wire = std::conditional_t<binary_size == 2, std::int16_t,
                                    std::conditional_t<binary_size == 4, std::int32_t, std::int64_t>>;
    if constexpr (std::is_unsigned_v<T>)
      if (!std::in_range<Wire>(v))
        throw ValueOutOfRangeError("the integer " + std::to_string(v) + " does not fit PostgreSQL's " +
                                   (binary_size == 2   ? "smallint"
                                    : binary_size == 4 ? "integer"
                                                       : "bigint"));
    codec_detail::write_be(out, static_cast<std::uint64_t>(static_cast<std::int64_t>(v)), binary_size);
  }
  static T decode(std::uint32_t oid, proto::Bytes b) {
    std::int64_t v = 0;
    switch (oid) {
      case types::int2:
        codec_detail::need(b, 2, "int2");
        v = static_cast<std::int16_t>(codec_detail::read_be(b, 0, 2));
        break;
      case types::int4:
        codec_detail::need(b, 4, "int4");
        v = static_cast<std::int32_t>(codec_detail::read_be(b, 0, 4));
        break;
      case types::int8:
        codec_detail::need(b, 8, "int8");
        v = static_cast<std::int64_t>(codec_detail::read_be(b, 0, 8));
        break;
      case types::oid:
        codec_detail::need(b, 4, "oid");
        v = static_cast<std::uint32_t>(codec_detail::read_be(b, 0, 4));
        break;
      default: codec_detail::mismatch(oid, "an integer");
    }
    if (!std::in_range<T>(v))
      throw ValueOutOfRangeError("the value " + std::to_string(v) + " does not fit the requested integer type");
    return static_cast<T>(v);
  }
};

template <std::floating_point T>
struct PgCodec<T> {
  static constexpr std::uint32_t oid = sizeof(T) == 4 ? types::float4 : types::float8;
  static constexpr std::size_t binary_size = sizeof(T) == 4 ? 4 : 8;
  template <class Buffer>
  static void encode(T v, Buffer& out) {
    if constexpr (sizeof(T) == 4)
      codec_detail::write_be(out, std::bit_cast<std::uint32_t>(v), 4);
    else
      codec_detail::write_be(out, std::bit_cast<std::uint64_t>(static_cast<double>(v)), 8);
  }
  static T decode(std::uint32_t oid, proto::Bytes b) {
    if (oid == types::float4) {
      codec_detail::need(b, 4, "float4");
      return static_cast<T>(std::bit_cast<float>(static_cast<std::uint32_t>(codec_detail::read_be(b, 0, 4))));
    }
    if (oid == types::float8) {
      codec_detail::need(b, 8, "float8");
      return static_cast<T>(std::bit_cast<double>(codec_detail::read_be(b, 0, 8)));
    }
    if (oid == types::int2 || oid == types::int4 || oid == types::int8)
      return static_cast<T>(PgCodec<std::int64_t>::decode(oid, b));
    codec_detail::mismatch(oid, "a floating-point number");
  }
};

/// Whether a type is read as text: text, varchar, bpchar, name, or an untyped literal (unknown).
inline bool is_text_type(std::uint32_t oid) {
  return oid == types::text || oid == types::varchar || oid == types::bpchar || oid == types::name ||
         oid == types::unknown;
}

template <>
struct PgCodec<std::string> {
  static constexpr std::uint32_t oid = types::text;
  static void encode(std::string_view v, proto::ByteBuffer& out) { out.insert(out.end(), v.begin(), v.end()); }
  static std::string decode(std::uint32_t oid, proto::Bytes b) {
    if (!is_text_type(oid) && oid != types::json) codec_detail::mismatch(oid, "text");
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  }
};
template <>
struct PgCodec<std::string_view> {
  static constexpr std::uint32_t oid = types::text;
  static void encode(std::string_view v, proto::ByteBuffer& out) { out.insert(out.end(), v.begin(), v.end()); }
};
template <>
struct PgCodec<const char*> {
  static constexpr std::uint32_t oid = types::text;
  static void encode(const char* v, proto::ByteBuffer& out) { PgCodec<std::string_view>::encode(v, out); }
};

template <>
struct PgCodec<Blob> {
  static constexpr std::uint32_t oid = types::bytea;
  static void encode(const Blob& v, proto::ByteBuffer& out) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(v.data());
    out.insert(out.end(), p, p + v.size());
  }
  static Blob decode(std::uint32_t oid, proto::Bytes b) {
    if (oid != types::bytea) codec_detail::mismatch(oid, "bytea");
    const auto* p = reinterpret_cast<const std::byte*>(b.data());
    return Blob(p, p + b.size());
  }
};

// numeric: base-10000 digits, a weight (the power of 10000 of the first digit), a sign and a display scale.
template <>
struct PgCodec<Numeric> {
  static constexpr std::uint32_t oid = types::numeric;
  static constexpr std::uint16_t positive = 0x0000, negative = 0x4000, nan = 0xC000, pinf = 0xD000, ninf = 0xF000;

  static Numeric decode(std::uint32_t oid, proto::Bytes b) {
    if (oid != types::numeric) codec_detail::mismatch(oid, "numeric");
    if (b.size() < 8) codec_detail::bad("numeric", "shorter than its header");
    const auto ndigits = static_cast<std::size_t>(codec_detail::read_be(b, 0, 2));
    const auto weight = static_cast<std::int16_t>(codec_detail::read_be(b, 2, 2));
    const auto sign = static_cast<std::uint16_t>(codec_detail::read_be(b, 4, 2));
    const auto dscale = static_cast<std::size_t>(codec_detail::read_be(b, 6, 2));
    if (b.size() != 8 + 2 * ndigits) codec_detail::bad("numeric", "its digit count does not match its length");
    if (sign == nan) return {"NaN"};
    if (sign == pinf) return {"Infinity"};
    if (sign == ninf) return {"-Infinity"};
    if (sign != positive && sign != negative) codec_detail::bad("numeric", "an unknown sign");
    std::vector<int> digits(ndigits);
    for (std::size_t i = 0; i < ndigits; ++i) {
      digits[i] = static_cast<int>(codec_detail::read_be(b, 8 + 2 * i, 2));
      if (digits[i] > 9999) codec_detail::bad("numeric", "a digit above 9999");
    }
    std::string out;
    if (sign == negative) out += '-';
    // The integer part: base-10000 digits at weights weight..0.
    if (weight < 0)
      out += '0';
    else {
      for (int w = 0; w <= weight; ++w) {
        const int d = w < static_cast<int>(ndigits) ? digits[w] : 0;
        std::string group = std::to_string(d);
        if (w > 0) group.insert(0, 4 - group.size(), '0');
        out += group;
      }
    }
    if (dscale > 0) {
      out += '.';
      std::string fraction;
      for (int w = weight + 1; fraction.size() < dscale; ++w) {
        const int index = w;  // digits[index] has weight weight - index
        const int d = index >= 0 && index < static_cast<int>(ndigits) ? digits[index] : 0;
        std::string group = std::to_string(d);
        group.insert(0, 4 - group.size(), '0');
        fraction += group;
      }
      out += fraction.substr(0, dscale);
    }
    return {out};
  }

  static void encode(const Numeric& v, proto::ByteBuffer& out) {
    std::string_view t = v.text;
    auto header = [&](std::size_t ndigits, int weight, std::uint16_t sign, std::size_t dscale) {
      codec_detail::write_be(out, ndigits, 2);
      codec_detail::write_be(out, static_cast<std::uint16_t>(static_cast<std::int16_t>(weight)), 2);
      codec_detail::write_be(out, sign, 2);
      codec_detail::write_be(out, dscale, 2);
    };
    if (t == "NaN") return header(0, 0, nan, 0);
    if (t == "Infinity" || t == "+Infinity") return header(0, 0, pinf, 0);
    if (t == "-Infinity") return header(0, 0, ninf, 0);
    std::uint16_t sign = positive;
    if (!t.empty() && (t[0] == '-' || t[0] == '+')) {
      if (t[0] == '-') sign = negative;
      t.remove_prefix(1);
    }
    const std::size_t dot = t.find('.');
    std::string integer(t.substr(0, dot));
    std::string fraction(dot == std::string_view::npos ? std::string_view{} : t.substr(dot + 1));
    if ((integer.empty() && fraction.empty()) ||
        (integer + fraction).find_first_not_of("0123456789") != std::string::npos)
      throw ValueError("not a decimal number: \"" + v.text + "\"");
    const std::size_t dscale = fraction.size();
    // Pad to whole base-10000 groups: the integer part on the left, the fraction on the right.
    integer.insert(0, (4 - integer.size() % 4) % 4, '0');
    fraction.append((4 - fraction.size() % 4) % 4, '0');
    std::vector<int> groups;
    for (std::size_t i = 0; i < integer.size(); i += 4) groups.push_back(std::stoi(integer.substr(i, 4)));
    const int integer_groups = static_cast<int>(groups.size());
    for (std::size_t i = 0; i < fraction.size(); i += 4) groups.push_back(std::stoi(fraction.substr(i, 4)));
    int weight = integer_groups - 1;
    // Strip leading and trailing zero groups.
    std::size_t first = 0;
    while (first < groups.size() && groups[first] == 0) {
      ++first;
      --weight;
    }
    std::size_t last = groups.size();
    while (last > first && groups[last - 1] == 0) --last;
    if (first == last) return header(0, 0, positive, dscale);
    header(last - first, weight, sign, dscale);
    for (std::size_t i = first; i < last; ++i) codec_detail::write_be(out, static_cast<std::uint64_t>(groups[i]), 2);
  }
};

template <>
struct PgCodec<Date> {
  static constexpr std::uint32_t oid = types::date;
  static constexpr std::size_t binary_size = 4;
  template <class Buffer>
  static void encode(const Date& v, Buffer& out) {
    std::int64_t days = v.days.time_since_epoch().count() - codec_detail::epoch_days;
    if (v.infinity > 0) days = std::numeric_limits<std::int32_t>::max();
    if (v.infinity < 0) days = std::numeric_limits<std::int32_t>::min();
    codec_detail::write_be(out, static_cast<std::uint32_t>(static_cast<std::int32_t>(days)), 4);
  }
  static Date decode(std::uint32_t oid, proto::Bytes b) {
    if (oid != types::date) codec_detail::mismatch(oid, "date");
    codec_detail::need(b, 4, "date");
    const auto days = static_cast<std::int32_t>(codec_detail::read_be(b, 0, 4));
    if (days == std::numeric_limits<std::int32_t>::max()) return Date{{}, 1};
    if (days == std::numeric_limits<std::int32_t>::min()) return Date{{}, -1};
    return Date{std::chrono::sys_days(std::chrono::days(days + codec_detail::epoch_days)), 0};
  }
};

template <>
struct PgCodec<Time> {
  static constexpr std::uint32_t oid = types::time;
  static void encode(const Time& v, proto::ByteBuffer& out) {
    codec_detail::write_be(out, static_cast<std::uint64_t>(v.since_midnight.count()), 8);
  }
  static Time decode(std::uint32_t oid, proto::Bytes b) {
    if (oid != types::time) codec_detail::mismatch(oid, "time");
    codec_detail::need(b, 8, "time");
    return Time{std::chrono::microseconds(static_cast<std::int64_t>(codec_detail::read_be(b, 0, 8)))};
  }
};

template <>
struct PgCodec<TimeTz> {
  static constexpr std::uint32_t oid = types::timetz;
  static void encode(const TimeTz& v, proto::ByteBuffer& out) {
    codec_detail::write_be(out, static_cast<std::uint64_t>(v.since_midnight.count()), 8);
    // PostgreSQL stores the offset in seconds west of UTC.
    codec_detail::write_be(out, static_cast<std::uint32_t>(-v.utc_offset_seconds), 4);
  }
  static TimeTz decode(std::uint32_t oid, proto::Bytes b) {
    if (oid != types::timetz) codec_detail::mismatch(oid, "timetz");
    codec_detail::need(b, 12, "timetz");
    return TimeTz{std::chrono::microseconds(static_cast<std::int64_t>(codec_detail::read_be(b, 0, 8))),
                  -static_cast<std::int32_t>(codec_detail::read_be(b, 8, 4))};
  }
};

template <>
struct PgCodec<Timestamp> {
  static constexpr std::uint32_t oid = types::timestamp;
  static constexpr std::size_t binary_size = 8;
  template <class Buffer>
  static void encode(const Timestamp& v, Buffer& out) {
    std::int64_t us = 0;
    if (v.infinity > 0)
      us = std::numeric_limits<std::int64_t>::max();
    else if (v.infinity < 0)
      us = std::numeric_limits<std::int64_t>::min();
    else
      us = codec_detail::to_server_epoch(v.time.time_since_epoch().count(), "timestamp");
    codec_detail::write_be(out, static_cast<std::uint64_t>(us), 8);
  }
  static Timestamp decode(std::uint32_t oid, proto::Bytes b) {
    if (oid != types::timestamp) codec_detail::mismatch(oid, "timestamp");
    codec_detail::need(b, 8, "timestamp");
    const auto us = static_cast<std::int64_t>(codec_detail::read_be(b, 0, 8));
    if (us == std::numeric_limits<std::int64_t>::max()) return Timestamp{{}, 1};
    if (us == std::numeric_limits<std::int64_t>::min()) return Timestamp{{}, -1};
    return Timestamp{std::chrono::local_time<std::chrono::microseconds>(
                         std::chrono::microseconds(codec_detail::from_server_epoch(us, "timestamp"))),
                     0};
  }
};

template <>
struct PgCodec<TimestampTz> {
  static constexpr std::uint32_t oid = types::timestamptz;
  // ±infinity are TimestampTz::max() and ::min().
  static constexpr std::size_t binary_size = 8;
  template <class Buffer>
  static void encode(const TimestampTz& v, Buffer& out) {
    std::int64_t us = v.time_since_epoch().count();
    if (v == TimestampTz::max())
      us = std::numeric_limits<std::int64_t>::max();
    else if (v == TimestampTz::min())
      us = std::numeric_limits<std::int64_t>::min();
    else
      us = codec_detail::to_server_epoch(us, "timestamptz");
    codec_detail::write_be(out, static_cast<std::uint64_t>(us), 8);
  }
  static TimestampTz decode(std::uint32_t oid, proto::Bytes b) {
    if (oid != types::timestamptz) codec_detail::mismatch(oid, "timestamptz");
    codec_detail::need(b, 8, "timestamptz");
    const auto us = static_cast<std::int64_t>(codec_detail::read_be(b, 0, 8));
    if (us == std::numeric_limits<std::int64_t>::max()) return TimestampTz::max();
    if (us == std::numeric_limits<std::int64_t>::min()) return TimestampTz::min();
    return TimestampTz(std::chrono::microseconds(codec_detail::from_server_epoch(us, "timestamptz")));
  }
};

template <>
struct PgCodec<Interval> {
  static constexpr std::uint32_t oid = types::interval;
  static void encode(const Interval& v, proto::ByteBuffer& out) {
    codec_detail::write_be(out, static_cast<std::uint64_t>(v.time.count()), 8);
    codec_detail::write_be(out, static_cast<std::uint32_t>(v.days), 4);
    codec_detail::write_be(out, static_cast<std::uint32_t>(v.months), 4);
  }
  static Interval decode(std::uint32_t oid, proto::Bytes b) {
    if (oid != types::interval) codec_detail::mismatch(oid, "interval");
    codec_detail::need(b, 16, "interval");
    return Interval{static_cast<std::int32_t>(codec_detail::read_be(b, 12, 4)),
                    static_cast<std::int32_t>(codec_detail::read_be(b, 8, 4)),
                    std::chrono::microseconds(static_cast<std::int64_t>(codec_detail::read_be(b, 0, 8)))};
  }
};

template <>
struct PgCodec<Uuid> {
  static constexpr std::uint32_t oid = types::uuid;
  static void encode(const Uuid& v, proto::ByteBuffer& out) { out.insert(out.end(), v.bytes.begin(), v.bytes.end()); }
  static Uuid decode(std::uint32_t oid, proto::Bytes b) {
    if (oid != types::uuid) codec_detail::mismatch(oid, "uuid");
    codec_detail::need(b, 16, "uuid");
    Uuid u;
    std::copy(b.begin(), b.end(), u.bytes.begin());
    return u;
  }
};

// json and jsonb, through Boost.JSON; sent as jsonb.
template <>
struct PgCodec<boost::json::value> {
  static constexpr std::uint32_t oid = types::jsonb;
  static void encode(const boost::json::value& v, proto::ByteBuffer& out) {
    out.push_back(1);  // jsonb's binary format version
    const std::string text = boost::json::serialize(v);
    out.insert(out.end(), text.begin(), text.end());
  }
  static boost::json::value decode(std::uint32_t oid, proto::Bytes b) {
    std::string_view text(reinterpret_cast<const char*>(b.data()), b.size());
    if (oid == types::jsonb) {
      if (b.empty() || b[0] != 1) codec_detail::bad("jsonb", "an unknown format version");
      text.remove_prefix(1);
    } else if (oid != types::json) {
      codec_detail::mismatch(oid, "json");
    }
    boost::system::error_code ec;
    auto value = boost::json::parse(text, ec);
    if (ec) codec_detail::bad("json", ec.message());
    return value;
  }
};

template <>
struct PgCodec<Inet> {
  static constexpr std::uint32_t oid = types::inet;
  static void encode(const Inet& v, proto::ByteBuffer& out) {
    const bool v4 = v.address.is_v4();
    out.push_back(v4 ? 2 : 3);  // PGSQL_AF_INET, PGSQL_AF_INET6
    out.push_back(static_cast<std::uint8_t>(v.prefix_length()));
    out.push_back(v.is_cidr ? 1 : 0);
    if (v4) {
      const auto bytes = v.address.to_v4().to_bytes();
      out.push_back(4);
      out.insert(out.end(), bytes.begin(), bytes.end());
    } else {
      const auto bytes = v.address.to_v6().to_bytes();
      out.push_back(16);
      out.insert(out.end(), bytes.begin(), bytes.end());
    }
  }
  static Inet decode(std::uint32_t oid, proto::Bytes b) {
    if (oid != types::inet && oid != types::cidr) codec_detail::mismatch(oid, "inet");
    if (b.size() < 4) codec_detail::bad("inet", "shorter than its header");
    const std::uint8_t family = b[0], bits = b[1], is_cidr = b[2], length = b[3];
    Inet v;
    v.is_cidr = is_cidr != 0;
    if (family == 2 && length == 4 && b.size() == 8 && bits <= 32) {
      boost::asio::ip::address_v4::bytes_type bytes;
      std::copy(b.begin() + 4, b.end(), bytes.begin());
      v.address = boost::asio::ip::address_v4(bytes);
    } else if (family == 3 && length == 16 && b.size() == 20 && bits <= 128) {
      boost::asio::ip::address_v6::bytes_type bytes;
      std::copy(b.begin() + 4, b.end(), bytes.begin());
      v.address = boost::asio::ip::address_v6(bytes);
    } else {
      codec_detail::bad("inet", "an unknown address family or length");
    }
    v.prefix = bits;
    return v;
  }
};

// NULL or a value.
template <class T>
struct PgCodec<std::optional<T>> {
  static constexpr std::uint32_t oid = PgCodec<T>::oid;
};

// ---- Arrays: n dimensions, with NULL elements.

/// An array of any number of dimensions, flattened in row-major order.
template <class T>
struct Array {
  std::vector<int> dimensions;             ///< empty for an empty array
  std::vector<std::optional<T>> elements;  ///< product(dimensions) elements
  /// Equal when the dimensions and the elements are.
  friend bool operator==(const Array&, const Array&) = default;
};

}  // namespace keel::pg

namespace keel::pg::codec_detail {

template <class T>
void encode_array(const std::vector<int>& dimensions, const std::vector<std::optional<T>>& elements,
                  proto::ByteBuffer& out) {
  bool has_null = false;
  for (const auto& e : elements) has_null = has_null || !e;
  write_be(out, dimensions.size(), 4);
  write_be(out, has_null ? 1 : 0, 4);
  write_be(out, PgCodec<T>::oid, 4);
  for (int d : dimensions) {
    write_be(out, static_cast<std::uint32_t>(d), 4);
    write_be(out, 1, 4);  // lower bound
  }
  for (const auto& e : elements) {
    if (!e) {
      write_be(out, 0xFFFFFFFFu, 4);
      continue;
    }
    const std::size_t at = out.size();
    write_be(out, 0, 4);
    PgCodec<T>::encode(*e, out);
    const std::size_t length = out.size() - at - 4;
    for (int i = 0; i < 4; ++i) out[at + i] = static_cast<std::uint8_t>(length >> (24 - 8 * i));
  }
}

// The layout of an array's binary form: its dimensions, its element type, and where its elements begin.
struct ArrayLayout {
  std::vector<int> dimensions;  // empty for an empty array
  std::uint32_t element_oid = 0;
  std::size_t count = 0;        // the elements of all dimensions
  std::size_t elements_at = 0;  // the offset of the first element's length
};
inline ArrayLayout read_array_layout(proto::Bytes b) {
  if (b.size() < 12) bad("array", "shorter than its header");
  const auto ndim = static_cast<std::int32_t>(read_be(b, 0, 4));
  if (ndim < 0 || ndim > 6) bad("array", "an impossible number of dimensions");
  ArrayLayout layout;
  layout.element_oid = static_cast<std::uint32_t>(read_be(b, 8, 4));
  layout.count = ndim ? 1 : 0;
  std::size_t at = 12;
  for (int d = 0; d < ndim; ++d) {
    if (b.size() < at + 8) bad("array", "truncated dimensions");
    const auto size = static_cast<std::int32_t>(read_be(b, at, 4));
    if (size < 0) bad("array", "a negative dimension");
    layout.dimensions.push_back(size);
    layout.count *= static_cast<std::size_t>(size);
    if (layout.count > b.size() / 4) bad("array", "more elements than its bytes can hold");  // 4 bytes each at least
    at += 8;
  }
  layout.elements_at = at;
  return layout;
}
// Hands each element's bytes (nullopt for NULL) to `element`, in row-major order; the elements must fill the
// array's bytes exactly.
template <class F>
void for_each_array_element(proto::Bytes b, const ArrayLayout& layout, F&& element) {
  std::size_t at = layout.elements_at;
  for (std::size_t i = 0; i < layout.count; ++i) {
    if (b.size() < at + 4) bad("array", "truncated elements");
    const auto length = static_cast<std::int32_t>(read_be(b, at, 4));
    at += 4;
    if (length == -1) {
      element(std::optional<proto::Bytes>());
      continue;
    }
    if (length < 0 || b.size() - at < static_cast<std::size_t>(length))
      bad("array", "an element longer than the array");
    element(std::optional<proto::Bytes>(b.subspan(at, static_cast<std::size_t>(length))));
    at += static_cast<std::size_t>(length);
  }
  if (at != b.size()) bad("array", "bytes after the last element");
}

template <class T>
Array<T> decode_array(std::uint32_t oid, proto::Bytes b) {
  if (types::element_of(oid) == 0) mismatch(oid, "an array");
  const ArrayLayout layout = read_array_layout(b);
  Array<T> array;
  array.dimensions = layout.dimensions;
  array.elements.reserve(layout.count);
  for_each_array_element(b, layout, [&](std::optional<proto::Bytes> element) {
    if (element)
      array.elements.emplace_back(PgCodec<T>::decode(layout.element_oid, *element));
    else
      array.elements.emplace_back(std::nullopt);
  });
  return array;
}

}  // namespace keel::pg::codec_detail

export namespace keel::pg {

template <class T>
  requires PgEncodable<T> || PgDecodable<T>
struct PgCodec<Array<T>> {
  static constexpr std::uint32_t oid = types::array_of(PgCodec<T>::oid);
  static void encode(const Array<T>& v, proto::ByteBuffer& out) {
    codec_detail::encode_array(v.dimensions, v.elements, out);
  }
  static Array<T> decode(std::uint32_t oid, proto::Bytes b) { return codec_detail::decode_array<T>(oid, b); }
};

// A one-dimensional array without NULLs.
template <class T>
  requires(PgEncodable<T> || PgDecodable<T>) && (!std::same_as<T, std::byte>)
struct PgCodec<std::vector<T>> {
  static constexpr std::uint32_t oid = types::array_of(PgCodec<T>::oid);
  static void encode(const std::vector<T>& v, proto::ByteBuffer& out) {
    std::vector<std::optional<T>> elements(v.begin(), v.end());
    codec_detail::encode_array(v.empty() ? std::vector<int>{} : std::vector<int>{static_cast<int>(v.size())}, elements,
                               out);
  }
  static std::vector<T> decode(std::uint32_t oid, proto::Bytes b) {
    Array<T> array = codec_detail::decode_array<T>(oid, b);
    if (array.dimensions.size() > 1)
      throw TypeMismatchError("a multi-dimensional array read as std::vector; use keel::pg::Array<T>");
    std::vector<T> out;
    out.reserve(array.elements.size());
    for (auto& e : array.elements) {
      if (!e) throw NullValueError("an array element is NULL; read the array as std::vector<std::optional<T>>");
      out.push_back(std::move(*e));
    }
    return out;
  }
};

// A one-dimensional array with NULL elements.
template <class T>
struct PgCodec<std::vector<std::optional<T>>> {
  static constexpr std::uint32_t oid = types::array_of(PgCodec<T>::oid);
  static void encode(const std::vector<std::optional<T>>& v, proto::ByteBuffer& out) {
    codec_detail::encode_array(v.empty() ? std::vector<int>{} : std::vector<int>{static_cast<int>(v.size())}, v, out);
  }
  static std::vector<std::optional<T>> decode(std::uint32_t oid, proto::Bytes b) {
    Array<T> array = codec_detail::decode_array<T>(oid, b);
    if (array.dimensions.size() > 1)
      throw TypeMismatchError("a multi-dimensional array read as std::vector; use keel::pg::Array<T>");
    return std::move(array.elements);
  }
};

/// Codecs registered at run time for types keel has no built-in codec for (an enum, hstore, a PostGIS type), by
/// the server's type OID and by C++ type: PgConnection::set_type_codec fills it.
class CodecRegistry {
public:
  /// One registered codec.
  struct Entry {
    std::uint32_t oid = 0;                                        ///< the server's type
    std::type_index type = typeid(void);                          ///< the C++ type
    proto::Format format = proto::Format::text;                   ///< the format its values travel in
    std::function<void(const void*, proto::ByteBuffer&)> encode;  ///< from a T
    std::function<void(proto::Bytes, void*)> decode;              ///< into a T
  };

  /// Registers T for the server type `oid`: its values travel as `encoder` writes and `decoder` reads them.
  template <class T>
  void add(std::uint32_t oid, proto::Format format, std::function<std::string(const T&)> encoder,
           std::function<T(std::string_view)> decoder) {
    Entry entry{oid, typeid(T), format, {}, {}};
    entry.encode = [encoder = std::move(encoder)](const void* value, proto::ByteBuffer& out) {
      const std::string bytes = encoder(*static_cast<const T*>(value));
      out.insert(out.end(), bytes.begin(), bytes.end());
    };
    entry.decode = [decoder = std::move(decoder)](proto::Bytes bytes, void* out) {
      *static_cast<T*>(out) = decoder(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    };
    by_type_[typeid(T)] = oid;
    by_oid_[oid] = std::move(entry);
  }

  /// The codec of a server type; null when none is registered.
  const Entry* for_oid(std::uint32_t oid) const {
    auto found = by_oid_.find(oid);
    return found == by_oid_.end() ? nullptr : &found->second;
  }
  /// The codec of a C++ type; null when none is registered.
  const Entry* for_type(std::type_index type) const {
    auto found = by_type_.find(type);
    return found == by_type_.end() ? nullptr : for_oid(found->second);
  }
  /// Whether no codec is registered.
  bool empty() const noexcept { return by_oid_.empty(); }

private:
  std::map<std::uint32_t, Entry> by_oid_;
  std::map<std::type_index, std::uint32_t> by_type_;
};

/// Whether keel reads a column of this type in binary.
constexpr bool has_binary_codec(std::uint32_t oid) {
  switch (oid) {
    case types::boolean:
    case types::bytea:
    case types::name:
    case types::int8:
    case types::int2:
    case types::int4:
    case types::text:
    case types::oid:
    case types::json:
    case types::float4:
    case types::float8:
    case types::unknown:
    case types::inet:
    case types::cidr:
    case types::bpchar:
    case types::varchar:
    case types::date:
    case types::time:
    case types::timestamp:
    case types::timestamptz:
    case types::interval:
    case types::timetz:
    case types::numeric:
    case types::uuid:
    case types::jsonb: return true;
    default: return types::element_of(oid) != 0;
  }
}

}  // namespace keel::pg
