// The text forms of dates, times, intervals and UUIDs (what SQLite stores), the values that carry them, and
// the PostgreSQL binary forms of engine values.
#include <catch2/catch.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
import keel;
import keel.postgres.protocol;

using namespace std::chrono;
namespace text_form = keel::text_form;

TEST_CASE("dates, times and timestamps are written in ISO 8601 and read back") {
  CHECK(text_form::date(2024y / February / 29d) == "2024-02-29");
  CHECK(text_form::date(sys_days(days(0))) == "1970-01-01");
  CHECK(text_form::date(sys_days::max()) == "infinity");
  CHECK(text_form::parse_date("2024-02-29") == sys_days(2024y / February / 29d));
  CHECK(text_form::parse_date("-infinity") == sys_days::min());
  CHECK(text_form::parse_date("2023-02-29") == std::nullopt);  // not a day
  CHECK(text_form::parse_date("2024-2-29") == std::nullopt);
  CHECK(text_form::parse_date("2024-02-29x") == std::nullopt);

  CHECK(text_form::time({hours(7) + minutes(5)}) == "07:05:00");
  CHECK(text_form::time({seconds(1) + microseconds(500)}) == "00:00:01.0005");
  CHECK(text_form::parse_time("07:05") == keel::TimeOfDay{hours(7) + minutes(5)});
  CHECK(text_form::parse_time("23:59:59.9999999") ==
        keel::TimeOfDay{hours(23) + minutes(59) + seconds(59) + microseconds(999999)});
  CHECK(text_form::parse_time("25:00:00") == std::nullopt);

  const keel::Timestamp wall = local_days(2024y / March / 31d) + hours(2) + microseconds(5);
  CHECK(text_form::timestamp(wall) == "2024-03-31 02:00:00.000005");
  CHECK(text_form::parse_timestamp("2024-03-31T02:00:00.000005")->local == wall);
  CHECK(text_form::parse_timestamp("2024-03-31 02:00:00.000005")->offset_seconds == std::nullopt);
  CHECK(text_form::parse_timestamp("2024-03-31")->local == keel::Timestamp(local_days(2024y / March / 31d)));

  const keel::TimestampTz instant = sys_days(2000y / January / 1d) + hours(1);
  CHECK(text_form::timestamptz(instant) == "2000-01-01 01:00:00+00:00");
  // Offsets as PostgreSQL and ISO 8601 write them; a value without one is read as UTC.
  CHECK(keel::Value("2000-01-01 03:00:00+02").as<keel::TimestampTz>() == instant);
  CHECK(keel::Value("2000-01-01T01:30:00+00:30").as<keel::TimestampTz>() == instant);
  CHECK(keel::Value("1999-12-31 23:00:00-0200").as<keel::TimestampTz>() == instant);
  CHECK(keel::Value("2000-01-01 01:00:00Z").as<keel::TimestampTz>() == instant);
  CHECK(keel::Value("2000-01-01 01:00:00").as<keel::TimestampTz>() == instant);
  // A wall-clock reading is never taken from text that names an offset.
  CHECK_THROWS_AS(keel::Value("2000-01-01 01:00:00+02").as<keel::Timestamp>(), keel::TypeMismatchError);
}

