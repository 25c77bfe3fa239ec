#include <catch2/catch.hpp>
#include <string>
import keel;

TEST_CASE("placeholders render per dialect, braces escape as doubled braces") {
  CHECK(keel::render_placeholders("a = {} AND b = {}", keel::Dialect::sqlite) == "a = ? AND b = ?");
  CHECK(keel::render_placeholders("a = {} AND b = {}", keel::Dialect::postgres) == "a = $1 AND b = $2");
  CHECK(keel::render_placeholders("'{{\"k\": 1}}' || {}", keel::Dialect::postgres) == "'{\"k\": 1}' || $1");
  CHECK(keel::count_placeholders("{} {} {{}}") == 2);
  CHECK(keel::count_placeholders("no placeholders") == 0);
  CHECK(keel::count_placeholders("a lone { brace") == -1);
  CHECK(keel::count_placeholders("a lone } brace") == -1);
}

TEST_CASE("raw queries render their statement per dialect and keep values apart from the text") {
  auto query = keel::raw("SELECT * FROM t WHERE a = {} AND b = {}", 1, "x'; DROP TABLE t; --");
  const keel::Statement sqlite = query.statement(keel::Dialect::sqlite);
  const keel::Statement postgres = query.statement(keel::Dialect::postgres);
  CHECK(sqlite.sql() == "SELECT * FROM t WHERE a = ? AND b = ?");
  CHECK(postgres.sql() == "SELECT * FROM t WHERE a = $1 AND b = $2");
  REQUIRE(sqlite.params().size() == 2);
  CHECK(sqlite.params()[0] == keel::Value(1));
  CHECK(sqlite.params()[1] == keel::Value("x'; DROP TABLE t; --"));
}

TEST_CASE("a raw query built at run time checks its placeholder count") {
  CHECK_NOTHROW(keel::RawQuery("SELECT {}", {keel::Value(1)}));
  CHECK_THROWS_AS(keel::RawQuery("SELECT {}, {}", {keel::Value(1)}), keel::MisuseError);
  CHECK_THROWS_WITH(keel::RawQuery("SELECT {}, {}", {keel::Value(1)}),
                    Catch::Contains("2 {} placeholders but 1 values"));
  CHECK_THROWS_AS(keel::RawQuery("SELECT '{'", {}), keel::MisuseError);
}

TEST_CASE("identifiers: validation and quoting") {
  CHECK(keel::is_plain_identifier("band_1"));
  CHECK(keel::is_plain_identifier("_x"));
  CHECK_FALSE(keel::is_plain_identifier("1band"));
  CHECK_FALSE(keel::is_plain_identifier("x; drop table t"));
  CHECK_FALSE(keel::is_plain_identifier(""));
  CHECK_FALSE(keel::is_plain_identifier(std::string(64, 'a')));
  CHECK(keel::is_plain_identifier(std::string(63, 'a')));
  CHECK_THROWS_AS(keel::validate_identifier("a-b", "savepoint"), keel::InvalidIdentifierError);
  CHECK_THROWS_WITH(keel::validate_identifier("a-b", "savepoint"), Catch::StartsWith("savepoint name 'a-b'"));
  CHECK(keel::quote_identifier("band") == "\"band\"");
  CHECK(keel::quote_identifier("we\"ird") == "\"we\"\"ird\"");
}
