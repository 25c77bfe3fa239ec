// A dialect is a description the engine supplies: the ORM, the raw query and the bulk writer ask it and never
// name a database. Here a description of keel's tests' own (numbered placeholders as PostgreSQL, SQLite's LIKE,
// other type names, OFFSET that needs LIMIT ALL, a small value limit) renders as it says.
#include <catch2/catch.hpp>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
import keel;
#include "../orm/orm_tables.hpp"

using namespace orm_test;
using keel::c;
using keel::Dialect;

namespace {

constexpr keel::DialectDescription other_description{
    .name = "other",
    .placeholders = keel::PlaceholderStyle::dollar_number,
    .types = {.boolean = "BOOL",
              .small_integer = "INT2",
              .integer = "INT4",
              .big_integer = "INT8",
              .real = "FLOAT4",
              .double_precision = "FLOAT8",
              .text = "STRING",
              .blob = "BYTES",
              .date = "DATE",
              .time = "TIME",
              .timestamp = "TIMESTAMP",
              .timestamptz = "TIMESTAMPTZ",
              .interval = "INTERVAL",
              .uuid = "UUID",
              .json = {},
              .numeric = "DECIMAL"},  // no JSON type
    .generated_key_column = "INT8 PRIMARY KEY DEFAULT unique_rowid()",
    .pattern_matching = keel::PatternMatching::like_and_glob,
    .limit_all = "ALL",
    .integer_sum_type = "INT8",
    .average_type = {},
    .backtick_and_bracket_identifiers = false,
    .named_parameters = false,
    .escape_strings = false,
    .dollar_in_identifiers = false,
    .max_bound_values = 10,
    .inserts_rows_from_arrays = false,
    .reports_last_insert_id = false,
    .inserts_rows_one_by_one = false,
    .bulk_insert_min_rows = keel::no_bulk_insert,
};
constexpr Dialect other{other_description};

// Descriptions like `other` but for their names and their LIMIT ALL, to fill the text cache's places for one
// query type: each must get its own text back.
constexpr std::array<std::string_view, 5> copy_names{"copy0", "copy1", "copy2", "copy3", "copy4"};
constexpr std::array<std::string_view, 5> copy_limits{"1000", "1001", "1002", "1003", "1004"};
constexpr std::array<keel::DialectDescription, 5> renamed_copies() {
  std::array<keel::DialectDescription, 5> copies{};
  for (std::size_t i = 0; i < copies.size(); ++i) {
    copies[i] = other_description;
    copies[i].name = copy_names[i];
    copies[i].limit_all = copy_limits[i];
  }
  return copies;
}
constexpr auto five_more = renamed_copies();

}  // namespace

TEST_CASE("a description that binds no value is refused", "[dialect]") {
  static constexpr keel::DialectDescription unbound{.name = "unbound"};  // max_bound_values left out
  CHECK_THROWS_WITH(Dialect{unbound}.name(),
                    Catch::Contains("max_bound_values must be at least 1 (dialect 'unbound')"));
  // What was left out takes the defaults: no bulk path, nothing special to scan for.
  STATIC_REQUIRE(unbound.bulk_insert_min_rows == keel::no_bulk_insert);
  STATIC_REQUIRE(!unbound.inserts_rows_one_by_one);
}

struct Reading {
  keel::Id id;
  keel::Uuid sensor{};
  keel::Numeric value;
  std::optional<keel::Json> raw;
};

TEST_CASE("CREATE TABLE of a type the description names no column type for is refused", "[dialect][orm]") {
  CHECK_THROWS_WITH(
      keel::create_table<Reading>().statements(other),
      "keel: the dialect 'other' names no column type for reading.raw's values (DialectDescription::types)");
  struct NoJson {
    keel::Id id;
    keel::Uuid sensor{};
    keel::Numeric value;
  };
  CHECK(keel::create_table<NoJson>().statements(other)[0].sql() ==
        R"(CREATE TABLE "no_json" ("id" INT8 PRIMARY KEY DEFAULT unique_rowid(), "sensor" UUID NOT NULL, )"
        R"("value" DECIMAL NOT NULL))");
}

TEST_CASE("a dialect compares by its description and names itself", "[dialect]") {
  STATIC_REQUIRE(Dialect::sqlite != Dialect::postgres);
  STATIC_REQUIRE(other == Dialect(other_description));
  STATIC_REQUIRE(other != Dialect(five_more[0]));  // another description, another dialect
  STATIC_REQUIRE(keel::to_string(Dialect::sqlite) == "sqlite");
  STATIC_REQUIRE(Dialect::postgres.name() == "postgres");
  STATIC_REQUIRE(other->max_bound_values == 10);
}

