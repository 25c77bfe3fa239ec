// The ORM against every engine (KEEL_TEST_ENGINE, see engine_fixture.hpp): the same query code, the same
// results. Rendering details are in tests/unit/orm_render_test.cpp; this suite checks what the database does.
#include <catch2/catch.hpp>
#include <algorithm>
#include <boost/asio.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>
import keel;
#include "../engine/engine_fixture.hpp"
#include "orm_fixture.hpp"

namespace asio = boost::asio;
using namespace orm_test;
using keel::c;

TEST_CASE_METHOD(Fixture, "orm: insert returns the rows with their generated keys") {
  CHECK(guido.id > 0);
  CHECK(graydon.id != guido.id);
  auto saved = keel::insert(std::vector<Band>{{.name = "Gophers", .manager = graydon, .popularity = 800},
                                              {.name = "Haskellers", .manager = guido, .popularity = 300}})
                   .run_sync(db);
  REQUIRE(saved.size() == 2);
  // Each key belongs to its own row in the database.
  for (const Band& band : saved) {
    auto stored = keel::select<Band>().where(c<&Band::id> == band.id).first().run_sync(db);
    REQUIRE(stored);
    CHECK(stored->name == *band.name);
    CHECK(stored->popularity == *band.popularity);
  }
  CHECK(saved[0].id < saved[1].id);
  CHECK(keel::insert(std::vector<Band>{}).run_sync(db).empty());
  // A given key, a blob and a database default.
  keel::Blob photo{std::byte{0}, std::byte{255}, std::byte{7}};
  auto holder = keel::insert(TicketHolder{.code = "A-1", .photo = photo}).run_sync(db);
  CHECK(*holder.code == "A-1");
  auto read = keel::select<TicketHolder>().where(c<&TicketHolder::code> == "A-1").first().run_sync(db);
  REQUIRE(read);
  CHECK(read->photo == photo);
  CHECK(*read->status == "it's new");
  db.raw_sync("INSERT INTO holders (code, photo) VALUES ({}, {})", "B-2", photo);
  CHECK(keel::select(c<&TicketHolder::status>).where(c<&TicketHolder::code> == "B-2").run_sync(db) ==
        std::vector<std::string>{"it's new"});
}

TEST_CASE_METHOD(Fixture,
                 "orm: many rows keep every kind of member; the caller's rows and the query stay as they were") {
  const Band band = *keel::select<Band>().where(c<&Band::name> == "Pythonistas").first().run_sync(db);
  const std::vector<Concert> concerts{
      {.band = band, .venue = "Paradiso", .price = 12.5, .sold_out = true, .capacity = 1500, .promoter = guido},
      {.band = band, .venue = "Melkweg"}};
  auto check_saved = [&](const std::vector<Concert>& saved) {
    REQUIRE(saved.size() == 2);
    CHECK(saved[0].id > 0);
    CHECK(saved[0].id < saved[1].id);
    CHECK(saved[1].venue == "Melkweg");
    CHECK(saved[0].promoter == std::optional<keel::ForeignKey<Manager>>(guido));
  };
  // A query kept and run twice inserts its rows twice: a run takes nothing from it.
  const auto twice = keel::insert(concerts);
  check_saved(twice.run_sync(db));
  check_saved(twice.run_sync(db));
  // Run as it is made, its copy of the rows becomes the result; the caller's rows keep no key.
  check_saved(keel::insert(concerts).run_sync(db));
  CHECK(concerts[0].id.value == 0);
  CHECK(concerts[0].venue == "Paradiso");
  // A copy run as an rvalue leaves the insert it was copied from whole; the one moved from keeps no rows.
  auto original = keel::insert(concerts);
  auto copy = original;
  check_saved(std::move(copy).run_sync(db));
  check_saved(original.run_sync(db));
  CHECK(copy.run_sync(db).empty());  // NOLINT(bugprone-use-after-move): what is left of a moved insert
  const auto stored = keel::select<Concert>().order_by(c<&Concert::id>).run_sync(db);
  REQUIRE(stored.size() == 10);
  for (std::size_t i = 0; i < stored.size(); ++i) {
    const Concert& given = concerts[i % 2];
    CHECK(stored[i].band == band.id);
    CHECK(stored[i].venue == given.venue);
    CHECK(stored[i].price == given.price);
    CHECK(stored[i].sold_out == given.sold_out);
    CHECK(stored[i].capacity == given.capacity);
    CHECK(stored[i].promoter == given.promoter);
  }
}

TEST_CASE_METHOD(Fixture, "orm: select decodes whole rows into structs") {
  auto bands = keel::select<Band>().order_by(c<&Band::name>).run_sync(db);
  REQUIRE(bands.size() == 3);
  CHECK(*bands[0].name == "C-Sharps");
  CHECK_FALSE(bands[0].country.has_value());
  CHECK(bands[0].manager == guido.id);
  CHECK(*bands[1].name == "Pythonistas");
  CHECK(bands[1].country == std::optional<std::string>("NL"));
  CHECK(bands[2].popularity == 2000);

  CHECK_FALSE(keel::select<Band>().where(c<&Band::name> == "Nobody").first().run_sync(db).has_value());
  CHECK(keel::count<Band>().run_sync(db) == 3);
  CHECK(keel::count<Band>().where(c<&Band::country>.is_not_null()).run_sync(db) == 2);
  CHECK(keel::exists<Band>().where(c<&Band::popularity> > 1500).run_sync(db));
  CHECK_FALSE(keel::exists<Band>().where(c<&Band::popularity> > 5000).run_sync(db));
}

