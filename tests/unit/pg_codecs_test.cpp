// PostgreSQL's binary codecs on byte vectors, without a server: the layouts the protocol documentation gives,
// and malformed values refused with a clear error instead of an over-read.
#include <catch2/catch.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>
import keel;
import keel.postgres;
import keel.postgres.protocol;

using namespace keel::pg;
using Bytes = std::vector<std::uint8_t>;

namespace {
template <class T>
Bytes encode(const T& v) {
  Bytes out;
  PgCodec<T>::encode(v, out);
  return out;
}
template <class T>
T decode(std::uint32_t oid, const Bytes& b) {
  return PgCodec<T>::decode(oid, std::span<const std::uint8_t>(b));
}
}  // namespace

TEST_CASE("numeric's base-10000 layout", "[pg][codecs]") {
  // 12.5: ndigits 2, weight 0, sign +, dscale 1, digits 12 and 5000.
  CHECK(encode(Numeric{"12.5"}) == Bytes{0, 2, 0, 0, 0, 0, 0, 1, 0, 12, 0x13, 0x88});
  CHECK(encode(Numeric{"-0.001"}) == Bytes{0, 1, 0xff, 0xff, 0x40, 0, 0, 3, 0, 10});
  CHECK(encode(Numeric{"NaN"}) == Bytes{0, 0, 0, 0, 0xc0, 0, 0, 0});
  for (std::string text : {"0", "12.5", "-0.001", "10000", "99999999.99999999", "NaN", "-Infinity", "0.000"})
    CHECK(decode<Numeric>(types::numeric, encode(Numeric{text})).text == text);
  CHECK_THROWS_AS(decode<Numeric>(types::numeric, Bytes{0, 2, 0, 0, 0, 0, 0, 0, 0, 1}), keel::ProtocolError);  // short
  CHECK_THROWS_AS(decode<Numeric>(types::numeric, Bytes{0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10}),
                  keel::ProtocolError);                                                                        // 10000
  CHECK_THROWS_AS(decode<Numeric>(types::numeric, Bytes{0, 0, 0, 0, 0x12, 0x34, 0, 0}), keel::ProtocolError);  // sign
  CHECK_THROWS_AS(encode(Numeric{"12,5"}), keel::ValueError);
  CHECK_THROWS_AS(decode<Numeric>(types::int4, Bytes{0, 0, 0, 1}), keel::TypeMismatchError);
}

TEST_CASE("fixed-size types check their length", "[pg][codecs]") {
  CHECK(decode<std::int32_t>(types::int4, Bytes{0xff, 0xff, 0xff, 0xfe}) == -2);
  CHECK_THROWS_AS(decode<std::int32_t>(types::int4, Bytes{0, 0, 1}), keel::ProtocolError);
  CHECK_THROWS_AS(decode<Date>(types::date, Bytes{0, 0}), keel::ProtocolError);
  CHECK_THROWS_AS(decode<Uuid>(types::uuid, Bytes(15)), keel::ProtocolError);
  CHECK_THROWS_AS(decode<Interval>(types::interval, Bytes(12)), keel::ProtocolError);
  CHECK(decode<Date>(types::date, Bytes{0, 0, 0, 0}).days == std::chrono::sys_days(std::chrono::year{2000} / 1 / 1));
  CHECK(decode<Date>(types::date, Bytes{0x7f, 0xff, 0xff, 0xff}).infinity == 1);
  CHECK_THROWS_AS(decode<Inet>(types::inet, Bytes{2, 32, 0, 4, 1, 2, 3}), keel::ProtocolError);
  CHECK_THROWS_AS(decode<Inet>(types::inet, Bytes{9, 32, 0, 4, 1, 2, 3, 4}), keel::ProtocolError);
  CHECK_THROWS_AS(decode<boost::json::value>(types::jsonb, Bytes{2, '{', '}'}), keel::ProtocolError);
  CHECK_THROWS_AS(Uuid::parse("not-a-uuid"), keel::ValueError);
}

