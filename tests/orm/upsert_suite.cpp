// Upsert (INSERT ... ON CONFLICT) against every engine: the same calls, the same rows and counts. Rendering is
// checked in tests/unit/orm_render_test.cpp.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>
import keel;
#include "orm_fixture.hpp"

using namespace orm_test;
using keel::c;
using keel::excluded;

namespace {

// Each band's popularity, by name.
std::vector<std::tuple<std::string, std::int64_t>> popularity_by_name(keel::Engine& db) {
  return keel::select(c<&Band::name>, c<&Band::popularity>).order_by(c<&Band::name>).run_sync(db);
}

}  // namespace

TEST_CASE_METHOD(Fixture, "upsert: do_nothing skips the rows that conflict and counts the others") {
  // One row that conflicts on the unique name: nothing changes, and it says so.
  const Band again{.name = "Pythonistas", .manager = graydon, .popularity = 5};
  CHECK(keel::insert(again).on_conflict(c<&Band::name>).do_nothing().run_sync(db) == 0);
  // Without the clause the same row fails, as before.
  CHECK_THROWS_AS(keel::insert(again).run_sync(db), keel::UniqueViolation);
  // Many rows, some new: only those are inserted. Without a target, any constraint counts.
  std::vector<Band> rows{{.name = "Rustaceans", .manager = guido, .popularity = 1},
                         {.name = "Gophers", .manager = graydon, .popularity = 800},
                         {.name = "Haskellers", .manager = guido, .popularity = 300}};
  CHECK(keel::insert(rows).on_conflict().do_nothing().run_sync(db) == 2);
  CHECK(popularity_by_name(db) ==
        std::vector<std::tuple<std::string, std::int64_t>>{
            {"C-Sharps", 10}, {"Gophers", 800}, {"Haskellers", 300}, {"Pythonistas", 1000}, {"Rustaceans", 2000}});
  // returning() gives the rows inserted, none for the skipped.
  auto ids =
      keel::insert(std::vector<Band>{{.name = "Gophers", .manager = guido}, {.name = "Elixirs", .manager = guido}})
          .on_conflict(c<&Band::name>)
          .do_nothing()
          .returning(c<&Band::name>)
          .run_sync(db);
  CHECK(ids == std::vector<std::string>{"Elixirs"});
}

TEST_CASE_METHOD(Fixture, "upsert: do_update sets the proposed values, or expressions of both rows, where allowed") {
  // The proposed popularity replaces the stored one; a new name is inserted. Both count.
  std::vector<Band> rows{{.name = "Pythonistas", .manager = guido, .popularity = 1500, .country = "BE"},
                         {.name = "Gophers", .manager = graydon, .popularity = 800}};
  CHECK(
      keel::insert(rows).on_conflict(c<&Band::name>).do_update(c<&Band::popularity>, c<&Band::country>).run_sync(db) ==
      2);
  auto python = keel::select<Band>().where(c<&Band::name> == "Pythonistas").first().run_sync(db);
  REQUIRE(python);
  CHECK(python->popularity == 1500);
  CHECK(python->country == "BE");
  CHECK(python->manager == guido.id);  // not in do_update: kept

  // An expression of the stored row and the proposed one, only where the stored one is small: C-Sharps (10) is
  // updated, Rustaceans (2000) is not, and the count says one.
  const auto add_up = [&](std::string name, std::int64_t popularity) {
    return keel::insert(Band{.name = std::move(name), .manager = guido, .popularity = popularity})
        .on_conflict(c<&Band::name>)
        .do_update()
        .set(c<&Band::popularity>, c<&Band::popularity> + excluded<&Band::popularity>)
        .where(c<&Band::popularity> < 100);
  };
  CHECK(add_up("C-Sharps", 5).run_sync(db) == 1);
  CHECK(add_up("Rustaceans", 5).run_sync(db) == 0);
  CHECK(add_up("C-Sharps", 7).run_sync(db) == 1);
  CHECK(popularity_by_name(db) == std::vector<std::tuple<std::string, std::int64_t>>{
                                      {"C-Sharps", 22}, {"Gophers", 800}, {"Pythonistas", 1500}, {"Rustaceans", 2000}});

  // returning() gives the row as it is now, inserted or updated.
  auto now = keel::insert(Band{.name = "Gophers", .manager = guido, .popularity = 900})
                 .on_conflict(c<&Band::name>)
                 .do_update(c<&Band::popularity>)
                 .returning(c<&Band::name>, c<&Band::popularity>)
                 .run_sync(db);
  CHECK(now == std::vector<std::tuple<std::string, std::int64_t>>{{"Gophers", 900}});
}

TEST_CASE_METHOD(Fixture, "upsert: the values of its DO UPDATE leave room in a statement of the most rows") {
  // As many rows as one plain insert may bind (10,922 of three values on SQLite: 32,766 values); the DO UPDATE's
  // own value makes one more, so the upsert splits them, in one transaction.
  using Holders = decltype(keel::insert(std::vector<TicketHolder>{}));
  const std::size_t n = std::min<std::size_t>(Holders::rows_per_statement(db.dialect()), 20'000);
  std::vector<TicketHolder> rows;
  for (std::size_t i = 0; i < n; ++i) rows.push_back(TicketHolder{.code = "T-" + std::to_string(i), .status = "new"});
  const auto upsert = [&] {
    return keel::insert(rows).on_conflict(c<&TicketHolder::code>).do_update().set(c<&TicketHolder::status>, "seen");
  };
  CHECK(upsert().run_sync(db) == n);
  CHECK(upsert().run_sync(db) == n);
  CHECK(keel::count<TicketHolder>().where(c<&TicketHolder::status> == "seen").run_sync(db) ==
        static_cast<std::int64_t>(n));
}

TEST_CASE_METHOD(Fixture, "upsert: in a transaction, and split when too large for one statement") {
  // More rows than one statement binds on SQLite (32,766 values): the insert is split in one transaction, and
  // the counts add up.
  std::vector<Band> rows;
  for (int i = 0; i < 12'000; ++i)
    rows.push_back(Band{.name = "band " + std::to_string(i % 11'000), .manager = guido, .popularity = i});
  // On PostgreSQL one statement may not update a row twice, so the repeated names go in a second insert.
  std::vector<Band> first(rows.begin(), rows.begin() + 11'000), second(rows.begin() + 11'000, rows.end());
  db.transaction_sync([&] {
    CHECK(keel::insert(first).on_conflict(c<&Band::name>).do_update(c<&Band::popularity>).run_sync() == 11'000);
    CHECK(keel::insert(second).on_conflict(c<&Band::name>).do_update(c<&Band::popularity>).run_sync() == 1'000);
  });
  CHECK(keel::count<Band>().where(c<&Band::name>.like("band %")).run_sync(db) == 11'000);
  CHECK(keel::select(c<&Band::popularity>).where(c<&Band::name> == "band 7").run_sync(db) ==
        std::vector<std::int64_t>{11'007});
}
