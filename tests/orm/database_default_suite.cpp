// Defaults the database chooses (keel::default_now, keel::default_uuid, keel::default_sql) against every engine:
// a member left unset gets the database's value, which the insert gives back; a value given is kept, even T{}.
// The SQL per dialect is checked in tests/unit/orm_render_test.cpp.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>
import keel;
#include "orm_fixture.hpp"

using namespace orm_test;
using keel::c;
using namespace std::chrono_literals;

namespace {

// A table whose key the application gives: save() upserts it.
struct Setting {
  keel::PrimaryKey<std::string> name;
  std::string value;
  keel::Column<keel::TimestampTz, keel::default_now> changed_at;
  keel::Column<keel::Json, keel::default_sql<"'{}'">> meta;  // a literal PostgreSQL would read as text uncast
};

// A key the database draws: no key to match the returned rows by but their order.
struct Doc {
  keel::Column<keel::Uuid, keel::primary_key, keel::default_uuid> id;
  std::string title;
};

bool is_random_uuid(const keel::Uuid& u) {
  return (u.data[6] >> 4) == 4 && (u.data[8] & 0xc0) == 0x80;  // version 4, RFC 4122 variant
}

struct DefaultsFixture {
  std::shared_ptr<keel::Engine> engine = keel_test::make_engine();
  keel::Engine& db = *engine;
  DefaultsFixture() {
    keel::create_table<Post>().run_sync(db);
    keel::create_table<Setting>().run_sync(db);
    keel::create_table<Doc>().run_sync(db);
  }
  static keel::TimestampTz now() {
    return std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
  }
};

}  // namespace

TEST_CASE_METHOD(DefaultsFixture,
                 "database defaults: an unset member gets the database's value, given back by the insert") {
  const auto before = now();
  const Post post = keel::insert(Post{.title = "hello"}).run_sync(db);
  const auto after = now();
  CHECK(post.id > 0);
  // SQLite's clock reads milliseconds: allow for its rounding.
  CHECK(*post.created_at >= before - 1ms);
  CHECK(*post.created_at <= after + 1ms);
  CHECK(is_random_uuid(*post.public_id));
  CHECK(*post.score == 42);
  // What the insert gave back is what is stored.
  const auto stored = keel::get<Post>(post.id).run_sync(db);
  REQUIRE(stored);
  CHECK(*stored->created_at == *post.created_at);
  CHECK(*stored->public_id == *post.public_id);
  CHECK(*stored->score == 42);
  // The database's value compares equal to the same value bound by keel (on SQLite: the same text).
  CHECK(keel::count<Post>().where(c<&Post::created_at> == *post.created_at).run_sync(db) == 1);
  CHECK(keel::count<Post>().where(c<&Post::public_id> == *post.public_id).run_sync(db) == 1);
}

TEST_CASE_METHOD(DefaultsFixture, "database defaults: a given value is kept, even the type's zero value") {
  const keel::TimestampTz when{std::chrono::sys_days(2020y / 2 / 29).time_since_epoch() + 123456us};
  keel::Uuid fixed{};
  fixed.data[0] = 0x11;
  const Post given =
      keel::insert(Post{.title = "given", .created_at = when, .public_id = fixed, .score = 0}).run_sync(db);
  CHECK(*given.created_at == when);
  CHECK(*given.public_id == fixed);
  CHECK(*given.score == 0);  // given as 0, not left to the database
  // The epoch and the nil UUID, given explicitly.
  const Post zero =
      keel::insert(Post{.title = "zero", .created_at = keel::TimestampTz{}, .public_id = keel::Uuid{}}).run_sync(db);
  CHECK(*zero.created_at == keel::TimestampTz{});
  CHECK(zero.public_id->is_nil());
  CHECK(*zero.score == 42);
  const auto stored =
      keel::select(c<&Post::created_at>, c<&Post::score>).where(c<&Post::id> == zero.id).first().run_sync(db);
  REQUIRE(stored);
  CHECK(std::get<0>(*stored) == keel::TimestampTz{});
  CHECK(std::get<1>(*stored) == 42);
}

