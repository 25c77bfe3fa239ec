// The mapping of SQLite's codes is keel::sqlite_detail, not exported: this test is a unit of keel.sqlite itself,
// so it sees what a user's `import keel;` does not.
module;
#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <string>
module keel.sqlite;

using keel::sqlite_detail::error_fields;

TEST_CASE("SQLite's extended codes map onto SQLSTATEs") {
  CHECK(error_fields(SQLITE_CONSTRAINT_UNIQUE, "UNIQUE constraint failed: band.name").sqlstate == "23505");
  CHECK(error_fields(SQLITE_CONSTRAINT_PRIMARYKEY, "UNIQUE constraint failed: band.id").sqlstate == "23505");
  CHECK(error_fields(SQLITE_CONSTRAINT_NOTNULL, "NOT NULL constraint failed: band.name").sqlstate == "23502");
  CHECK(error_fields(SQLITE_CONSTRAINT_FOREIGNKEY, "FOREIGN KEY constraint failed").sqlstate == "23503");
  CHECK(error_fields(SQLITE_CONSTRAINT_CHECK, "CHECK constraint failed: popular").sqlstate == "23514");
  CHECK(error_fields(SQLITE_CONSTRAINT_TRIGGER, "raised").sqlstate == "23000");
  CHECK(error_fields(SQLITE_BUSY, "database is locked").sqlstate == "55P03");
  CHECK(error_fields(SQLITE_LOCKED_SHAREDCACHE, "database table is locked").sqlstate == "55P03");
  CHECK(error_fields(SQLITE_INTERRUPT, "interrupted").sqlstate == "57014");
  CHECK(error_fields(SQLITE_READONLY, "attempt to write a readonly database").sqlstate == "25006");
  CHECK(error_fields(SQLITE_ERROR, "no such table: band").sqlstate == "42P01");
  CHECK(error_fields(SQLITE_ERROR, "no such savepoint: sp").sqlstate == "3B001");
  CHECK(error_fields(SQLITE_ERROR, "no such column: nme").sqlstate == "42703");
  CHECK(error_fields(SQLITE_ERROR, "near \"SELEC\": syntax error").sqlstate == "42601");
  CHECK(error_fields(SQLITE_ERROR, "table band already exists").sqlstate == "42P07");
  CHECK(error_fields(SQLITE_ERROR, "something else").sqlstate == "42000");
  CHECK(error_fields(SQLITE_CORRUPT, "database disk image is malformed").sqlstate == "XX001");
}

TEST_CASE("constraint messages name the table, column or constraint") {
  auto unique = error_fields(SQLITE_CONSTRAINT_UNIQUE, "UNIQUE constraint failed: band.name");
  CHECK(unique.table == "band");
  CHECK(unique.column == "name");
  CHECK(unique.native_code == SQLITE_CONSTRAINT_UNIQUE);
  auto composite = error_fields(SQLITE_CONSTRAINT_UNIQUE, "UNIQUE constraint failed: t.a, t.b");
  CHECK(composite.table == "t");
  CHECK(composite.column == "a");
  auto check = error_fields(SQLITE_CONSTRAINT_CHECK, "CHECK constraint failed: popular");
  CHECK(check.constraint == "popular");
  CHECK(check.table.empty());
  auto foreign = error_fields(SQLITE_CONSTRAINT_FOREIGNKEY, "FOREIGN KEY constraint failed");
  CHECK(foreign.table.empty());
}
