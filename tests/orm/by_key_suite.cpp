// Rows one at a time against every engine: keel::get finds one by its key, keel::save inserts a new row and
// updates a stored one (with a generated key and with a key the application gives), keel::get_or_create finds
// one by a condition or inserts it.
#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
import keel;
#include "orm_fixture.hpp"

using namespace orm_test;
using keel::c;

TEST_CASE_METHOD(Fixture, "by key: get finds a row by its primary key, or nothing") {
  const std::int64_t id = keel::select(c<&Band::id>).where(c<&Band::name> == "Rustaceans").run_sync(db).at(0);
  const std::optional<Band> band = keel::get<Band>(id).run_sync(db);
  REQUIRE(band);
  CHECK(*band->name == "Rustaceans");
  CHECK(band->popularity == 2000);
  CHECK_FALSE(keel::get<Band>(id + 1000).run_sync(db));
  // A key the application gives, of text.
  keel::insert(TicketHolder{.code = "A-1"}).run_sync(db);
  CHECK(keel::get<TicketHolder>("A-1").run_sync(db));
  CHECK_FALSE(keel::get<TicketHolder>("Z-9").run_sync(db));
}

TEST_CASE_METHOD(Fixture, "by key: save inserts a new row and updates a stored one") {
  // New: no key yet, so it is inserted and comes back with the database's key.
  Band band = keel::save(Band{.name = "Gophers", .manager = graydon, .popularity = 800}).run_sync(db);
  REQUIRE(band.id > 0);
  CHECK(keel::count<Band>().run_sync(db) == 4);
  // Stored: every column but the key is written, by the key.
  band.popularity = 900;
  band.country = "US";
  const Band saved = keel::save(band).run_sync(db);
  CHECK(saved.id == band.id);
  auto stored = keel::get<Band>(*band.id).run_sync(db);
  REQUIRE(stored);
  CHECK(stored->popularity == 900);
  CHECK(stored->country == "US");
  CHECK(keel::count<Band>().run_sync(db) == 4);
  // A key the database never gave (or a deleted row) is an error, not a silent no-op.
  Band ghost = band;
  ghost.id = *band.id + 1000;
  CHECK_THROWS_AS(keel::save(ghost).run_sync(db), keel::MisuseError);
  // A constraint still holds: a second band named like the first fails.
  CHECK_THROWS_AS(keel::save(Band{.name = "Gophers", .manager = guido}).run_sync(db), keel::UniqueViolation);
}

namespace {
struct Tag {  // a table of its given key alone
  static constexpr std::string_view table_name = "tag";
  keel::PrimaryKey<std::string> label;
};
}  // namespace

TEST_CASE_METHOD(Fixture, "by key: save of a row whose key the application gives inserts or updates it at once") {
  keel::create_table<Tag>().run_sync(db);
  CHECK(*keel::save(Tag{.label = "rock"}).run_sync(db).label == "rock");
  CHECK(*keel::save(Tag{.label = "rock"}).run_sync(db).label == "rock");  // already there: nothing to change
  CHECK(keel::count<Tag>().run_sync(db) == 1);

  const keel::Blob photo{std::byte{1}, std::byte{2}};
  CHECK(*keel::save(TicketHolder{.code = "A-1", .photo = photo, .status = "new"}).run_sync(db).code == "A-1");
  keel::save(TicketHolder{.code = "A-1", .photo = photo, .status = "used"}).run_sync(db);
  keel::save(TicketHolder{.code = "B-2", .photo = photo, .status = "new"}).run_sync(db);
  CHECK(keel::select(c<&TicketHolder::code>, c<&TicketHolder::status>).order_by(c<&TicketHolder::code>).run_sync(db) ==
        std::vector<std::tuple<std::string, std::string>>{{"A-1", "used"}, {"B-2", "new"}});
}

TEST_CASE_METHOD(Fixture, "get_or_create finds the row a condition meets, or inserts the row given and reads it back") {
  // Found: nothing inserted, the stored row given back.
  const auto found =
      keel::get_or_create(c<&Band::name> == "Rustaceans", Band{.name = "Rustaceans", .manager = guido}).run_sync(db);
  CHECK_FALSE(found.created);
  CHECK(found.row.popularity == 2000);
  CHECK(found.row.manager.value == *graydon.id);
  CHECK(keel::count<Band>().run_sync(db) == 3);

  // Not found: inserted, with its key as stored.
  auto [made, created] = keel::get_or_create(c<&Band::name> == "Haskellers",
                                             Band{.name = "Haskellers", .manager = graydon, .popularity = 7})
                             .run_sync(db);
  CHECK(created);
  CHECK(made.id > 0);
  CHECK(made.popularity == 7);
  CHECK(keel::get<Band>(made.id).run_sync(db).value().name == std::string("Haskellers"));

  // The same call again finds that row; so does one inside a transaction.
  CHECK_FALSE(keel::get_or_create(c<&Band::name> == "Haskellers", Band{.name = "Haskellers", .manager = graydon})
                  .run_sync(db)
                  .created);
  const auto in_transaction = db.transaction_sync([&] {
    return keel::get_or_create(c<&Band::name> == "Lispers", Band{.name = "Lispers", .manager = guido}).run_sync();
  });
  CHECK(in_transaction.created);
  CHECK(keel::count<Band>().run_sync(db) == 5);

  // A row that conflicts with a stored one that the condition does not find (the name is unique): nothing is
  // inserted, and the call says why. A row that does not meet its own condition is refused too.
  CHECK_THROWS_WITH(
      keel::get_or_create(c<&Band::popularity> == 12345, Band{.name = "Rustaceans", .manager = guido}).run_sync(db),
      Catch::Contains("conflicts with a stored band row"));
  CHECK_THROWS_WITH(
      keel::get_or_create(c<&Band::name> == "Nobody", Band{.name = "Somebody", .manager = guido}).run_sync(db),
      Catch::Contains("does not meet its condition"));
  CHECK(keel::count<Band>().run_sync(db) == 5);  // Somebody's insert was rolled back
}