TEST_CASE_METHOD(DefaultsFixture,
                 "database defaults: many rows mix given and unset values, on each engine's many-row path") {
  const keel::TimestampTz when{std::chrono::sys_days(2001y / 9 / 1).time_since_epoch()};
  for (const std::size_t count : {std::size_t{4}, std::size_t{150}}) {
    keel::delete_from<Post>().force().run_sync(db);
    std::vector<Post> rows;
    for (std::size_t i = 0; i < count; ++i) {
      Post p{.title = "post " + std::to_string(i)};
      if (i % 2) p.created_at = when;
      if (i % 3 == 0) p.score = static_cast<std::int64_t>(i);
      rows.push_back(p);
    }
    const auto inserted = keel::insert(rows).run_sync(db);
    REQUIRE(inserted.size() == count);
    std::set<std::string> uuids;
    for (std::size_t i = 0; i < count; ++i) {
      INFO("rows " << count << ", row " << i);
      CHECK(inserted[i].title == rows[i].title);
      if (i % 2)
        CHECK(*inserted[i].created_at == when);
      else
        CHECK(*inserted[i].created_at > when);
      CHECK(*inserted[i].score == (i % 3 == 0 ? static_cast<std::int64_t>(i) : 42));
      CHECK(is_random_uuid(*inserted[i].public_id));
      uuids.insert(std::string(reinterpret_cast<const char*>(inserted[i].public_id->data), 16));
    }
    CHECK(uuids.size() == count);  // each row drew its own
    // The rows as stored are the rows as given back.
    const auto stored = keel::select<Post>().order_by(c<&Post::id>).run_sync(db);
    REQUIRE(stored.size() == count);
    for (std::size_t i = 0; i < count; ++i) {
      CHECK(stored[i].id == inserted[i].id);
      CHECK(*stored[i].created_at == *inserted[i].created_at);
      CHECK(*stored[i].public_id == *inserted[i].public_id);
    }
  }
}

TEST_CASE_METHOD(DefaultsFixture, "database defaults: save keeps the stored value of a member left unset") {
  // By a generated key: a new row is inserted with the defaults; saved again, unset members keep what is stored.
  Post post = keel::save(Post{.title = "draft"}).run_sync(db);
  CHECK(is_random_uuid(*post.public_id));
  Post edit{.id = post.id, .title = "final"};  // created_at, public_id and score left unset
  const Post saved = keel::save(edit).run_sync(db);
  CHECK(saved.title == "final");
  CHECK(*saved.created_at == *post.created_at);
  CHECK(*saved.public_id == *post.public_id);
  CHECK(*saved.score == 42);
  // By a given key: the upsert inserts, then updates without touching changed_at unless it is given.
  const Setting first = keel::save(Setting{.name = "theme", .value = "dark"}).run_sync(db);
  CHECK(*first.changed_at > keel::TimestampTz{});
  const Setting second = keel::save(Setting{.name = "theme", .value = "light"}).run_sync(db);
  CHECK(*second.changed_at == *first.changed_at);
  const keel::TimestampTz when{std::chrono::sys_days(2030y / 1 / 1).time_since_epoch()};
  const Setting third = keel::save(Setting{.name = "theme", .value = "auto", .changed_at = when}).run_sync(db);
  CHECK(*third.changed_at == when);
  const auto stored = keel::get<Setting>("theme").run_sync(db);
  REQUIRE(stored);
  CHECK(stored->value == "auto");
  CHECK(*stored->changed_at == when);
}

TEST_CASE_METHOD(DefaultsFixture, "database defaults: rows with given keys get their own defaults back") {
  // Given keys, in an order the database need not return them in: each row's defaults are matched by its key.
  std::vector<Setting> rows;
  for (int i = 0; i < 40; ++i) {
    Setting s{.name = "key " + std::to_string(39 - i), .value = std::to_string(i)};
    if (i % 4 == 1) s.meta = keel::Json{"[" + std::to_string(i) + "]"};
    rows.push_back(s);
  }
  const auto inserted = keel::insert(rows).run_sync(db);
  REQUIRE(inserted.size() == rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    INFO("row " << i);
    CHECK(*inserted[i].name == *rows[i].name);
    CHECK(inserted[i].meta->text == (i % 4 == 1 ? "[" + std::to_string(i) + "]" : "{}"));
    CHECK(*inserted[i].changed_at > keel::TimestampTz{});
    const auto stored = keel::get<Setting>(*rows[i].name).run_sync(db);
    REQUIRE(stored);
    CHECK(stored->meta->text == inserted[i].meta->text);
    CHECK(*stored->changed_at == *inserted[i].changed_at);
  }
}

TEST_CASE_METHOD(DefaultsFixture, "database defaults: a primary key the database draws comes back with its row") {
  const Doc one = keel::insert(Doc{.title = "one"}).run_sync(db);
  CHECK(is_random_uuid(*one.id));
  const auto stored = keel::get<Doc>(*one.id).run_sync(db);
  REQUIRE(stored);
  CHECK(stored->title == "one");
  const auto many = keel::insert(std::vector<Doc>{{.title = "a"}, {.title = "b"}, {.title = "c"}}).run_sync(db);
  REQUIRE(many.size() == 3);
  for (const Doc& d : many) {
    const auto found = keel::get<Doc>(*d.id).run_sync(db);
    REQUIRE(found);
    CHECK(found->title == d.title);
  }
}
