// The text cache never hands a query another query's SQL. For every operator, function and clause option the
// ORM offers, two queries that differ only in it are rendered one after the other, through the cache, on each
// dialect, and each text and its values are compared with what the query renders with no cache.
// SqlWriter is not exported: this test is a unit of keel.orm. The headers that orm_tables.hpp includes
// come first, in the global module fragment, so that its includes after the module declaration add nothing.
module;
#include <catch2/catch.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>
module keel.orm;
import keel.engine;
#include "../orm/orm_tables.hpp"

using namespace orm_test;
using keel::c;
using keel::Dialect;
using keel::Value;

namespace {

// Keeps the values a query binds straight, as the Values they would be.
struct GatheringBinder final : keel::RunBinder {
  std::vector<Value> values;
  void bind_null() override { values.emplace_back(); }
  void bind_integer(std::int64_t value) override { values.emplace_back(value); }
  void bind_real(double value) override { values.emplace_back(value); }
  void bind_text(std::string_view text) override { values.emplace_back(std::string(text)); }
  void bind_value(const Value& value) override { values.push_back(value); }
};

// The query's statement, through the cache, against a render with no cache, on both dialects; and where its text
// is fixed, the same text and values when it binds them straight.
template <class Q>
void check_fresh(const Q& query) {
  for (Dialect dialect : {Dialect::sqlite, Dialect::postgres}) {
    keel::SqlWriter fresh(dialect);
    query.write(fresh);
    const keel::Statement cached = query.statement(dialect);
    INFO(keel::to_string(dialect));
    CHECK(std::string(cached.sql()) == fresh.take_text());
    CHECK(cached.params() == fresh.take_params());
    if constexpr (requires { query.fixed_text(dialect); }) {
      if (const std::string* text = query.fixed_text(dialect)) {
        CHECK(*text == cached.sql());
        GatheringBinder straight;
        query.bind_values(dialect, straight);
        CHECK(straight.values == cached.params());
      } else {
        CHECK_FALSE(keel::text_is_fixed<Q>);
      }
    }
  }
}

// Queries rendered in turn, each against its own fresh text.
template <class... Q>
void check_each(const Q&... queries) {
  (check_fresh(queries), ...);
}

auto where_band(auto condition) { return keel::select(c<&Band::id>).where(condition); }

}  // namespace

TEST_CASE("every comparison, logic and arithmetic operator has its own text", "[orm][text_cache]") {
  const auto n = c<&Band::popularity>;
  check_each(where_band(n > 5), where_band(n < 5), where_band(n >= 5), where_band(n <= 5), where_band(n == 5),
             where_band(n != 5));
  check_each(where_band(n > 5 && n < 9), where_band(n > 5 || n < 9), where_band(!(n > 5)));
  check_each(where_band(n + 7 == 1), where_band(n - 7 == 1), where_band(n * 7 == 1), where_band(n / 7 == 1),
             where_band(n % 7 == 1));
  check_each(keel::select(n + 7), keel::select(n - 7));
  // An operator is part of a query's type, so two operators never share a text.
  STATIC_REQUIRE_FALSE(std::is_same_v<decltype(where_band(n > 5)), decltype(where_band(n < 5))>);
  STATIC_REQUIRE_FALSE(std::is_same_v<decltype(where_band(n > 5 && n < 9)), decltype(where_band(n > 5 || n < 9))>);
  STATIC_REQUIRE_FALSE(std::is_same_v<decltype(keel::select(n + 7)), decltype(keel::select(n - 7))>);
}

TEST_CASE("every function and clause option has its own text", "[orm][text_cache]") {
  const auto name = c<&Band::name>;
  const auto n = c<&Band::popularity>;
  check_each(where_band(name.like("P%")), where_band(name.not_like("P%")), where_band(name.ilike("P%")),
             where_band(name.not_ilike("P%")));
  check_each(where_band(n.in({1, 2})), where_band(n.not_in({1, 2})), where_band(n.in({1, 2, 3})),
             where_band(n.in(std::vector<int>{})), where_band(n.not_in(std::vector<int>{})));
  check_each(where_band(c<&Band::country>.is_null()), where_band(c<&Band::country>.is_not_null()));
  check_each(keel::select(name).order_by(n.asc()), keel::select(name).order_by(n.desc()),
             keel::select(name).order_by(n), keel::select(name).order_by(n.desc(), name.asc()));
  check_each(keel::select<Band>(keel::count(n)), keel::select<Band>(keel::sum(n)), keel::select<Band>(keel::avg(n)),
             keel::select<Band>(keel::min(n)), keel::select<Band>(keel::max(n)), keel::select<Band>(keel::count_all()));
  check_each(keel::select(name), keel::select(name).distinct(), keel::select(name).limit(3),
             keel::select(name).offset(3), keel::select(name).limit(3).offset(1), keel::select(name).first(),
             keel::select(name).group_by(name), keel::select(name).where(n > 1).where(n < 9));
  check_each(keel::count<Band>().where(n > 1), keel::exists<Band>().where(n > 1));
  check_each(keel::select(name, c<&Manager::name>).join<&Band::manager>(),
             keel::select(name, c<&Manager::name>).left_join<&Band::manager>(),
             keel::select(c<&Manager::name>, name).join<&Band::manager>());
  check_each(keel::update<Band>().set(n, n + 1).where(name == "a"),
             keel::update<Band>().set(n, n - 1).where(name == "a"), keel::update<Band>().set(n, 1).force(),
             keel::update<Band>().set(n, 1).where(name == "a").returning(n));
  check_each(keel::delete_from<Band>().where(n < 1), keel::delete_from<Band>().where(n > 1),
             keel::delete_from<Band>().force(), keel::delete_from<Band>().where(n < 1).returning(name));
  check_each(keel::insert(Band{.name = "a"}), keel::insert(Band{.name = "a"}).returning(name),
             keel::insert(Band{.name = "a"}, Band{.name = "b"}), keel::insert(std::vector<Band>{}));
}