TEST_CASE_METHOD(Fixture, "orm: a query awaited after it and its arguments are gone runs with its own copy of them") {
  // Each returns only the awaitable: the query, its arguments and the row are gone when it runs. Texts longer than
  // a short string's buffer, which an engine that binds them straight (run(), on SQLite) binds where they lie in
  // the query's copy. On the engine given (run(db)), and on the default engine (run()).
  keel::set_default_engine(engine);
  bool on_context = false;
  auto on = [&](const auto& query) { return on_context ? query.run() : query.run(db); };
  auto add = [&](std::string name, std::int64_t popularity) {
    return on(keel::insert(Band{.name = name, .manager = guido, .popularity = popularity, .country = "from " + name}));
  };
  auto find = [&](std::string name) { return on(keel::select<Band>().where(c<&Band::name> == name).first()); };
  auto rename = [&](std::string from, std::string to) {
    return on(keel::update<Band>().set(c<&Band::name>, to).where(c<&Band::name> == from));
  };
  auto remove = [&](std::string name) { return on(keel::delete_from<Band>().where(c<&Band::name> == name)); };
  auto scribble = [] {  // reuses the heap that the gone arguments had
    std::vector<std::string> noise(64, std::string(80, '#'));
    return noise.size();
  };
  const std::string stem = "a band whose name is longer than a short string's buffer, number ";
  for (int run = 0; run < 6; ++run) {  // the first runs prepare each text; the later ones may run at once
    on_context = run >= 3;
    INFO("run " << run);
    const std::string name = stem + std::to_string(run);
    auto adding = add(name, 100 + run);
    scribble();
    const Band added = keel::run_sync(std::move(adding));
    auto finding = find(name);
    scribble();
    const std::optional<Band> found = keel::run_sync(std::move(finding));
    REQUIRE(found.has_value());
    CHECK(found->id == added.id);
    CHECK(*found->name == name);
    CHECK(found->popularity == 100 + run);
    CHECK(found->country == std::optional<std::string>("from " + name));
    auto renaming = rename(name, name + " (renamed)");
    scribble();
    CHECK(keel::run_sync(std::move(renaming)) == 1);
    auto removing = remove(name + " (renamed)");
    scribble();
    CHECK(keel::run_sync(std::move(removing)) == 1);
  }
  CHECK(keel::count<Band>().run_sync(db) == 3);
}

namespace {
// Read from a table whose `level` column holds text where this struct wants a number.
struct Reading {
  static constexpr std::string_view table_name = "readings";
  keel::Id id;
  std::optional<std::int64_t> level;
  std::string note;
};
}  // namespace

TEST_CASE_METHOD(Fixture,
                 "orm: a row that cannot be decoded fails its query with a typed error, and nothing of it is kept") {
  db.raw_sync("CREATE TABLE readings (id INTEGER PRIMARY KEY, level TEXT, note TEXT NOT NULL)");
  db.raw_sync("INSERT INTO readings (id, level, note) VALUES (1, NULL, 'quiet'), (2, 'high', 'loud')");
  // Rows are decoded where the result keeps them: the second row fails after the first is in the result.
  CHECK_THROWS_AS(keel::select<Reading>().order_by(c<&Reading::id>).run_sync(db), keel::TypeMismatchError);
  CHECK_THROWS_AS(keel::select<Reading>().where(c<&Reading::id> == 2).first().run_sync(db), keel::TypeMismatchError);
  CHECK_THROWS_WITH(keel::select<Reading>().where(c<&Reading::id> == 2).first().run_sync(db),
                    Catch::Contains("'level'"));
  const std::optional<Reading> quiet = keel::select<Reading>().where(c<&Reading::id> == 1).first().run_sync(db);
  REQUIRE(quiet.has_value());
  CHECK_FALSE(quiet->level.has_value());
  CHECK(quiet->note == "quiet");
  CHECK(keel::select<Reading>().where(c<&Reading::id> == 1).run_sync(db).size() == 1);
  CHECK(keel::count<Band>().run_sync(db) == 3);
}

