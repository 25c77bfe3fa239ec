// Subqueries against every engine: in(), not_in(), keel::scalar and keel::exists give the same rows everywhere.
// Rendering is checked in tests/unit/orm_render_test.cpp.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>
import keel;
#include "orm_fixture.hpp"

using namespace orm_test;
using keel::c;
using Names = std::vector<std::string>;

TEST_CASE_METHOD(Fixture, "subquery: in and not_in a select of one column") {
  // Guido's bands: Pythonistas and C-Sharps; Graydon's: Rustaceans.
  const auto guidos = keel::select(c<&Manager::id>).where(c<&Manager::name> == "Guido");
  CHECK(keel::select(c<&Band::name>).where(c<&Band::manager>.in(guidos)).order_by(c<&Band::name>).run_sync(db) ==
        Names{"C-Sharps", "Pythonistas"});
  CHECK(keel::select(c<&Band::name>).where(c<&Band::manager>.not_in(guidos)).run_sync(db) == Names{"Rustaceans"});
  // An update and a delete may use one too; the subquery's values are bound in their place.
  CHECK(keel::update<Band>()
            .set(c<&Band::popularity>, c<&Band::popularity> + 1)
            .where(c<&Band::manager>.in(guidos) && c<&Band::popularity> < 100)
            .run_sync(db) == 1);
  CHECK(keel::select(c<&Band::popularity>).where(c<&Band::name> == "C-Sharps").run_sync(db) ==
        std::vector<std::int64_t>{11});
  const std::int64_t rustaceans = keel::select(c<&Band::id>).where(c<&Band::name> == "Rustaceans").run_sync(db).at(0);
  keel::insert(Concert{.band = rustaceans, .venue = "Paradiso", .price = 120}).run_sync(db);
  const auto with_concerts = keel::select(c<&Concert::band>);
  CHECK(
      keel::delete_from<Band>().where(c<&Band::id>.not_in(with_concerts) && c<&Band::popularity> < 100).run_sync(db) ==
      1);
  CHECK(keel::select(c<&Band::name>).order_by(c<&Band::name>).run_sync(db) == Names{"Pythonistas", "Rustaceans"});
}

TEST_CASE_METHOD(Fixture, "subquery: a scalar subquery as a value, and exists") {
  // The average popularity is (1000 + 2000 + 10) / 3 = 1003.3: one band is above it.
  const auto average = keel::scalar(keel::select(keel::avg(c<&Band::popularity>)));
  CHECK(keel::select(c<&Band::name>).where(c<&Band::popularity> > average).run_sync(db) == Names{"Rustaceans"});
  // A scalar subquery that finds no row is NULL: nothing compares true with it.
  const auto none = keel::scalar(keel::select(c<&Band::popularity>).where(c<&Band::name> == "nobody"));
  CHECK(keel::select(c<&Band::name>).where(c<&Band::popularity> < none).run_sync(db).empty());
  // EXISTS: no concert yet, then one.
  const auto sold_out = keel::select(c<&Concert::id>).where(c<&Concert::sold_out> == true);
  CHECK(keel::count<Band>().where(keel::exists(sold_out)).run_sync(db) == 0);
  CHECK(keel::count<Band>().where(keel::not_exists(sold_out)).run_sync(db) == 3);
  const std::int64_t first_band = keel::select(c<&Band::id>).run_sync(db).at(0);
  keel::insert(Concert{.band = first_band, .venue = "Melkweg", .sold_out = true}).run_sync(db);
  CHECK(keel::count<Band>().where(keel::exists(sold_out)).run_sync(db) == 3);
}
