// Columns of dates, times, intervals, UUIDs, JSON and exact numbers against every engine: each value comes back
// exactly as it went in, by one-row and many-row inserts (PostgreSQL's COPY path too), and the typed columns
// compare, sort, aggregate and update; enums as their labels. The DDL per dialect is checked in
// tests/unit/orm_render_test.cpp.
#include <catch2/catch.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <vector>
import keel;
#include "orm_fixture.hpp"

using namespace orm_test;
using keel::c;
using namespace std::chrono_literals;

namespace {

// Structs stored as JSON documents, and a Boost.JSON value.
struct WindowSize {
  std::int64_t width = 0;
  std::int64_t height = 0;
  bool operator==(const WindowSize&) const = default;
};
struct Preferences {
  std::string theme;
  std::int64_t font_size = 12;
  std::vector<std::string> plugins;
  std::optional<double> zoom;
  WindowSize window;
  bool operator==(const Preferences&) const = default;
};
// Column value types inside a document: as their text (exact numbers, dates, UUIDs, enum labels), or nested
// as themselves (keel::Json, boost::json::value).
struct Details {
  keel::Numeric budget;
  std::chrono::sys_days since{};
  Mood mood = Mood::ok;
  keel::Uuid owner{};
  keel::Json raw;
  boost::json::value any;
  bool operator==(const Details&) const = default;
};
struct Ledger {
  keel::Id id;
  keel::JsonOf<Details> details;
};
struct Profile {
  keel::Id id;
  keel::JsonOf<Preferences> preferences;
  boost::json::value extra;
  std::optional<keel::JsonOf<Preferences>> previous;
};

// A playlist's scores alone, read with into<T>().
struct ScoresOnly {
  std::vector<std::optional<std::int64_t>> scores;
  friend bool operator==(const ScoresOnly&, const ScoresOnly&) = default;
};

keel::Uuid uuid_numbered(std::uint8_t n) {
  keel::Uuid u{};
  for (std::size_t i = 0; i < 16; ++i) u.data[i] = static_cast<std::uint8_t>(0xa0 + i);
  u.data[15] = n;
  return u;
}

// The n-th booking of a generated set: every member differs from row to row.
Booking booking_numbered(int n) {
  using namespace std::chrono;
  const sys_days day = sys_days(2026y / 3 / 1) + days(n);
  return Booking{
      .day = day,
      .starts = keel::TimeOfDay{hours(9) + minutes(n % 60) + microseconds(n)},
      .local_start = keel::Timestamp(local_days(2026y / 3 / 1).time_since_epoch() + hours(n) + microseconds(7)),
      .booked_at = keel::TimestampTz(day.time_since_epoch() - hours(30) + microseconds(n * 1001)),
      .length = keel::Interval{n % 3, n % 7, minutes(45) + microseconds(n)},
      .reference = uuid_numbered(static_cast<std::uint8_t>(n)),
      .details = keel::Json{"{\"n\": " + std::to_string(n) + ", \"tags\": [\"a\", \"b\"]}"},
      .price = keel::Numeric{std::to_string(n) + ".50"},
      .cancelled_at =
          n % 2 ? std::optional<keel::TimestampTz>() : std::optional(keel::TimestampTz(day.time_since_epoch())),
  };
}

void check_same(const Booking& got, const Booking& want) {
  CHECK(got.day == want.day);
  CHECK(got.starts == want.starts);
  CHECK(got.local_start == want.local_start);
  CHECK(got.booked_at == want.booked_at);
  CHECK(got.length == want.length);
  CHECK(got.reference == want.reference);
  CHECK(got.details.text == want.details.text);
  CHECK(got.price.text == want.price.text);
  CHECK(got.cancelled_at == want.cancelled_at);
}

struct TypesFixture {
  std::shared_ptr<keel::Engine> engine = keel_test::make_engine();
  keel::Engine& db = *engine;
  TypesFixture() {
    keel::create_table<Booking>().run_sync(db);
    keel::create_table<Playlist>().run_sync(db);
    keel::create_table<Scrapbook>().run_sync(db);
    keel::create_table<Forecast>().run_sync(db);
    keel::create_table<Shift>().run_sync(db);
  }
};

// Stores the first 4, then the first 150 of `rows` by one insert each, in table T emptied before, and calls
// `same(read, written)` for each row read back in key order beside the row it was written from.
template <class T, class Same>
void insert_few_and_many(keel::Engine& db, const std::vector<T>& rows, Same same) {
  for (const std::size_t count : {std::size_t{4}, std::size_t{150}}) {
    keel::delete_from<T>().force().run_sync(db);
    keel::insert(std::vector<T>(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(count))).run_sync(db);
    const auto got = keel::select<T>().order_by(c<&T::id>).run_sync(db);
    REQUIRE(got.size() == count);
    for (std::size_t i = 0; i < count; ++i) {
      INFO("rows " << count << ", row " << i);
      same(got[i], rows[i]);
    }
  }
}

}  // namespace