TEST_CASE("intervals are written in PostgreSQL's iso_8601 style and read back") {
  CHECK(text_form::interval({}) == "PT0S");
  CHECK(text_form::interval({14, 3, hours(4) + minutes(5) + seconds(6) + milliseconds(500)}) == "P1Y2M3DT4H5M6.5S");
  CHECK(text_form::interval({-1, 2, -seconds(3)}) == "P-1M2DT-3S");
  for (const keel::Interval v : {keel::Interval{}, keel::Interval{14, 3, hours(4) + microseconds(1)},
                                 keel::Interval{-25, -1, -minutes(90)}, keel::Interval{0, 0, -microseconds(500000)}})
    CHECK(text_form::parse_interval(text_form::interval(v)) == v);
  CHECK(text_form::parse_interval("P2W") == keel::Interval{0, 14, {}});
  CHECK(text_form::parse_interval("P1.5D") == std::nullopt);  // only seconds take a fraction
  CHECK(text_form::parse_interval("P") == std::nullopt);
  CHECK(text_form::parse_interval("1 day") == std::nullopt);
  // A duration binds as an interval and reads back from one without months.
  CHECK(keel::Value(minutes(90)).as<keel::Interval>() == keel::Interval{0, 0, minutes(90)});
  CHECK(keel::Value(keel::Interval{0, 1, hours(1)}).as<seconds>() == hours(25));
  CHECK_THROWS_AS(keel::Value(keel::Interval{1, 0, {}}).as<seconds>(), keel::TypeMismatchError);
  CHECK_THROWS_AS(keel::Value(milliseconds(1500)).as<seconds>(), keel::ValueOutOfRangeError);
}

