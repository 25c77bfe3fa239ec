#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>
import keel;

namespace {
enum class Light { red = 1, amber = 2, green = 4 };
}  // namespace
template <>
struct keel::SqlEnum<Light> {
  static constexpr std::string_view name = "light";
  static constexpr keel::EnumLabel<Light> labels[] = {
      {Light::red, "red"}, {Light::amber, "amber"}, {Light::green, "go"}};
};

TEST_CASE("values know their kind") {
  CHECK(keel::Value().kind() == keel::ValueKind::null);
  CHECK(keel::Value(nullptr).is_null());
  CHECK(keel::Value(std::optional<int>{}).is_null());
  CHECK(keel::Value(std::optional<int>{3}).kind() == keel::ValueKind::integer);
  CHECK(keel::Value(true).kind() == keel::ValueKind::boolean);
  CHECK(keel::Value(7).kind() == keel::ValueKind::integer);
  CHECK(keel::Value(2.5f).kind() == keel::ValueKind::real);
  CHECK(keel::Value("text").kind() == keel::ValueKind::text);
  CHECK(keel::Value(keel::Blob{std::byte{1}}).kind() == keel::ValueKind::blob);
}

TEST_CASE("an unsigned value too large for a SQL integer is refused, not wrapped") {
  CHECK_THROWS_AS(keel::Value(std::numeric_limits<std::uint64_t>::max()), keel::ValueOutOfRangeError);
  CHECK(keel::Value(std::uint64_t{42}).as<std::int64_t>() == 42);
}

TEST_CASE("conversions follow one set of rules") {
  CHECK(keel::Value(1).as<bool>() == true);  // SQLite's booleans are integers
  CHECK_THROWS_AS(keel::Value(2).as<bool>(), keel::TypeMismatchError);
  CHECK(keel::Value(3).as<double>() == 3.0);                             // integers widen to floating point
  CHECK_THROWS_AS(keel::Value(3.5).as<int>(), keel::TypeMismatchError);  // but never narrow silently
  CHECK_THROWS_AS(keel::Value(300).as<std::int8_t>(), keel::ValueOutOfRangeError);
  CHECK(keel::Value(-5).as<std::int8_t>() == -5);
  CHECK_THROWS_AS(keel::Value("7").as<int>(), keel::TypeMismatchError);
  CHECK_THROWS_AS(keel::Value().as<int>(), keel::NullValueError);
  CHECK(keel::Value().as<std::optional<int>>() == std::nullopt);
  CHECK(keel::Value(9).as<std::optional<int>>() == 9);
  CHECK(keel::Value("x").as<keel::Value>() == keel::Value("x"));
  CHECK(keel::Value().as<keel::Value>().is_null());
}

TEST_CASE("an enum with keel::SqlEnum labels binds as its label and reads back from it") {
  CHECK(keel::Value(Light::green) == keel::Value("go"));
  CHECK(keel::Value(Light::amber).kind() == keel::ValueKind::text);
  CHECK(keel::Value("go").as<Light>() == Light::green);
  CHECK(keel::Value("red").as<std::optional<Light>>() == Light::red);
  CHECK(keel::Value().as<std::optional<Light>>() == std::nullopt);
  // An array of it is an array of labels, which the statement types (text[] is no enum's array).
  const keel::Value lights(std::vector{Light::red, Light::green});
  CHECK(lights ==
        keel::Value(keel::ValueArray{
            .element = keel::ValueKind::text, .labels = true, .items = {keel::Value("red"), keel::Value("go")}}));
  CHECK(lights != keel::Value(std::vector<std::string>{"red", "go"}));
  CHECK(std::get<keel::ValueArray>(keel::Value(std::vector<std::optional<Light>>{std::nullopt}).storage()).labels);
  CHECK(lights.as<std::vector<Light>>() == std::vector{Light::red, Light::green});
  STATIC_REQUIRE(sizeof(keel::ValueArray) <= sizeof(std::string));  // the flag makes no Value larger
  // A value without a label, a label without a value, and a cell that is no text are each refused.
  CHECK_THROWS_AS(keel::Value(static_cast<Light>(3)), keel::ValueOutOfRangeError);
  CHECK_THROWS_AS(keel::Value("green").as<Light>(), keel::ValueOutOfRangeError);
  CHECK_THROWS_AS(keel::Value(4).as<Light>(), keel::TypeMismatchError);
  CHECK_THROWS_AS(keel::Value().as<Light>(), keel::NullValueError);
  STATIC_REQUIRE(keel::LabelledEnum<Light>);
  STATIC_REQUIRE_FALSE(keel::LabelledEnum<keel::ValueKind>);  // an enum without labels is no column type
}

TEST_CASE("the version's numbers and text agree", "[version]") {
  CHECK(std::to_string(keel::version_major) + "." + std::to_string(keel::version_minor) + "." +
            std::to_string(keel::version_patch) ==
        keel::version_text);
}