TEST_CASE_METHOD(Fixture, "orm: a select run again reserves the rows its runs gave, once; batches leave that be") {
  std::vector<Band> more;
  for (int i = 0; i < 150; ++i)
    more.push_back(Band{.name = "reserved " + std::to_string(i), .manager = guido, .popularity = i});
  keel::insert(more).run_sync(db);
  const auto query = [](std::int64_t popularity) {
    return keel::select<Band>().where(c<&Band::popularity> >= popularity).order_by(c<&Band::id>);
  };
  // Other tests in this process may have run the same query type: two runs set the hint, which keeps the
  // smaller of the last two counts.
  CHECK(query(0).run_sync(db).size() == 153);
  CHECK(query(0).run_sync(db).size() == 153);
  const std::vector<Band> again = query(0).run_sync(db);
  CHECK(again.size() == 153);
  CHECK(again.capacity() == 153);  // reserved once; growing one row at a time ends at 256
  CHECK(again.back().popularity == 149);

  // A much smaller result keeps the room reserved for the count before (it is not shrunk: see SelectCollector),
  // and the next run reserves for the smaller count.
  const std::vector<Band> few = query(1500).run_sync(db);
  REQUIRE(few.size() == 1);
  CHECK(*few[0].name == "Rustaceans");
  CHECK(few.capacity() == 153);
  CHECK(query(0).run_sync(db).capacity() == 256);  // the last two counts: 153 and 1
  CHECK(query(0).run_sync(db).capacity() == 256);  // 1 and 153
  CHECK(query(0).run_sync(db).capacity() == 153);  // 153 and 153

  // Batches of the same query reserve their own size, and teach the hint nothing (the last one holds 3 rows).
  auto batches = db.batch_sync(query(0), 10);
  std::size_t batched = 0;
  while (auto batch = batches.next_sync()) {
    CHECK(batch->size() <= 10);
    CHECK(batch->capacity() <= 10);
    batched += batch->size();
  }
  CHECK(batched == 153);
  CHECK(query(0).run_sync(db).capacity() == 153);
}

TEST_CASE_METHOD(Fixture, "orm: where, order, limit, offset, distinct") {
  auto pick = [&](auto condition) {
    return keel::select(c<&Band::name>).where(condition).order_by(c<&Band::name>).run_sync(db);
  };
  using Names = std::vector<std::string>;
  CHECK(pick(c<&Band::popularity> >= 1000 && c<&Band::popularity> < 2000) == Names{"Pythonistas"});
  CHECK(pick(c<&Band::popularity> < 100 || c<&Band::country> == "CA") == Names{"C-Sharps", "Rustaceans"});
  CHECK(pick(!(c<&Band::popularity> > 100)) == Names{"C-Sharps"});
  CHECK(pick(c<&Band::popularity> * 2 + 1 == 2001) == Names{"Pythonistas"});
  CHECK(pick(c<&Band::popularity> % 7 == 1000 % 7) == Names{"Pythonistas"});
  // like is case-sensitive on every engine, ilike is not.
  CHECK(pick(c<&Band::name>.like("%ust%")) == Names{"Rustaceans"});
  CHECK(pick(c<&Band::name>.like("%UST%")).empty());
  CHECK(pick(c<&Band::name>.ilike("%UST%")) == Names{"Rustaceans"});
  CHECK(pick(c<&Band::name>.like("C-Sharp_")) == Names{"C-Sharps"});
  CHECK(pick(c<&Band::name>.not_like("%s")).empty());
  CHECK(pick(c<&Band::name>.in({"Rustaceans", "C-Sharps", "Nobody"})) == Names{"C-Sharps", "Rustaceans"});
  CHECK(pick(c<&Band::name>.not_in(std::vector<std::string>{"Rustaceans"})) == Names{"C-Sharps", "Pythonistas"});
  CHECK(pick(c<&Band::id>.in(std::vector<std::int64_t>{})).empty());
  CHECK(pick(c<&Band::country>.is_null()) == Names{"C-Sharps"});
  // A value that looks like SQL stays a value.
  CHECK(pick(c<&Band::name> == "x' OR 1=1 --").empty());

  CHECK(keel::select(c<&Band::name>).order_by(c<&Band::popularity>).limit(2).run_sync(db) ==
        Names{"C-Sharps", "Pythonistas"});
  CHECK(keel::select(c<&Band::name>).order_by(c<&Band::popularity>).limit(2).offset(1).run_sync(db) ==
        Names{"Pythonistas", "Rustaceans"});
  CHECK(keel::select(c<&Band::name>).order_by(c<&Band::popularity>).offset(2).run_sync(db) == Names{"Rustaceans"});
  CHECK(keel::select(c<&Band::manager>).distinct().order_by(c<&Band::manager>).run_sync(db) ==
        std::vector<std::int64_t>{guido.id, graydon.id});
}

TEST_CASE_METHOD(Fixture, "orm: chosen columns decode into tuples, NULL into optional") {
  auto rows =
      keel::select(c<&Band::name>, c<&Band::popularity>, c<&Band::country>).order_by(c<&Band::popularity>).run_sync(db);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0] == std::tuple<std::string, std::int64_t, std::optional<std::string>>{"C-Sharps", 10, std::nullopt});
  CHECK(rows[2] == std::tuple<std::string, std::int64_t, std::optional<std::string>>{"Rustaceans", 2000, "CA"});
  auto computed = keel::select(c<&Band::popularity> / 10, c<&Band::popularity> * 0.5)
                      .where(c<&Band::name> == "Rustaceans")
                      .run_sync(db);
  CHECK(computed == std::vector<std::tuple<std::int64_t, double>>{{200, 1000.0}});
}