TEST_CASE("= and <> with an empty optional are IS NULL and IS NOT NULL, and cached by that choice",
          "[orm][text_cache]") {
  using Country = std::optional<std::string>;
  const auto country = c<&Band::country>;
  const auto empty = where_band(country == Country{});
  const auto nl = where_band(country == Country{"NL"});
  STATIC_REQUIRE(std::is_same_v<decltype(empty), decltype(nl)>);  // one type, two texts
  check_each(empty, nl, empty, nl);
  CHECK(empty.statement(Dialect::postgres).sql().ends_with(R"(WHERE ("band"."country" IS NULL))"));
  CHECK(empty.statement(Dialect::postgres).params().empty());
  CHECK(nl.statement(Dialect::postgres).sql().ends_with(R"(WHERE ("band"."country" = $1))"));
  CHECK(nl.statement(Dialect::postgres).params() == std::vector<Value>{"NL"});
  // Each choice still renders once: two statements of one choice share one text.
  CHECK(empty.statement(Dialect::sqlite).sql().data() ==
        where_band(country == Country{}).statement(Dialect::sqlite).sql().data());
  CHECK(nl.statement(Dialect::sqlite).sql().data() ==
        where_band(country == Country{"CA"}).statement(Dialect::sqlite).sql().data());

  const auto not_empty = where_band(country != Country{});
  CHECK(not_empty.statement(Dialect::sqlite).sql().ends_with(R"(WHERE ("band"."country" IS NOT NULL))"));
  check_each(where_band(country != Country{"NL"}), not_empty);
  // The optional on the left, and several choices in one query (the placeholders are numbered as they come).
  using Key = std::optional<keel::ForeignKey<Manager>>;
  const auto two = [&](Country a, Key b) {
    return keel::select(c<&Concert::venue>)
        .where(a == c<&Concert::venue> && c<&Concert::promoter> != b && c<&Concert::price> > 1.5);
  };
  check_each(two({}, {}), two("x", {}), two({}, 3), two("x", 3));
  CHECK(
      two({}, 3)
          .statement(Dialect::postgres)
          .sql()
          .ends_with(
              R"(WHERE ((("concert"."venue" IS NULL) AND ("concert"."promoter" <> $1)) AND ("concert"."price" > $2)))"));
  // Other comparisons with an empty optional keep SQL's meaning: NULL compares as unknown.
  CHECK(where_band(c<&Band::popularity> > std::optional<int>{}).statement(Dialect::sqlite).params() ==
        std::vector<Value>{nullptr});
  // In an update, `= ?` sets the column to the value given, NULL included; only the condition chooses.
  check_each(keel::update<Band>().set(country, Country{}).where(country == Country{}),
             keel::update<Band>().set(country, Country{}).where(country == Country{"NL"}));
  check_each(keel::delete_from<Band>().where(country == Country{}),
             keel::delete_from<Band>().where(country == Country{"NL"}));
}

TEST_CASE("column wrappers bind as their values; nothing else binds as a boolean", "[orm][value]") {
  Band band{.id = 42, .name = "Pythonistas", .manager = 7, .popularity = 1000};
  CHECK(Value(band.id) == Value(42));
  CHECK(Value(band.name) == Value("Pythonistas"));
  CHECK(Value(band.manager) == Value(7));
  CHECK(Value(band.popularity) == Value(1000));
  CHECK(Value(std::optional<keel::Id>{}) == Value());
  CHECK(Value(std::optional<keel::ForeignKey<Manager>>{3}) == Value(3));
  CHECK(Value(keel::PrimaryKey<std::string>{"A-1"}) == Value("A-1"));
  CHECK(Value(keel::Indexed<double>{2.5}) == Value(2.5));
  CHECK(Value(true).kind() == keel::ValueKind::boolean);
  auto raw = keel::raw("SELECT name FROM band WHERE id = {} AND manager = {}", band.id, band.manager);
  CHECK(raw.statement(Dialect::postgres).params() == std::vector<Value>{42, 7});
  // A pointer, or a class that converts to bool, is no value.
  struct Flag {
    operator bool() const { return true; }
  };
  STATIC_REQUIRE_FALSE(keel::Bindable<const int*>);
  STATIC_REQUIRE_FALSE(keel::Bindable<Flag>);
  STATIC_REQUIRE_FALSE(keel::Bindable<std::optional<Flag>>);
  STATIC_REQUIRE(keel::Bindable<keel::Id>);
  STATIC_REQUIRE(keel::Bindable<std::optional<keel::Unique<std::string>>>);
}
