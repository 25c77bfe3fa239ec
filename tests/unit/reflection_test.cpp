// keel.reflection: counting, typing, tying and naming an aggregate's members, across the kinds of members a table
// has, at the edge of the generated ties (64 members) and beyond it (Boost.PFR's structure_tie).
#include <catch2/catch.hpp>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>
import keel;

namespace {
struct One {
  std::string only;
};
struct Inner {
  int x = 0;
  int y = 0;
};
struct Mixed {
  keel::Id id;
  std::optional<std::string> note;
  std::vector<std::int64_t> list;
  std::array<int, 3> three{};
  Inner inner;  // an aggregate member is one member, not two
  bool flag = false;
};
struct Empty {};

// Ten int members p0..p9, as one declaration; sixty of them, a0 to f9.
#define KEEL_TEN_INTS(p) \
  int p##0 = 0, p##1 = 1, p##2 = 2, p##3 = 3, p##4 = 4, p##5 = 5, p##6 = 6, p##7 = 7, p##8 = 8, p##9 = 9
#define KEEL_SIXTY_INTS \
  KEEL_TEN_INTS(a);     \
  KEEL_TEN_INTS(b);     \
  KEEL_TEN_INTS(c);     \
  KEEL_TEN_INTS(d);     \
  KEEL_TEN_INTS(e);     \
  KEEL_TEN_INTS(f)
struct Wide64 {
  KEEL_SIXTY_INTS;
  int g0 = 0, g1 = 1, g2 = 2, g3 = 3;
};
struct Wide70 {
  KEEL_SIXTY_INTS;
  KEEL_TEN_INTS(g);
};
#undef KEEL_SIXTY_INTS
#undef KEEL_TEN_INTS
}  // namespace

namespace reflection = keel::reflection;

TEST_CASE("reflection counts an aggregate's members, whatever their kind", "[reflection]") {
  STATIC_REQUIRE(reflection::field_count<One> == 1);
  STATIC_REQUIRE(reflection::field_count<Inner> == 2);
  STATIC_REQUIRE(reflection::field_count<Mixed> == 6);
  STATIC_REQUIRE(reflection::field_count<Empty> == 0);
  STATIC_REQUIRE(reflection::field_count<Wide64> == 64);
  STATIC_REQUIRE(reflection::field_count<Wide70> == 70);
}

TEST_CASE("reflection gives each member's type, and the member itself", "[reflection]") {
  STATIC_REQUIRE(std::is_same_v<reflection::field_type<Mixed, 0>, keel::Id>);
  STATIC_REQUIRE(std::is_same_v<reflection::field_type<Mixed, 1>, std::optional<std::string>>);
  STATIC_REQUIRE(std::is_same_v<reflection::field_type<Mixed, 3>, std::array<int, 3>>);
  STATIC_REQUIRE(std::is_same_v<reflection::field_type<Mixed, 4>, Inner>);
  STATIC_REQUIRE(std::is_same_v<reflection::field_type<Wide70, 69>, int>);

  Mixed mixed{.note = "n", .inner = {1, 2}, .flag = true};
  reflection::get<2>(mixed).push_back(7);
  reflection::get<5>(mixed) = false;
  CHECK(mixed.list == std::vector<std::int64_t>{7});
  CHECK_FALSE(mixed.flag);
  const Mixed& seen = mixed;
  CHECK(reflection::get<1>(seen) == std::optional<std::string>("n"));
  CHECK(reflection::get<4>(seen).y == 2);
  STATIC_REQUIRE(std::is_same_v<decltype(reflection::get<1>(seen)), const std::optional<std::string>&>);

  Wide64 wide64;
  Wide70 wide70;
  CHECK(reflection::get<63>(wide64) == 3);
  reflection::get<69>(wide70) = 42;
  CHECK(wide70.g9 == 42);
}

TEST_CASE("reflection names members, through the generated ties and beyond them", "[reflection]") {
  STATIC_REQUIRE(reflection::field_names<Mixed> ==
                 std::array<std::string_view, 6>{"id", "note", "list", "three", "inner", "flag"});
  STATIC_REQUIRE(reflection::field_name<Wide64, 63> == "g3");
  STATIC_REQUIRE(reflection::field_name<Wide70, 0> == "a0");
  STATIC_REQUIRE(reflection::field_name<Wide70, 69> == "g9");
  STATIC_REQUIRE(reflection::member_index<&Wide70::f5> == 55);
  STATIC_REQUIRE(reflection::member_index<&Mixed::inner> == 4);
}