TEST_CASE_METHOD(Fixture, "orm: values of every column type round-trip") {
  const auto band = keel::select(c<&Band::id>).where(c<&Band::name> == "Pythonistas").run_sync(db).at(0);
  auto concert = keel::insert(Concert{.band = band,
                                      .venue = "Paradiso",
                                      .price = 12.5,
                                      .sold_out = true,
                                      .capacity = 1500,
                                      .promoter = graydon})
                     .run_sync(db);
  keel::insert(Concert{.band = band, .venue = "Melkweg", .price = -0.25}).run_sync(db);
  auto concerts = keel::select<Concert>().order_by(c<&Concert::id>).run_sync(db);
  REQUIRE(concerts.size() == 2);
  CHECK(concerts[0].id == concert.id);
  CHECK(concerts[0].band == band);
  CHECK(concerts[0].venue == "Paradiso");
  CHECK(concerts[0].price == 12.5);
  CHECK(concerts[0].sold_out);
  CHECK(concerts[0].capacity == std::optional<std::int32_t>(1500));
  REQUIRE(concerts[0].promoter.has_value());
  CHECK(concerts[0].promoter->value == graydon.id);
  CHECK(concerts[1].price == -0.25);
  CHECK_FALSE(concerts[1].sold_out);
  CHECK_FALSE(concerts[1].capacity.has_value());
  CHECK_FALSE(concerts[1].promoter.has_value());
  CHECK(keel::select(c<&Concert::venue>).where(c<&Concert::sold_out>).run_sync(db) ==
        std::vector<std::string>{"Paradiso"});
  CHECK(keel::select(c<&Concert::venue>).where(c<&Concert::sold_out> == false).run_sync(db) ==
        std::vector<std::string>{"Melkweg"});
}

TEST_CASE_METHOD(Fixture, "orm: update sets values and expressions, and needs where or force") {
  auto updated = keel::update<Band>()
                     .set(c<&Band::popularity>, c<&Band::popularity> + 5)
                     .set(c<&Band::country>, "DK")
                     .where(c<&Band::name> == "C-Sharps")
                     .run_sync(db);
  CHECK(updated == 1);
  auto sharps = keel::select<Band>().where(c<&Band::name> == "C-Sharps").first().run_sync(db);
  REQUIRE(sharps);
  CHECK(sharps->popularity == 15);
  CHECK(sharps->country == std::optional<std::string>("DK"));
  CHECK(keel::update<Band>().set(c<&Band::country>, std::nullopt).where(c<&Band::country> == "DK").run_sync(db) == 1);
  CHECK(keel::count<Band>().where(c<&Band::country>.is_null()).run_sync(db) == 1);
  CHECK(keel::update<Band>().set(c<&Band::popularity>, 0).force().run_sync(db) == 3);
  auto returned = keel::update<Band>()
                      .set(c<&Band::popularity>, 7)
                      .where(c<&Band::name>.like("%s"))
                      .returning(c<&Band::name>, c<&Band::popularity>)
                      .run_sync(db);
  CHECK(returned.size() == 3);
  for (const auto& [name, popularity] : returned) CHECK(popularity == 7);
}

TEST_CASE_METHOD(Fixture, "orm: delete with where, returning, or force") {
  CHECK(keel::delete_from<Band>().where(c<&Band::popularity> < 100).run_sync(db) == 1);
  auto gone = keel::delete_from<Band>().where(c<&Band::country> == "CA").returning(c<&Band::name>).run_sync(db);
  CHECK(gone == std::vector<std::string>{"Rustaceans"});
  CHECK(names_by_popularity() == std::vector<std::string>{"Pythonistas"});
  CHECK(keel::delete_from<Band>().force().run_sync(db) == 1);
  CHECK(keel::count<Band>().run_sync(db) == 0);
}

TEST_CASE_METHOD(Fixture, "orm: joins along foreign keys, and left joins with NULLs") {
  auto rows = keel::select(c<&Band::name>, c<&Manager::name>)
                  .join<&Band::manager>()
                  .where(c<&Manager::name> == "Guido")
                  .order_by(c<&Band::name>)
                  .run_sync(db);
  CHECK(rows == std::vector<std::tuple<std::string, std::string>>{{"C-Sharps", "Guido"}, {"Pythonistas", "Guido"}});
  // Whole rows filtered through a joined table.
  auto managed = keel::select<Band>().join<&Band::manager>().where(c<&Manager::name> == "Graydon").run_sync(db);
  REQUIRE(managed.size() == 1);
  CHECK(*managed[0].name == "Rustaceans");

  const auto band = keel::select(c<&Band::id>).where(c<&Band::name> == "Rustaceans").run_sync(db).at(0);
  keel::insert(Concert{.band = band, .venue = "Ziggo", .promoter = guido}, Concert{.band = band, .venue = "Patronaat"})
      .run_sync(db);
  auto promoters = keel::select(c<&Concert::venue>, c<&Manager::name>, c<&Band::name>)
                       .left_join<&Concert::promoter>()
                       .join<&Concert::band>()
                       .order_by(c<&Concert::venue>)
                       .run_sync(db);
  using Row = std::tuple<std::string, std::optional<std::string>, std::string>;
  CHECK(promoters == std::vector<Row>{{"Patronaat", std::nullopt, "Rustaceans"}, {"Ziggo", "Guido", "Rustaceans"}});
}