TEST_CASE("CREATE TABLE takes type names and the generated key from the description", "[dialect][orm]") {
  const auto statements = keel::create_table<Band>().statements(other);
  REQUIRE(!statements.empty());
  CHECK(
      statements[0].sql() ==
      R"(CREATE TABLE "band" ("id" INT8 PRIMARY KEY DEFAULT unique_rowid(), "name" STRING NOT NULL UNIQUE, )"
      R"("manager" INT8 NOT NULL REFERENCES "manager" ("id"), "popularity" INT8 NOT NULL DEFAULT 0, "country" STRING))");
}

TEST_CASE("queries are spelled as the description says", "[dialect][orm]") {
  // Placeholders numbered, OFFSET after the description's LIMIT ALL.
  CHECK(keel::select(c<&Band::name>).where(c<&Band::id> > 1).offset(3).statement(other).sql() ==
        R"(SELECT "band"."name" FROM "band" WHERE ("band"."id" > $1) LIMIT ALL OFFSET $2)");
  // LIKE matching as SQLite's: GLOB for case, LIKE with ESCAPE without.
  CHECK(keel::select(c<&Band::name>)
            .where(c<&Band::name>.like("Py%") || c<&Band::name>.ilike("%x%"))
            .statement(other)
            .sql() ==
        R"(SELECT "band"."name" FROM "band" WHERE (("band"."name" GLOB $1) OR ("band"."name" LIKE $2 ESCAPE '\')))");
  // sum of integers cast to the description's type; avg left alone, as its average_type is empty.
  CHECK(keel::select(keel::sum(c<&Band::popularity>), keel::avg(c<&Band::popularity>)).statement(other).sql() ==
        R"(SELECT CAST(sum("band"."popularity") AS INT8), avg("band"."popularity") FROM "band")");
  CHECK(keel::raw("SELECT {} + {}", 1, 2).statement(other).sql() == "SELECT $1 + $2");
}

TEST_CASE("the text cache keeps each dialect's text apart, beyond its places too", "[dialect][orm][cache]") {
  const auto query = [] { return keel::select(c<&Band::name>).where(c<&Band::id> == 1).offset(2); };
  const std::string sqlite = R"(SELECT "band"."name" FROM "band" WHERE ("band"."id" = ?) LIMIT -1 OFFSET ?)";
  const std::string postgres = R"(SELECT "band"."name" FROM "band" WHERE ("band"."id" = $1) OFFSET $2)";
  const std::string others = R"(SELECT "band"."name" FROM "band" WHERE ("band"."id" = $1) LIMIT ALL OFFSET $2)";
  for (int round = 0; round < 2; ++round) {  // the second round reads what the first cached
    CHECK(query().statement(Dialect::sqlite).sql() == sqlite);
    CHECK(query().statement(Dialect::postgres).sql() == postgres);
    CHECK(query().statement(other).sql() == others);
    for (const keel::DialectDescription& copy : five_more) {  // more dialects than the cache has places
      INFO(copy.name);
      const keel::Statement statement = query().statement(Dialect(copy));
      CHECK(statement.sql() == R"(SELECT "band"."name" FROM "band" WHERE ("band"."id" = $1) LIMIT )" +
                                   std::string(copy.limit_all) + " OFFSET $2");
      CHECK(statement.params() == std::vector<keel::Value>{1, 2});
    }
  }
  // Cached: the same text object each time, in the dialects that found a place.
  CHECK(query().statement(other).sql().data() == query().statement(other).sql().data());
}

TEST_CASE("the description's value limit splits a many-row insert", "[dialect][orm][insert]") {
  // Band inserts four values a row (its key is generated): two rows fit in the description's 10 values.
  keel::RecordingEngine db(other);
  db.returns("RETURNING", {"id"}, {{1}, {2}});
  std::vector<Band> rows(4);
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = Band{.name = "b" + std::to_string(i), .manager = 1};
  const auto saved = keel::insert(rows).run_sync(db);
  CHECK(saved.size() == 4);
  std::size_t inserts = 0;
  for (const auto& entry : db.statements())
    if (entry.sql.starts_with("INSERT")) {
      ++inserts;
      CHECK(entry.params.size() <= 10);
      CHECK(entry.sql.find('?') == std::string::npos);
    }
  CHECK(inserts == 2);  // two rows each
}

TEST_CASE("the bulk writer merges inserts in the description's placeholder style", "[dialect][writer]") {
  std::vector<keel::Statement> batch;
  for (int i = 1; i <= 3; ++i) batch.push_back(keel::raw("INSERT INTO t (a) VALUES ({})", i).statement(other));
  const std::vector<keel::Statement> merged = keel::merge_inserts(batch, other);
  REQUIRE(merged.size() == 1);
  CHECK(merged[0].sql() == "INSERT INTO t (a) VALUES ($1), ($2), ($3)");
  // No more values to one statement than the description's 10.
  for (int i = 4; i <= 12; ++i) batch.push_back(keel::raw("INSERT INTO t (a) VALUES ({})", i).statement(other));
  const std::vector<keel::Statement> split = keel::merge_inserts(batch, other);
  REQUIRE(split.size() == 2);
  CHECK(split[0].params().size() == 10);
  CHECK(split[1].params().size() == 2);
}