TEST_CASE("an instant beyond what 64-bit microseconds since 1970 hold is an error, not an overflow", "[pg][codecs]") {
  // One microsecond short of +infinity (which is INT64_MAX): valid bytes, but 2000-01-01 plus that overflows.
  const Bytes near_infinity{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
  CHECK_THROWS_AS(decode<TimestampTz>(types::timestamptz, near_infinity), keel::ProtocolError);
  CHECK_THROWS_AS(decode<Timestamp>(types::timestamp, near_infinity), keel::ProtocolError);
  CHECK(decode<TimestampTz>(types::timestamptz, Bytes{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) ==
        TimestampTz::max());
  // A user's instant PostgreSQL cannot hold is refused before anything is sent.
  const auto earliest = TimestampTz(std::chrono::microseconds(std::numeric_limits<std::int64_t>::min() + 1));
  CHECK_THROWS_AS(encode(earliest), keel::ValueOutOfRangeError);
  CHECK(decode<TimestampTz>(types::timestamptz, encode(TimestampTz(std::chrono::microseconds(0)))) ==
        TimestampTz(std::chrono::microseconds(0)));
}

TEST_CASE("unsigned integers are refused where they do not fit the signed type of their width", "[pg][codecs]") {
  CHECK(PgCodec<std::uint32_t>::oid == types::int4);
  CHECK(encode(std::uint32_t{2147483647}) == Bytes{0x7f, 0xff, 0xff, 0xff});
  CHECK_THROWS_AS(encode(std::uint32_t{4000000000u}), keel::ValueOutOfRangeError);
  CHECK(encode(std::uint16_t{32767}) == Bytes{0x7f, 0xff});
  CHECK_THROWS_AS(encode(std::uint16_t{40000}), keel::ValueOutOfRangeError);
  CHECK(encode(std::uint8_t{255}) == Bytes{0x00, 0xff});
  CHECK_THROWS_AS(encode(std::numeric_limits<std::uint64_t>::max()), keel::ValueOutOfRangeError);
  // The fixed-width codecs say their size, which COPY writes without measuring.
  CHECK(encode(std::int16_t{-2}).size() == PgCodec<std::int16_t>::binary_size);
  CHECK(encode(Date{}).size() == PgCodec<Date>::binary_size);
  CHECK(encode(TimestampTz{}).size() == PgCodec<TimestampTz>::binary_size);
  CHECK(encode(Timestamp{}).size() == PgCodec<Timestamp>::binary_size);
  CHECK(encode(1.5f).size() == PgCodec<float>::binary_size);
}

TEST_CASE("arrays: header, dimensions, NULLs; truncation is an error", "[pg][codecs]") {
  const Bytes two = encode(std::vector<std::optional<std::int32_t>>{7, std::nullopt});
  // ndim 1, has_null 1, element int4, size 2, lower bound 1, then 7 and NULL.
  CHECK(two == Bytes{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 23, 0,    0,    0,    2,
                     0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 7,  0xff, 0xff, 0xff, 0xff});
  CHECK(decode<std::vector<std::optional<std::int32_t>>>(1007, two) ==
        std::vector<std::optional<std::int32_t>>{7, std::nullopt});
  for (std::size_t n = 0; n < two.size(); ++n)
    CHECK_THROWS_AS(decode<std::vector<std::optional<std::int32_t>>>(1007, Bytes(two.begin(), two.begin() + n)),
                    keel::ProtocolError);
  Bytes huge = two;
  huge[15] = 0x7f;  // a dimension far larger than the bytes
  CHECK_THROWS_AS(decode<std::vector<std::optional<std::int32_t>>>(1007, huge), keel::ProtocolError);
  CHECK_THROWS_AS(decode<std::vector<std::int32_t>>(types::int4, two), keel::TypeMismatchError);
  CHECK(encode(std::vector<std::int32_t>{}) == Bytes{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 23});
}

TEST_CASE("PostgreSQL 17's infinite intervals are Interval::infinity() and minus_infinity(), in every form",
          "[pg][codecs]") {
  const Bytes plus{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff};
  const Bytes minus{0x80, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0x80, 0, 0, 0};
  CHECK(decode<Interval>(types::interval, plus) == keel::Interval::infinity());
  CHECK(decode<Interval>(types::interval, minus) == keel::Interval::minus_infinity());
  CHECK(encode(keel::Interval::infinity()) == plus);
  CHECK(encode(keel::Interval::minus_infinity()) == minus);
  CHECK(keel::Interval::infinity().is_infinite());
  CHECK_FALSE((keel::Interval{std::numeric_limits<std::int32_t>::max(), 0, {}}.is_infinite()));
  // As PostgreSQL 17 prints them (keel-query), and as SQLite stores them.
  CHECK(postgres_text(types::interval, keel::pg::protocol::Format::binary, plus, {}) == "infinity");
  CHECK(postgres_text(types::interval, keel::pg::protocol::Format::binary, minus, {}) == "-infinity");
  CHECK(keel::text_form::interval(keel::Interval::minus_infinity()) == "-infinity");
  CHECK(keel::text_form::parse_interval("infinity") == keel::Interval::infinity());
  CHECK(keel::text_form::parse_interval("-infinity") == keel::Interval::minus_infinity());
  // No duration holds one.
  CHECK_THROWS_AS(keel::Value(keel::Interval::infinity()).as<std::chrono::seconds>(), keel::ValueOutOfRangeError);
}