TEST_CASE_METHOD(Fixture, "orm: group_by with count, sum, avg, min and max") {
  auto rows = keel::select(c<&Manager::name>, keel::count_all(), keel::sum(c<&Band::popularity>),
                           keel::avg(c<&Band::popularity>), keel::min(c<&Band::name>), keel::max(c<&Band::popularity>))
                  .join<&Band::manager>()
                  .group_by(c<&Manager::name>)
                  .order_by(c<&Manager::name>)
                  .run_sync(db);
  REQUIRE(rows.size() == 2);
  const auto& [graydon_name, graydon_count, graydon_sum, graydon_avg, graydon_min, graydon_max] = rows[0];
  CHECK(graydon_name == "Graydon");
  CHECK(graydon_count == 1);
  CHECK(graydon_sum == 2000);
  CHECK(graydon_avg == 2000.0);
  const auto& [guido_name, guido_count, guido_sum, guido_avg, guido_min, guido_max] = rows[1];
  CHECK(guido_name == "Guido");
  CHECK(guido_count == 2);
  CHECK(guido_sum == 1010);
  CHECK(guido_avg == 505.0);
  CHECK(guido_min == std::optional<std::string>("C-Sharps"));
  CHECK(guido_max == std::optional<std::int64_t>(1000));
  // Over no rows, only count is not NULL.
  auto empty = keel::select<Band>(keel::count_all(), keel::sum(c<&Band::popularity>))
                   .where(c<&Band::popularity> > 99999)
                   .run_sync(db);
  CHECK(empty == std::vector<std::tuple<std::int64_t, std::optional<std::int64_t>>>{{0, std::nullopt}});
  // HAVING keeps the groups its condition holds for: Guido has two bands, Graydon one.
  auto busy = keel::select(c<&Manager::name>, keel::count_all())
                  .join<&Band::manager>()
                  .group_by(c<&Manager::name>)
                  .having(keel::count_all() > 1)
                  .run_sync(db);
  CHECK(busy == std::vector<std::tuple<std::string, std::int64_t>>{{"Guido", 2}});
  auto popular = keel::select(c<&Manager::name>)
                     .join<&Band::manager>()
                     .where(c<&Band::popularity> > 5)
                     .group_by(c<&Manager::name>)
                     .having(keel::sum(c<&Band::popularity>) >= 1000)
                     .having(keel::min(c<&Band::popularity>) < 1500)
                     .run_sync(db);
  CHECK(popular == std::vector<std::string>{"Guido"});
}

TEST_CASE_METHOD(Fixture, "orm: constraint violations are typed errors on every engine") {
  CHECK_THROWS_AS(keel::insert(Band{.name = "Pythonistas", .manager = guido}).run_sync(db), keel::UniqueViolation);
  CHECK_THROWS_AS(keel::insert(Band{.name = "Orphans", .manager = 999999}).run_sync(db), keel::ForeignKeyViolation);
  CHECK(keel::count<Band>().run_sync(db) == 3);  // nothing was lost, and the engine still works
}

TEST_CASE_METHOD(Fixture, "orm: queries run on the transaction in scope, an engine, or a transaction given") {
  // Inside engine.transaction, query.run() uses the transaction without being told; a throw undoes it.
  try {
    keel::run_sync(db.transaction([&]() -> asio::awaitable<void> {
      co_await keel::insert(Band{.name = "Gophers", .manager = graydon}).run();
      CHECK(co_await keel::count<Band>().run() == 4);
      throw std::runtime_error("undo");
    }));
  } catch (const std::runtime_error&) {}
  CHECK(keel::count<Band>().run_sync(db) == 3);

  keel::run_sync(db.transaction([&](keel::Transaction& tx) -> asio::awaitable<void> {
    co_await keel::insert(Band{.name = "Gophers", .manager = graydon}).run();
    auto savepoint = co_await tx.savepoint();
    co_await keel::delete_from<Band>().force().run();
    CHECK(co_await keel::count<Band>().run() == 0);
    co_await savepoint.rollback_to();
  }));
  CHECK(keel::count<Band>().run_sync(db) == 4);

  // An explicit transaction passed to run().
  keel::Transaction tx = db.begin_sync();
  keel::update<Band>().set(c<&Band::popularity>, 1).where(c<&Band::name> == "Gophers").run_sync(tx);
  keel::run_sync(tx.rollback());
  CHECK(keel::select(c<&Band::popularity>).where(c<&Band::name> == "Gophers").run_sync(db) ==
        std::vector<std::int64_t>{0});

  // With a default engine installed, run() needs no engine at all.
  keel::set_default_engine(engine);
  CHECK(keel::count<Band>().run_sync() == 4);
  CHECK(keel::run_sync(keel::exists<Band>().where(c<&Band::name> == "Gophers").run()));
}