TEST_CASE("UUIDs, JSON and exact numbers") {
  const auto id = text_form::parse_uuid("{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}");
  REQUIRE(id);
  CHECK(text_form::uuid(*id) == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  CHECK(text_form::parse_uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1") == std::nullopt);
  CHECK(keel::Value(*id).kind() == keel::ValueKind::uuid);
  CHECK(keel::Value(*id).as<std::string>() == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");

  const boost::json::value doc = boost::json::parse(R"({"a":[1,2.5,null,"x"]})");
  const keel::Value json(doc);
  CHECK(json.kind() == keel::ValueKind::json);
  CHECK(json.as<boost::json::value>() == doc);
  CHECK_THROWS_AS(keel::Value("{not json").as<boost::json::value>(), keel::TypeMismatchError);

  const keel::Value exact(keel::Numeric{"-0.10"});
  CHECK(exact.as<std::string>() == "-0.10");
  CHECK(exact.as<double>() == -0.1);
  CHECK(keel::Value(42).as<keel::Numeric>().text == "42");
}

TEST_CASE("a vector binds as an array, typed by its element type even when empty") {
  const keel::Value ints(std::vector<int>{1, 2, 3});
  REQUIRE(ints.kind() == keel::ValueKind::array);
  CHECK(std::get<keel::ValueArray>(ints.storage()).element == keel::ValueKind::integer);
  CHECK(ints.as<std::vector<std::int64_t>>() == std::vector<std::int64_t>{1, 2, 3});
  CHECK(std::get<keel::ValueArray>(keel::Value(std::vector<std::string>{}).storage()).element == keel::ValueKind::text);
  CHECK(std::get<keel::ValueArray>(keel::Value(std::vector<std::optional<sys_days>>{std::nullopt}).storage()).element ==
        keel::ValueKind::date);
  CHECK(keel::Value(keel::Blob{std::byte{1}}).kind() == keel::ValueKind::blob);  // bytes stay a blob
  // An engine without arrays stores a JSON array, which reads back.
  const keel::Value mixed(std::vector<std::optional<sys_days>>{2024y / May / 1d, std::nullopt});
  CHECK(text_form::of(mixed) == R"(["2024-05-01",null])");
  CHECK(keel::Value(text_form::of(mixed)).as<std::vector<std::optional<sys_days>>>() ==
        std::vector<std::optional<sys_days>>{2024y / May / 1d, std::nullopt});
  CHECK_THROWS_AS(keel::Value("[1,").as<std::vector<int>>(), keel::TypeMismatchError);
}

TEST_CASE("time points and durations of a coarser unit than microseconds read back exactly, or are refused") {
  const keel::Value instant(keel::TimestampTz(1'500ms));
  CHECK(instant.as<sys_time<milliseconds>>() == sys_time<milliseconds>(1'500ms));
  CHECK_THROWS_AS(instant.as<sys_seconds>(), keel::ValueOutOfRangeError);
  CHECK(keel::Value(keel::TimestampTz(-2s)).as<sys_seconds>() == sys_seconds(-2s));
  CHECK(keel::Value(keel::TimestampTz::max()).as<sys_seconds>() == sys_seconds::max());  // infinity stays
  CHECK(keel::Value("1969-12-31 23:59:58+00:00").as<sys_seconds>() == sys_seconds(-2s));
  CHECK_THROWS_AS(keel::Value("1970-01-01 00:00:01.5+00:00").as<sys_seconds>(), keel::ValueOutOfRangeError);
  CHECK(keel::Value(keel::Timestamp(3min)).as<local_time<minutes>>() == local_time<minutes>(3min));
  CHECK_THROWS_AS(keel::Value(keel::Timestamp(61s)).as<local_time<minutes>>(), keel::ValueOutOfRangeError);
  CHECK(keel::Value(sys_seconds(7s)) == keel::Value(keel::TimestampTz(7s)));  // bound as keel's microseconds
}

TEST_CASE("an array in PostgreSQL's text form reads back: quoted, escaped, NULL and the text NULL") {
  using Texts = std::vector<std::optional<std::string>>;
  const auto read = [](const char* text) { return keel::Value(text).as<Texts>(); };
  CHECK(read("{}") == Texts{});
  CHECK(read("{a}") == Texts{"a"});
  CHECK(read(R"({sad,"so so",NULL,"NULL",null,nULL})") ==
        Texts{"sad", "so so", std::nullopt, "NULL", std::nullopt, std::nullopt});
  CHECK(read(R"({"a\"b","c\\d","{x}","",",",\NULL})") == Texts{R"(a"b)", R"(c\d)", "{x}", "", ",", "NULL"});
  CHECK(read(R"({ a b , "c" })") == Texts{"a b", "c"});  // spaces around an element are not part of it
  CHECK(keel::Value("{1,2}").as<std::vector<std::string>>() == std::vector<std::string>{"1", "2"});
  // Bounds that do not start at 1 come first; the elements are the same, and must be as many as they say.
  CHECK(read("[0:1]={a,NULL}") == Texts{"a", std::nullopt});
  CHECK(read("[-2:-2]={x}") == Texts{"x"});
  CHECK(keel::Value("[1,2]").as<std::vector<std::int64_t>>() == std::vector<std::int64_t>{1, 2});  // JSON still
  // A NULL element read into a plain element is NullValueError; text that is no such array is refused.
  CHECK_THROWS_AS(keel::Value("{a,NULL}").as<std::vector<std::string>>(), keel::NullValueError);
  for (const char* malformed : {"{a,}", "{,a}", "{{1,2},{3,4}}", R"({"a})", R"({a"b})", "{a}b}", "{a\\}", "{",
                                "[0:2]={a,b}", "[1:0]={}", "[0:1]{a,b}", "[0:1]=", "[x:1]={a}"})
    CHECK_THROWS_AS(read(malformed), keel::TypeMismatchError);
}

TEST_CASE("engine values take PostgreSQL's binary forms and come back from them") {
  namespace pg = keel::pg;
  using Format = keel::pg::protocol::Format;
  const std::vector<keel::Value> values{
      keel::Value(2024y / February / 29d),
      keel::Value(sys_days::max()),
      keel::Value(keel::TimeOfDay{hours(12)}),
      keel::Value(keel::Timestamp(local_days(1969y / July / 20d) + hours(20) + minutes(17))),
      keel::Value(keel::TimestampTz::min()),
      keel::Value(keel::Interval{1, -2, microseconds(3)}),
      keel::Value(*text_form::parse_uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
      keel::Value(std::vector<std::optional<double>>{1.5, std::nullopt}),
      keel::Value(std::vector<keel::Interval>{{0, 1, {}}}),
      keel::Value(std::vector<keel::Numeric>{{"1.25"}, {"-3"}}),
  };
  for (const keel::Value& v : values) {
    const pg::ParameterType type = pg::parameter_type(v);
    REQUIRE(type.format == Format::binary);
    keel::pg::protocol::ByteBuffer bytes;
    pg::encode_value(v, bytes);
    CHECK(pg::decode_value(type.oid, bytes) == v);
    keel::ValueArray storage;
    CHECK(keel::Value::from_cell(pg::decode_cell(type.oid, Format::binary, bytes, [&] { return &storage; })) == v);
  }
  // JSON goes as untyped text, so that it fills json and jsonb alike; numeric as its exact text.
  CHECK(pg::parameter_type(keel::Value(keel::Json{"{}"})).oid == 0);
  CHECK(pg::parameter_type(keel::Value(keel::Numeric{"1.5"})).format == Format::text);
  // An array of NULLs only has no element type: it goes as text that fits any array type.
  keel::pg::protocol::ByteBuffer nulls;
  pg::encode_value(
      keel::Value(keel::ValueArray{.element = keel::ValueKind::null, .items = {keel::Value(), keel::Value()}}), nulls);
  CHECK(std::string(nulls.begin(), nulls.end()) == "{NULL,NULL}");
  // An array of enum labels goes as untyped text, each label quoted, so that the statement types it.
  const keel::Value labels(
      keel::ValueArray{.element = keel::ValueKind::text,
                       .labels = true,
                       .items = {keel::Value("sad"), keel::Value(), keel::Value(R"(x, "y" \z)"), keel::Value("NULL")}});
  CHECK(pg::parameter_type(labels).oid == 0);
  CHECK(pg::parameter_type(labels).format == Format::text);
  keel::pg::protocol::ByteBuffer label_text;
  pg::encode_value(labels, label_text);
  CHECK(std::string(label_text.begin(), label_text.end()) == R"({"sad",NULL,"x, \"y\" \\z","NULL"})");
  CHECK(keel::Value(std::string(label_text.begin(), label_text.end())).as<std::vector<std::optional<std::string>>>() ==
        std::vector<std::optional<std::string>>{"sad", std::nullopt, R"(x, "y" \z)", "NULL"});
  // Elements of another kind than the array's are refused.
  keel::pg::protocol::ByteBuffer out;
  CHECK_THROWS_AS(
      pg::encode_value(keel::Value(keel::ValueArray{.element = keel::ValueKind::integer, .items = {keel::Value("x")}}),
                       out),
      keel::ValueError);
}

TEST_CASE("values out of a type's range are refused, not wrapped") {
  CHECK(text_form::parse_date("40000-01-01") == std::nullopt);  // beyond std::chrono::year
  CHECK(text_form::parse_interval("P300000000Y") == std::nullopt);
  CHECK(text_form::parse_interval("PT99999999999999H") == std::nullopt);
  // 9999-12-31 is beyond what a nanosecond time point holds; a microsecond one holds it.
  const keel::Value far(keel::TimestampTz(sys_days(9999y / December / 31d)));
  CHECK_THROWS_AS(far.as<sys_time<nanoseconds>>(), keel::ValueOutOfRangeError);
  CHECK(far.as<keel::TimestampTz>() == sys_days(9999y / December / 31d));
  // ±infinity dates read as timestamps stay ±infinity.
  CHECK(keel::Value(sys_days::max()).as<keel::Timestamp>() == keel::Timestamp::max());
}

TEST_CASE("arrays of blobs and of JSON survive their JSON text, and an array reads as text") {
  const std::vector<keel::Blob> blobs{{std::byte{0}, std::byte{0xab}}, {}};
  CHECK(keel::Value(text_form::of(keel::Value(blobs))).as<std::vector<keel::Blob>>() == blobs);
  const std::vector<boost::json::value> docs{1, "a", boost::json::parse(R"({"k":[true]})")};
  CHECK(keel::Value(text_form::of(keel::Value(docs))).as<std::vector<boost::json::value>>() == docs);
  CHECK(keel::Value(std::vector<int>{1, 2}).as<std::string>() == "[1,2]");
}