TEST_CASE_METHOD(TypesFixture, "column types: values at their edges come back exactly from a one-row insert") {
  using namespace std::chrono;
  // Before 1970, the last microsecond of a day, a negative mixed interval, a number no double holds, infinity.
  const Booking edge{
      .day = sys_days(1969y / 12 / 31),
      .starts = keel::TimeOfDay{hours(23) + minutes(59) + seconds(59) + microseconds(999'999)},
      .local_start = keel::Timestamp(local_days(1900y / 1 / 1).time_since_epoch() + microseconds(1)),
      .booked_at = keel::TimestampTz::max(),  // infinity
      .length = keel::Interval{-14, 3, -(hours(4) + microseconds(500))},
      .reference = uuid_numbered(0xff),
      .details = keel::Json{"{\"a\": null, \"quote\": \"it's \\\"x\\\"\"}"},
      .price = keel::Numeric{"-12345678901234567890.123456789000"},
      .cancelled_at = keel::TimestampTz::min(),  // -infinity
  };
  const Booking stored = keel::insert(edge).run_sync(db);
  CHECK(stored.id > 0);
  auto got = keel::get<Booking>(stored.id).run_sync(db);
  REQUIRE(got);
  check_same(*got, edge);
}

TEST_CASE_METHOD(TypesFixture, "column types: many-row inserts keep every value, on each engine's many-row path") {
  // 150 rows: PostgreSQL takes them by COPY (from 100 rows), fewer as arrays; SQLite one by one.
  for (const int count : {5, 150}) {
    keel::delete_from<Booking>().force().run_sync(db);
    std::vector<Booking> rows;
    for (int n = 0; n < count; ++n) rows.push_back(booking_numbered(n));
    const auto stored = keel::insert(rows).run_sync(db);
    REQUIRE(stored.size() == rows.size());
    const auto got = keel::select<Booking>().order_by(c<&Booking::id>).run_sync(db);
    REQUIRE(got.size() == rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      INFO("rows " << count << ", row " << i);
      CHECK(got[i].id == stored[i].id);
      check_same(got[i], rows[i]);
    }
  }
}

TEST_CASE_METHOD(TypesFixture, "column types: typed columns compare, sort, aggregate and update") {
  using namespace std::chrono;
  std::vector<Booking> rows;
  for (int n = 0; n < 10; ++n) rows.push_back(booking_numbered(n));
  keel::insert(rows).run_sync(db);

  // Equality on a date, a UUID and an exact number; the values bound as their own types.
  CHECK(keel::count<Booking>().where(c<&Booking::day> == rows[3].day).run_sync(db) == 1);
  CHECK(keel::count<Booking>().where(c<&Booking::reference> == rows[4].reference).run_sync(db) == 1);
  CHECK(keel::count<Booking>().where(c<&Booking::price> == keel::Numeric{"5.50"}).run_sync(db) == 1);
  CHECK(keel::count<Booking>()
            .where(c<&Booking::reference>.in(std::vector{rows[1].reference, rows[2].reference}))
            .run_sync(db) == 2);

  // Order by an instant and by a wall-clock time, with a range over each: the text SQLite stores sorts in time order.
  const auto later = keel::select(c<&Booking::day>)
                         .where(c<&Booking::booked_at> > rows[6].booked_at)
                         .order_by(c<&Booking::booked_at>.desc())
                         .run_sync(db);
  CHECK(later == std::vector<std::chrono::sys_days>{rows[9].day, rows[8].day, rows[7].day});
  const auto morning = keel::select(c<&Booking::starts>)
                           .where(c<&Booking::starts> >= keel::TimeOfDay{hours(9) + minutes(2)} &&
                                  c<&Booking::starts> < keel::TimeOfDay{hours(9) + minutes(4)})
                           .order_by(c<&Booking::starts>)
                           .run_sync(db);
  CHECK(morning == std::vector<keel::TimeOfDay>{rows[2].starts, rows[3].starts});

  // min and max keep the column's type.
  const auto [first_day, last_day] =
      keel::select(keel::min(c<&Booking::day>), keel::max(c<&Booking::day>)).first().run_sync(db).value();
  CHECK(first_day == rows[0].day);
  CHECK(last_day == rows[9].day);

  // NULL in a nullable typed column.
  CHECK(keel::count<Booking>().where(c<&Booking::cancelled_at>.is_null()).run_sync(db) == 5);

  // Update typed columns, and read them back.
  const keel::Uuid fresh = uuid_numbered(0x42);
  CHECK(keel::update<Booking>()
            .set(c<&Booking::price>, keel::Numeric{"0.001"})
            .set(c<&Booking::reference>, fresh)
            .set(c<&Booking::details>, keel::Json{"[]"})
            .set(c<&Booking::cancelled_at>, std::nullopt)
            .where(c<&Booking::day> <= rows[1].day)
            .run_sync(db) == 2);
  const auto changed =
      keel::select(c<&Booking::price>, c<&Booking::reference>, c<&Booking::details>, c<&Booking::cancelled_at>)
          .where(c<&Booking::day> == rows[0].day)
          .first()
          .run_sync(db);
  REQUIRE(changed);
  CHECK(std::get<0>(*changed).text == "0.001");
  CHECK(std::get<1>(*changed) == fresh);
  CHECK(std::get<2>(*changed).text == "[]");
  CHECK_FALSE(std::get<3>(*changed).has_value());
}

TEST_CASE_METHOD(TypesFixture, "column types: arrays come back exactly, empty, awkward text and all") {
  keel::Uuid ref{};
  ref.data[3] = 7;
  // Text that array syntax and JSON must both escape, and the word NULL, which is no NULL here.
  const std::vector<std::string> awkward{"", "NULL", "a,b", "{x}", "say \"hi\"", "back\\slash", "ünï", " padded "};
  std::vector<Playlist> rows;
  for (int n = 0; n < 150; ++n) {
    Playlist p{.tags = n % 5 == 0 ? std::vector<std::string>{} : awkward,
               .plays = {n, -n, std::int64_t{1} << 40},
               .days = {std::chrono::sys_days(std::chrono::days(n)), std::chrono::sys_days(std::chrono::days(-n))},
               .refs = {ref},
               .weights = n % 2 ? std::nullopt : std::optional(std::vector<double>{0.5, -1e300}),
               // NULL elements first, last, alone and between values; the text "NULL" is no NULL.
               .scores = n % 3 == 0 ? std::vector<std::optional<std::int64_t>>{std::nullopt}
                                    : std::vector<std::optional<std::int64_t>>{std::nullopt, n, std::nullopt, -n},
               .notes = n % 4 == 0 ? std::vector<std::optional<std::string>>{}
                                   : std::vector<std::optional<std::string>>{"NULL", std::nullopt, "", "a,b"}};
    rows.push_back(p);
  }
  // One row, a few and 150: on PostgreSQL all by VALUES (arrays of arrays cannot go through unnest, and COPY
  // hands arrays back to the insert).
  const Playlist one = keel::insert(rows[1]).run_sync(db);
  const auto one_back = keel::get<Playlist>(one.id).run_sync(db);
  REQUIRE(one_back);
  CHECK(one_back->scores == rows[1].scores);
  CHECK(one_back->notes == rows[1].notes);
  insert_few_and_many(db, rows, [](const Playlist& got, const Playlist& want) {
    CHECK(got.tags == want.tags);
    CHECK(got.plays == want.plays);
    CHECK(got.days == want.days);
    CHECK(got.refs == want.refs);
    CHECK(got.weights == want.weights);
    CHECK(got.scores == want.scores);
    CHECK(got.notes == want.notes);
  });
  CHECK(one.id > 0);
  // An update sets a whole array.
  const auto first = keel::select(c<&Playlist::id>).order_by(c<&Playlist::id>).first().run_sync(db).value();
  CHECK(keel::update<Playlist>()
            .set(c<&Playlist::tags>, std::vector<std::string>{"new"})
            .where(c<&Playlist::id> == first)
            .run_sync(db) == 1);
  CHECK(keel::select(c<&Playlist::tags>).where(c<&Playlist::id> == first).first().run_sync(db) ==
        std::optional(std::vector<std::string>{"new"}));
  // An array of elements that may be NULL takes one of plain elements, or one with NULLs.
  const std::vector<std::optional<std::int64_t>> with_null{7, std::nullopt};
  CHECK(keel::update<Playlist>()
            .set(c<&Playlist::scores>, std::vector<std::int64_t>{1, 2})
            .set(c<&Playlist::notes>, std::vector<std::optional<std::string>>{std::nullopt})
            .where(c<&Playlist::id> == first)
            .run_sync(db) == 1);
  CHECK(keel::select(c<&Playlist::scores>).where(c<&Playlist::id> == first).first().run_sync(db) ==
        std::optional(std::vector<std::optional<std::int64_t>>{1, 2}));
  CHECK(keel::update<Playlist>().set(c<&Playlist::scores>, with_null).where(c<&Playlist::id> == first).run_sync(db) ==
        1);
  const auto stored = keel::get<Playlist>(first).run_sync(db).value();
  CHECK(stored.scores == with_null);
  CHECK(stored.notes == std::vector<std::optional<std::string>>{std::nullopt});
  // into<T>() a struct of its own; a NULL element under a column of plain elements is no 0 but NullValueError.
  CHECK(keel::select(c<&Playlist::scores>).where(c<&Playlist::id> == first).into<ScoresOnly>().first().run_sync(db) ==
        std::optional(ScoresOnly{with_null}));
  db.raw_sync("UPDATE playlist SET plays = {} WHERE id = {}", with_null, first);
  CHECK_THROWS_AS(keel::get<Playlist>(first).run_sync(db), keel::NullValueError);
}

TEST_CASE_METHOD(TypesFixture, "column types: arrays of JSON documents come back equal, one row, a few and 150") {
  // Documents of every JSON kind, the document null among them, and text that JSON and array syntax escape.
  const std::vector<boost::json::value> pages{
      boost::json::parse(R"({"list": [1, 2.5, {"deep": null}], "say": "\"hi\"", "back": "\\", "ü": "ünï"})"),
      boost::json::parse("[]"),
      boost::json::parse("null"),
      boost::json::parse(R"("a,b {x} NULL")"),
      boost::json::parse("-12"),
      boost::json::parse("true"),
      boost::json::parse(R"({})")};
  const auto clips_of = [](const std::vector<keel::JsonOf<Clip>>& clips) {
    std::vector<Clip> out;
    for (const auto& clip : clips) out.push_back(clip.value);
    return out;
  };
  std::vector<Scrapbook> rows;
  for (int n = 0; n < 150; ++n)
    rows.push_back(Scrapbook{
        .pages = n % 5 == 0 ? std::vector<boost::json::value>{} : pages,
        .clips = {Clip{.title = "clip " + std::to_string(n), .seconds = n}, Clip{.title = "NULL", .seconds = -n}},
        .drafts = n % 2 ? std::nullopt : std::optional(std::vector<boost::json::value>{boost::json::value(n)})});

  const Scrapbook one = keel::insert(rows[1]).run_sync(db);
  const auto one_back = keel::get<Scrapbook>(one.id).run_sync(db);
  REQUIRE(one_back);
  CHECK(one_back->pages == pages);
  CHECK(clips_of(one_back->clips) == clips_of(rows[1].clips));
  CHECK_FALSE(one_back->drafts.has_value());
  insert_few_and_many(db, rows, [&](const Scrapbook& got, const Scrapbook& want) {
    CHECK(got.pages == want.pages);
    CHECK(clips_of(got.clips) == clips_of(want.clips));
    CHECK(got.drafts == want.drafts);
  });

  // An update sets a whole array; the document null stays a document, not a NULL element.
  const auto first = keel::select(c<&Scrapbook::id>).order_by(c<&Scrapbook::id>).first().run_sync(db).value();
  const std::vector<boost::json::value> replaced{nullptr, boost::json::parse(R"({"k": "v"})")};
  CHECK(keel::update<Scrapbook>().set(c<&Scrapbook::pages>, replaced).where(c<&Scrapbook::id> == first).run_sync(db) ==
        1);
  CHECK(keel::select(c<&Scrapbook::pages>).where(c<&Scrapbook::id> == first).first().run_sync(db) == replaced);
}

TEST_CASE_METHOD(TypesFixture, "column types: times of seconds, milliseconds and minutes come back exactly") {
  using namespace std::chrono;
  // Before and after 1970, negative durations, durations of more than a day, NULLs.
  std::vector<Shift> rows;
  for (int n = 0; n < 150; ++n)
    rows.push_back(Shift{.starts = sys_seconds(seconds(1'700'000'000 + n * 3'601)),
                         .logged = n % 4 == 3 ? std::nullopt
                                              : std::optional(sys_time<milliseconds>(
                                                    milliseconds((n % 2 ? -1 : 1) * 1'700'000'000'123LL + n))),
                         .local_start = local_time<seconds>(seconds(-946'080'000 + n)),
                         .length = minutes(n * 7 - 300),
                         .lag = milliseconds(n * 1'001),
                         .pause = n % 3 ? std::optional(seconds(n * 90'000)) : std::nullopt,
                         .laps = {seconds(n), seconds(-n), hours(30)}});
  const auto same = [](const Shift& got, const Shift& want) {
    CHECK(got.starts == want.starts);
    CHECK(got.logged == want.logged);
    CHECK(got.local_start == want.local_start);
    CHECK(got.length == want.length);
    CHECK(got.lag == want.lag);
    CHECK(got.pause == want.pause);
    CHECK(got.laps == want.laps);
  };
  const Shift one = keel::insert(rows[1]).run_sync(db);
  const auto one_back = keel::get<Shift>(one.id).run_sync(db);
  REQUIRE(one_back);
  same(*one_back, rows[1]);
  insert_few_and_many(db, rows, same);

  // They compare with values of their own type, and sort in time order.
  CHECK(keel::count<Shift>().where(c<&Shift::starts> >= rows[100].starts).run_sync(db) == 50);
  CHECK(keel::select(c<&Shift::starts>).order_by(c<&Shift::starts>.desc()).first().run_sync(db) == rows[149].starts);
  // A reading finer than the member's unit is refused, never rounded.
  const auto first = keel::select(c<&Shift::id>).order_by(c<&Shift::id>).first().run_sync(db).value();
  db.raw_sync("UPDATE shift SET logged = {} WHERE id = {}", keel::TimestampTz(microseconds(1'500'001)), first);
  CHECK_THROWS_AS(keel::get<Shift>(first).run_sync(db), keel::ValueOutOfRangeError);
  db.raw_sync("UPDATE shift SET logged = NULL, lag = {} WHERE id = {}", microseconds(2'000'500), first);
  CHECK_THROWS_AS(keel::get<Shift>(first).run_sync(db), keel::ValueOutOfRangeError);
  db.raw_sync("UPDATE shift SET lag = {} WHERE id = {}", milliseconds(2'000), first);
  CHECK(keel::get<Shift>(first).run_sync(db).value().lag == seconds(2));
}

TEST_CASE_METHOD(TypesFixture, "column types: arrays of enums come back as their enumerators, one row, a few and 150") {
  // Labels that array text must quote and escape, one that spells NULL, and NULL elements.
  std::vector<Forecast> rows;
  for (int n = 0; n < 150; ++n)
    rows.push_back(Forecast{
        .skies = n % 5 == 0 ? std::vector<Sky>{} : std::vector<Sky>{Sky::odd, Sky::null_word, Sky(n % 3), Sky::clear},
        .weathers = {Weather::rain, std::nullopt, Weather(10 + 10 * (n % 3))},
        .moods = n % 2 ? std::nullopt : std::optional(std::vector<Mood>{Mood(n % 3), Mood::happy})});
  const auto same = [](const Forecast& got, const Forecast& want) {
    CHECK(got.skies == want.skies);
    CHECK(got.weathers == want.weathers);
    CHECK(got.moods == want.moods);
  };
  const Forecast one = keel::insert(rows[1]).run_sync(db);
  const auto one_back = keel::get<Forecast>(one.id).run_sync(db);
  REQUIRE(one_back);
  same(*one_back, rows[1]);
  insert_few_and_many(db, rows, same);

  // set() takes an array of the enum; a raw query binds one and reads it back.
  const auto first = keel::select(c<&Forecast::id>).order_by(c<&Forecast::id>).first().run_sync(db).value();
  const std::vector<Sky> replaced{Sky::null_word, Sky::odd};
  CHECK(keel::update<Forecast>().set(c<&Forecast::skies>, replaced).where(c<&Forecast::id> == first).run_sync(db) == 1);
  CHECK(keel::select(c<&Forecast::skies>).where(c<&Forecast::id> == first).first().run_sync(db) == replaced);
  const keel::Rows raw = db.raw_sync("SELECT id, skies FROM forecast WHERE skies = {}", replaced);
  REQUIRE(raw.size() == 1);
  CHECK(raw[0].get<std::int64_t>(0) == first);
  CHECK(raw[0].get<std::vector<Sky>>(1) == replaced);
}

TEST_CASE_METHOD(TypesFixture, "column types: enums come back as their enumerators, one row, a few and 150") {
  keel::create_table<Diary>().run_sync(db);  // on PostgreSQL, the types mood and weather first
  keel::drop_table<Diary>().run_sync(db);    // the types stay
  keel::create_table<Diary>().run_sync(db);  // and are used as they are
  const Diary one =
      keel::insert(Diary{.mood = Mood::happy, .morning = Mood::sad, .weather = Weather::rain}).run_sync(db);
  CHECK(one.id > 0);
  for (const int count : {1, 4, 150}) {
    keel::delete_from<Diary>().force().run_sync(db);
    std::vector<Diary> rows;
    for (int n = 0; n < count; ++n) {
      const std::optional<Weather> weather = n % 4 == 3 ? std::nullopt : std::optional(Weather(10 * (n % 4 + 1)));
      rows.push_back(Diary{.mood = Mood(n % 3), .morning = Mood((n + 1) % 3), .weather = weather});
    }
    const auto stored = count == 1 ? std::vector{keel::insert(rows[0]).run_sync(db)} : keel::insert(rows).run_sync(db);
    REQUIRE(stored.size() == rows.size());
    const auto got = keel::select<Diary>().order_by(c<&Diary::id>).run_sync(db);
    REQUIRE(got.size() == rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      INFO("rows " << count << ", row " << i);
      CHECK(got[i].id == stored[i].id);
      CHECK(got[i].mood == rows[i].mood);
      CHECK(*got[i].morning == *rows[i].morning);
      CHECK(got[i].weather == rows[i].weather);
    }
  }
  // Stored as the labels, which a raw query reads as text; an enum binds and reads in raw queries too.
  keel::delete_from<Diary>().force().run_sync(db);
  keel::insert(Diary{.mood = Mood::happy, .morning = Mood::ok, .weather = Weather::rain}).run_sync(db);
  const auto labels =
      db.raw_sync("SELECT CAST(mood AS TEXT), CAST(weather AS TEXT), weather FROM diary WHERE mood = {}", Mood::happy);
  REQUIRE(labels.size() == 1);
  CHECK(labels[0].get<std::string>(0) == "happy");
  CHECK(labels[0].get<std::string>(1) == "it's raining");
  CHECK(labels[0].get<Weather>(2) == Weather::rain);
}

TEST_CASE_METHOD(TypesFixture, "column types: enums compare, filter and update by value; unknown values are refused") {
  keel::create_table<Diary>().run_sync(db);
  std::vector<Diary> rows;
  for (int n = 0; n < 9; ++n) rows.push_back(Diary{.mood = Mood(n % 3), .morning = Mood::ok, .weather = Weather::sun});
  keel::insert(rows).run_sync(db);

  CHECK(keel::count<Diary>().where(c<&Diary::mood> == Mood::happy).run_sync(db) == 3);
  CHECK(keel::count<Diary>().where(c<&Diary::mood> != c<&Diary::morning>).run_sync(db) == 6);
  CHECK(keel::count<Diary>().where(c<&Diary::mood>.in({Mood::sad, Mood::happy})).run_sync(db) == 6);
  CHECK(
      keel::update<Diary>().set(c<&Diary::weather>, Weather::storm).where(c<&Diary::mood> == Mood::sad).run_sync(db) ==
      3);
  CHECK(keel::update<Diary>()
            .set(c<&Diary::mood>, c<&Diary::morning>)
            .where(c<&Diary::weather> == Weather::storm)
            .run_sync(db) == 3);
  const auto moods = keel::select(c<&Diary::mood>).where(c<&Diary::weather> == Weather::storm).run_sync(db);
  CHECK(moods == std::vector<Mood>(3, Mood::ok));
  CHECK(keel::select(c<&Diary::weather>).where(c<&Diary::mood> == Mood::happy).first().run_sync(db) ==
        std::optional(std::optional(Weather::sun)));

  // An enumerator without a label (a cast integer) fails where the insert is awaited, and nothing is stored.
  CHECK_THROWS_AS(keel::insert(Diary{.mood = static_cast<Mood>(7)}).run_sync(db), keel::ValueOutOfRangeError);
  // A label the type does not have: PostgreSQL's enum refuses it, SQLite's CHECK does.
  CHECK_THROWS_AS(db.raw_sync("INSERT INTO diary (mood, morning) VALUES ('cross', 'ok')"), keel::DatabaseError);
  CHECK(keel::count<Diary>().run_sync(db) == 9);
}

TEST_CASE_METHOD(TypesFixture, "column types: an enum's default_to fills a row that leaves it out, as the label") {
  keel::create_table<Journal>().run_sync(db);  // DEFAULT 'ok' and 'it''s raining', of the enum types on PostgreSQL
  db.raw_sync("INSERT INTO journal (note) VALUES ('left out')");
  const Journal unset{.note = "unset"};
  CHECK(*unset.mood == Mood::ok);  // the member starts as the default too, and is sent as it
  keel::insert(unset).run_sync(db);
  keel::insert(Journal{.note = "given", .mood = Mood::happy, .weather = Weather::sun}).run_sync(db);

  const auto rows = keel::select<Journal>().order_by(c<&Journal::id>).run_sync(db);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].note == "left out");
  CHECK(*rows[0].mood == Mood::ok);
  CHECK(*rows[0].weather == Weather::rain);
  CHECK(*rows[1].mood == Mood::ok);
  CHECK(*rows[1].weather == Weather::rain);
  CHECK(*rows[2].mood == Mood::happy);
  CHECK(*rows[2].weather == Weather::sun);
  const auto labels =
      db.raw_sync("SELECT CAST(mood AS TEXT), CAST(weather AS TEXT) FROM journal WHERE note = 'left out'");
  REQUIRE(labels.size() == 1);
  CHECK(labels[0].get<std::string>(0) == "ok");
  CHECK(labels[0].get<std::string>(1) == "it's raining");
}

TEST_CASE("column types: structs as JSON documents and Boost.JSON values, on one row and many") {
  const auto engine = keel_test::make_engine();
  keel::Engine& db = *engine;
  keel::create_table<Profile>().run_sync(db);
  const Preferences dark{.theme = "dark \"night\"",
                         .font_size = 14,
                         .plugins = {"vim", "git"},
                         .zoom = 1.25,
                         .window = {.width = 1280, .height = 720}};
  const boost::json::value extra = {{"tags", {1, "two", nullptr}}, {"nested", {{"ok", true}}}};
  const Profile stored = keel::insert(Profile{.preferences = dark, .extra = extra}).run_sync(db);
  const auto got = keel::get<Profile>(stored.id).run_sync(db);
  REQUIRE(got);
  CHECK(*got->preferences == dark);
  CHECK(got->extra == extra);
  CHECK_FALSE(got->previous.has_value());
  // Stored as an object keyed by the member names, which SQL can read.
  const auto raw = db.raw_sync("SELECT preferences, preferences FROM profile WHERE id = {}", stored.id);
  REQUIRE(raw.size() == 1);
  CHECK(raw[0].get<keel::JsonOf<Preferences>>(1).value == dark);
  const boost::json::value document = boost::json::parse(raw[0].get<keel::Json>(0).text);
  CHECK(document.at("theme") == "dark \"night\"");
  CHECK(document.at("window").at("height") == 720);
  CHECK(document.at("plugins").as_array().size() == 2);
  // An update sets a document; a missing optional member reads as empty.
  const Preferences light{.theme = "light", .window = {.width = 800, .height = 600}};
  CHECK(keel::update<Profile>()
            .set(c<&Profile::previous>, keel::JsonOf<Preferences>(light))
            .where(c<&Profile::id> == stored.id)
            .run_sync(db) == 1);
  CHECK(keel::get<Profile>(stored.id).run_sync(db).value().previous.value().value == light);
  CHECK_FALSE(light.zoom.has_value());
  // Many rows (PostgreSQL's COPY from 100), each document its own.
  std::vector<Profile> rows;
  for (int n = 0; n < 120; ++n)
    rows.push_back(Profile{.preferences = Preferences{.theme = "t" + std::to_string(n), .font_size = n},
                           .extra = boost::json::value{{"n", n}}});
  keel::insert(rows).run_sync(db);
  const auto all = keel::select<Profile>().where(c<&Profile::id> != stored.id).order_by(c<&Profile::id>).run_sync(db);
  REQUIRE(all.size() == rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    INFO("row " << i);
    CHECK(all[i].preferences->theme == rows[i].preferences->theme);
    CHECK(all[i].preferences->font_size == static_cast<std::int64_t>(i));
    CHECK(all[i].extra.at("n") == static_cast<std::int64_t>(i));
  }
}

TEST_CASE("column types: a JSON document that does not fit its struct is a TypeMismatchError naming where") {
  const auto engine = keel_test::make_engine();
  keel::Engine& db = *engine;
  keel::create_table<Profile>().run_sync(db);
  // Written by hand: no "theme", and "plugins" not an array.
  db.raw_sync("INSERT INTO profile (preferences, extra) VALUES ({}, {})",
              keel::Json{R"({"font_size": 3, "plugins": [], "window": {"width": 1, "height": 2}})"},
              keel::Json{"null"});
  CHECK_THROWS_AS(keel::select<Profile>().run_sync(db), keel::TypeMismatchError);
  CHECK_THROWS_WITH(keel::select<Profile>().run_sync(db), Catch::Matchers::Contains("$.theme is missing"));
  db.raw_sync(
      "UPDATE profile SET preferences = {}",
      keel::Json{R"({"theme": "x", "font_size": 3, "plugins": {"a": 1}, "window": {"width": 1, "height": 2}})"});
  CHECK_THROWS_AS(keel::select<Profile>().run_sync(db), keel::TypeMismatchError);
  CHECK_THROWS_WITH(keel::select<Profile>().run_sync(db), Catch::Matchers::Contains("$.plugins is not a JSON array"));
  // A key the struct does not name is ignored; an absent optional member is empty.
  db.raw_sync(
      "UPDATE profile SET preferences = {}",
      keel::Json{R"({"theme": "x", "font_size": 3, "plugins": ["p"], "window": {"width": 1, "height": 2}, "new": 1})"});
  const auto rows = keel::select(c<&Profile::preferences>).run_sync(db);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0]->plugins == std::vector<std::string>{"p"});
  CHECK_FALSE(rows[0]->zoom.has_value());
}

TEST_CASE("column types: a JSON document holds exact numbers, dates, UUIDs, enums and nested JSON; no NaN") {
  using namespace std::chrono;
  const auto engine = keel_test::make_engine();
  keel::Engine& db = *engine;
  keel::create_table<Ledger>().run_sync(db);
  keel::Uuid owner{};
  owner.data[0] = 0xab;
  const Details details{.budget = keel::Numeric{"12345678901234567890.25"},
                        .since = sys_days(1999y / 12 / 31),
                        .mood = Mood::happy,
                        .owner = owner,
                        .raw = keel::Json{R"({"k": [1, 2]})"},
                        .any = boost::json::value{{"deep", {{"er", nullptr}}}}};
  const Ledger stored = keel::insert(Ledger{.details = details}).run_sync(db);
  const auto got = keel::get<Ledger>(stored.id).run_sync(db);
  REQUIRE(got);
  CHECK(got->details->budget == details.budget);
  CHECK(got->details->since == details.since);
  CHECK(got->details->mood == Mood::happy);
  CHECK(got->details->owner == owner);
  CHECK(boost::json::parse(got->details->raw.text) == boost::json::parse(details.raw.text));
  CHECK(got->details->any == details.any);
  // The exact number and the date as text, the nested document as an object.
  const auto raw = db.raw_sync("SELECT details FROM ledger WHERE id = {}", stored.id);
  REQUIRE(raw.size() == 1);
  const boost::json::value document = boost::json::parse(raw[0].get<keel::Json>(0).text);
  CHECK(document.at("budget") == "12345678901234567890.25");
  CHECK(document.at("since") == "1999-12-31");
  CHECK(document.at("mood") == "happy");
  CHECK(document.at("raw").at("k").as_array().size() == 2);
  // JSON has no NaN: the insert is refused before anything is sent.
  keel::create_table<Profile>().run_sync(db);
  CHECK_THROWS_AS(
      keel::insert(Profile{.preferences = Preferences{.zoom = std::numeric_limits<double>::quiet_NaN()}}).run_sync(db),
      keel::ValueError);
  CHECK(keel::count<Profile>().run_sync(db) == 0);
  // Nor a boost::json::value column: not through the ORM, one row or many, nor as a raw query's value.
  const boost::json::value not_a_number = {{"deep", {1.5, std::numeric_limits<double>::quiet_NaN()}}};
  CHECK_THROWS_AS(keel::insert(Profile{.extra = not_a_number}).run_sync(db), keel::ValueError);
  CHECK_THROWS_AS(
      keel::insert(std::vector<Profile>{Profile{.extra = {{"n", 1}}}, Profile{.extra = not_a_number}}).run_sync(db),
      keel::ValueError);
  CHECK_THROWS_AS(db.raw_sync("INSERT INTO profile (preferences, extra) VALUES ({}, {})",
                              keel::JsonOf<Preferences>(Preferences{}), not_a_number),
                  keel::ValueError);
  CHECK(keel::count<Profile>().run_sync(db) == 0);
  // Nor where Boost.JSON converts the member: a boost::json::value inside the document.
  Details infinite = details;
  infinite.any = boost::json::value{{"x", std::numeric_limits<double>::infinity()}};
  CHECK_THROWS_AS(keel::insert(Ledger{.details = infinite}).run_sync(db), keel::ValueError);
  CHECK(keel::count<Ledger>().run_sync(db) == 1);
}