TEST_CASE_METHOD(Fixture, "orm: atomic runs and batch iteration take ORM queries") {
  auto atomic = db.atomic();
  atomic.add(keel::insert(Band{.name = "Gophers", .manager = graydon}),
             keel::insert(Band{.name = "Pythonistas", .manager = guido}));  // a duplicate name
  CHECK_THROWS_AS(atomic.run_sync(), keel::UniqueViolation);
  CHECK(keel::count<Band>().run_sync(db) == 3);
  keel::run_sync(db.atomic()
                     .add(keel::update<Band>().set(c<&Band::popularity>, 1).where(c<&Band::name> == "C-Sharps"),
                          keel::delete_from<Band>().where(c<&Band::name> == "Rustaceans"))
                     .run());
  CHECK(names_by_popularity() == std::vector<std::string>{"Pythonistas", "C-Sharps"});

  std::vector<Band> more;
  for (int i = 0; i < 7; ++i)
    more.push_back(Band{.name = "band" + std::to_string(i), .manager = guido, .popularity = 100 + i});
  keel::insert(more).run_sync(db);
  auto batches =
      db.batch_sync(keel::select<Band>().where(c<&Band::popularity> >= 100).order_by(c<&Band::popularity>), 3);
  std::vector<std::size_t> sizes;
  std::vector<std::string> names;
  while (auto batch = batches.next_sync()) {
    sizes.push_back(batch->size());
    for (const Band& band : *batch) names.push_back(*band.name);
  }
  CHECK(sizes == std::vector<std::size_t>{3, 3, 2});
  CHECK(names.front() == "band0");
  CHECK(names.back() == "Pythonistas");
}

TEST_CASE_METHOD(Fixture, "orm: the batches of a select take no write lock, so writers elsewhere go on") {
  auto batches = db.batch_sync(keel::select<Band>().order_by(c<&Band::popularity>), 2);
  const auto first = batches.next_sync();  // the batches' transaction is open now
  REQUIRE(first);
  CHECK(first->size() == 2);
  // Another connection writes meanwhile. Under a write lock (SQLite's BEGIN IMMEDIATE) it would wait out the
  // busy timeout and fail with LockNotAvailable.
  const Band added = keel::insert(Band{.name = "Gophers", .manager = graydon, .popularity = 5}).run_sync(db);
  CHECK(*added.id > 0);
  std::size_t rest = 0;
  while (auto batch = batches.next_sync()) rest += batch->size();
  CHECK(rest == 1);  // the batches read the rows as they were when they began
  CHECK(keel::count<Band>().run_sync(db) == 4);
}

TEST_CASE_METHOD(Fixture, "orm: an insert too large for one statement is split, and stays all or nothing") {
  // PostgreSQL takes any number of rows as one array per column: the same rows make one statement there.
  const bool from_arrays = db.dialect()->inserts_rows_from_arrays;
  const std::size_t per_statement =
      from_arrays ? 65535 / 4 : decltype(keel::insert(std::vector<Band>{}))::rows_per_statement(db.dialect());
  const std::size_t total = per_statement * 2 + 17;  // three statements, where values are bound per cell
  std::vector<Band> many;
  many.reserve(total);
  for (std::size_t i = 0; i < total; ++i)
    many.push_back(Band{.name = "bulk" + std::to_string(i),
                        .manager = guido,
                        .popularity = static_cast<std::int64_t>(i),
                        .country = i % 3 ? std::optional<std::string>("C" + std::to_string(i)) : std::nullopt});

  // A duplicate in the last statement undoes the first two.
  auto failing = many;
  failing.back().name = "Pythonistas";
  CHECK_THROWS_AS(keel::insert(failing).run_sync(db), keel::UniqueViolation);
  CHECK(keel::count<Band>().run_sync(db) == 3);

  std::size_t statements = 0, bound = 0;
  const auto logger = db.add_query_logger([&](const keel::LoggedStatement& s) {
    if (s.sql.find("INSERT") != std::string_view::npos) ++statements, bound += s.params.size();
  });
  auto saved = keel::insert(many).run_sync(db);
  db.remove_query_logger(logger);
  REQUIRE(saved.size() == total);
  // One statement of arrays (PostgreSQL), or one call of the one-row statement per row (SQLite's execute_each).
  const bool one_call = from_arrays || db.dialect()->inserts_rows_one_by_one;
  CHECK(statements == (one_call ? 1 : 3));
  CHECK(bound == (from_arrays ? 4 : total * 4));
  CHECK(keel::count<Band>().run_sync(db) == static_cast<std::int64_t>(total + 3));
  // The keys of every part belong to their rows, NULLs stay NULL.
  for (std::size_t i : {std::size_t{0}, std::size_t{1}, per_statement - 1, per_statement, total - 1}) {
    auto stored = keel::select(c<&Band::name>, c<&Band::popularity>, c<&Band::country>)
                      .where(c<&Band::id> == saved[i].id)
                      .run_sync(db);
    REQUIRE(stored.size() == 1);
    CHECK(std::get<0>(stored[0]) == "bulk" + std::to_string(i));
    CHECK(std::get<1>(stored[0]) == static_cast<std::int64_t>(i));
    CHECK(std::get<2>(stored[0]) == many[i].country);
  }
  // As one statement it is refused where values are bound per cell, with the limit in the message.
  if (!from_arrays)
    CHECK_THROWS_AS(keel::insert(many).statement(db.dialect()), keel::MisuseError);
  else
    CHECK(keel::insert(many).statement(db.dialect()).params().size() == 4);
}

TEST_CASE_METHOD(Fixture, "orm: queries that differ only in an operator or option return their own rows") {
  // Each pair is one query shape but for the operator; the second must not run the first one's SQL.
  const auto n = c<&Band::popularity>;
  CHECK(keel::count<Band>().where(n > 500).run_sync(db) == 2);
  CHECK(keel::count<Band>().where(n < 500).run_sync(db) == 1);
  CHECK(keel::count<Band>().where(n >= 1000).run_sync(db) == 2);
  CHECK(keel::count<Band>().where(n <= 1000).run_sync(db) == 2);
  CHECK(keel::count<Band>().where(n == 1000).run_sync(db) == 1);
  CHECK(keel::count<Band>().where(n != 1000).run_sync(db) == 2);
  CHECK(keel::count<Band>().where(n > 500 && n < 1500).run_sync(db) == 1);
  CHECK(keel::count<Band>().where(n > 500 || n < 50).run_sync(db) == 3);
  const auto rust = c<&Band::name> == "Rustaceans";
  keel::update<Band>().set(n, n + 7).where(rust).run_sync(db);
  keel::update<Band>().set(n, n - 7).where(rust).run_sync(db);
  keel::update<Band>().set(n, n * 3).where(rust).run_sync(db);
  keel::update<Band>().set(n, n / 2).where(rust).run_sync(db);
  CHECK(keel::select(n).where(rust).run_sync(db) == std::vector<std::int64_t>{3000});
  const auto name = c<&Band::name>;
  CHECK(keel::count<Band>().where(name.like("%s")).run_sync(db) == 3);
  CHECK(keel::count<Band>().where(name.not_like("P%")).run_sync(db) == 2);
  CHECK(keel::count<Band>().where(name.ilike("p%")).run_sync(db) == 1);
  CHECK(keel::count<Band>().where(name.not_ilike("p%")).run_sync(db) == 2);
  CHECK(keel::select(name).order_by(n.asc()).first().run_sync(db) == std::optional<std::string>("C-Sharps"));
  CHECK(keel::select(name).order_by(n.desc()).first().run_sync(db) == std::optional<std::string>("Rustaceans"));
  CHECK(keel::select<Band>(keel::min(n)).run_sync(db) == std::vector<std::optional<std::int64_t>>{10});
  CHECK(keel::select<Band>(keel::max(n)).run_sync(db) == std::vector<std::optional<std::int64_t>>{3000});
  CHECK(keel::count<Band>().where(c<&Band::country>.is_null()).run_sync(db) == 1);
  CHECK(keel::count<Band>().where(c<&Band::country>.is_not_null()).run_sync(db) == 2);
}

TEST_CASE_METHOD(Fixture, "orm: == and != with an optional compare with its value, or mean IS NULL when empty") {
  using Country = std::optional<std::string>;
  const auto country = c<&Band::country>;
  auto names_where = [&](auto condition) {
    return keel::select(c<&Band::name>).where(condition).order_by(c<&Band::name>).run_sync(db);
  };
  using Names = std::vector<std::string>;
  // One query type, run with each choice in turn.
  for (int round = 0; round < 2; ++round) {
    CHECK(names_where(country == Country{}) == Names{"C-Sharps"});
    CHECK(names_where(country == Country{"NL"}) == Names{"Pythonistas"});
    CHECK(names_where(country != Country{}) == Names{"Pythonistas", "Rustaceans"});
    CHECK(names_where(country != Country{"NL"}) == Names{"Rustaceans"});
  }
  const auto band = keel::select(c<&Band::id>).where(c<&Band::name> == "Rustaceans").run_sync(db).at(0);
  keel::insert(Concert{.band = band, .venue = "Ziggo", .promoter = guido}, Concert{.band = band, .venue = "Patronaat"})
      .run_sync(db);
  auto venues_promoted_by = [&](std::optional<keel::ForeignKey<Manager>> promoter) {
    return keel::select(c<&Concert::venue>).where(c<&Concert::promoter> == promoter).run_sync(db);
  };
  CHECK(venues_promoted_by(std::nullopt) == Names{"Patronaat"});
  CHECK(venues_promoted_by(guido) == Names{"Ziggo"});
  CHECK(keel::delete_from<Concert>()
            .where(c<&Concert::promoter> == std::optional<keel::ForeignKey<Manager>>{})
            .run_sync(db) == 1);
}

TEST_CASE_METHOD(Fixture, "orm: column wrappers bind as their values in raw queries") {
  auto bands = keel::select<Band>().order_by(c<&Band::id>).run_sync(db);
  REQUIRE(bands.size() == 3);
  // keel::Id, keel::Unique<std::string> and keel::ForeignKey, as the rows hold them.
  auto by_id = db.raw_sync("SELECT name FROM band WHERE id = {}", bands[2].id);
  REQUIRE(by_id.size() == 1);
  CHECK(by_id[0].get<std::string>(0) == "C-Sharps");
  auto by_name = db.raw_sync("SELECT popularity FROM band WHERE name = {}", bands[1].name);
  REQUIRE(by_name.size() == 1);
  CHECK(by_name[0].get<std::int64_t>(0) == 2000);
  auto by_manager = db.raw_sync("SELECT count(*) FROM band WHERE manager = {}", bands[0].manager);
  CHECK(by_manager[0].get<std::int64_t>(0) == 2);
}

TEST_CASE_METHOD(Fixture, "orm: count over a left join is a plain count, 0 for the rows the join finds none for") {
  // Guido manages two bands, Graydon one, and a new manager none.
  keel::insert(Manager{.name = "Bjarne"}).run_sync(db);
  const auto counts = keel::select(c<&Manager::name>, keel::count(c<&Band::id>))
                          .left_join<&Band::manager>()
                          .group_by(c<&Manager::name>)
                          .order_by(c<&Manager::name>)
                          .run_sync(db);
  STATIC_REQUIRE(std::is_same_v<decltype(counts), const std::vector<std::tuple<std::string, std::int64_t>>>);
  CHECK(counts == std::vector<std::tuple<std::string, std::int64_t>>{{"Bjarne", 0}, {"Graydon", 1}, {"Guido", 2}});
}

TEST_CASE_METHOD(Fixture, "orm: for_update locks the rows it reads until the transaction ends") {
  keel::Transaction tx = db.begin_sync();
  const auto locked = keel::select<Band>().where(c<&Band::name> == "Rustaceans").for_update().run_sync(tx);
  REQUIRE(locked.size() == 1);
  CHECK(keel::select(c<&Band::name>).for_share().order_by(c<&Band::name>).first().run_sync(tx) == "C-Sharps");
  if (db.dialect()->locks_selected_rows) {
    // Another transaction cannot take the locked rows: NOWAIT fails at once; SKIP LOCKED reads around them (the
    // shared lock on C-Sharps keeps FOR UPDATE off it too). A batch of a locking select runs in a transaction
    // that may write (PostgreSQL refuses FOR UPDATE in a read-only one).
    keel::Transaction other = db.begin_sync();
    CHECK_THROWS_AS(keel::select<Band>().where(c<&Band::name> == "Rustaceans").for_update().nowait().run_sync(other),
                    keel::LockNotAvailable);
    other.rollback_sync();
    keel::Transaction queue = db.begin_sync();
    CHECK(keel::select(c<&Band::name>).for_update().skip_locked().order_by(c<&Band::name>).run_sync(queue) ==
          std::vector<std::string>{"Pythonistas"});
    queue.rollback_sync();
    auto batches = db.batch_sync(keel::select(c<&Band::name>).for_update().skip_locked().order_by(c<&Band::name>), 10);
    const auto batch = batches.next_sync();
    CHECK(batch == std::optional(std::vector<std::string>{"Pythonistas"}));
  }
  CHECK(keel::update<Band>().set(c<&Band::popularity>, 2001).where(c<&Band::id> == locked[0].id).run_sync(tx) == 1);
  tx.commit_sync();
  // With a left join, only the rows on its left are locked (PostgreSQL locks no nullable side).
  const auto with_promoter = db.transaction_sync([&] {
    return keel::select(c<&Concert::venue>, c<&Manager::name>)
        .left_join<&Concert::promoter>()
        .for_update()
        .run_sync()
        .size();
  });
  CHECK(with_promoter == 0);
  CHECK(keel::get<Band>(locked[0].id).run_sync(db).value().popularity == 2001);
}

TEST_CASE_METHOD(Fixture, "orm: union, intersect and except combine selects of the same column types") {
  // The names of bands and of managers, sorted.
  CHECK(keel::union_all(keel::select(c<&Band::name>), keel::select(c<&Manager::name>))
            .order_by(c<&Band::name>)
            .run_sync(db) == std::vector<std::string>{"C-Sharps", "Graydon", "Guido", "Pythonistas", "Rustaceans"});
  // Each part's values bound in order; a row two parts give comes once; limit and offset of the combined rows.
  using NamePopularity = std::tuple<std::string, std::int64_t>;
  const auto popular =
      keel::union_distinct(keel::select(c<&Band::name>, c<&Band::popularity>).where(c<&Band::popularity> > 500),
                           keel::select(c<&Band::name>, c<&Band::popularity>).where(c<&Band::name> == "C-Sharps"),
                           keel::select(c<&Band::name>, c<&Band::popularity>).where(c<&Band::name> == "Rustaceans"))
          .order_by(c<&Band::popularity>.desc())
          .limit(2)
          .offset(1)
          .run_sync(db);
  CHECK(popular == std::vector<NamePopularity>{{"Pythonistas", 1000}, {"C-Sharps", 10}});
  CHECK(keel::union_all(keel::select(c<&Band::name>), keel::select(c<&Manager::name>))
            .order_by(c<&Band::name>.desc())
            .first()
            .run_sync(db) == "Rustaceans");
  // A nullable column and a NOT NULL one combine into std::optional.
  const auto countries = keel::union_all(keel::select(c<&Band::country>), keel::select(c<&Manager::name>)).run_sync(db);
  STATIC_REQUIRE(std::is_same_v<decltype(countries), const std::vector<std::optional<std::string>>>);
  CHECK(countries.size() == 5);
  CHECK(std::count(countries.begin(), countries.end(), std::nullopt) == 1);
  // Whole rows: the popular Canadians, and the bands without a country.
  const auto both = keel::intersect(keel::select<Band>().where(c<&Band::popularity> >= 1000),
                                    keel::select<Band>().where(c<&Band::country> == "CA"))
                        .run_sync(db);
  REQUIRE(both.size() == 1);
  CHECK(*both[0].name == "Rustaceans");
  const auto rest =
      keel::except(keel::select<Band>(), keel::select<Band>().where(c<&Band::country>.is_not_null())).run_sync(db);
  REQUIRE(rest.size() == 1);
  CHECK(*rest[0].name == "C-Sharps");
}
