// Merging one-row inserts into multi-row inserts, on texts alone: what merges, what is left as it is, and the
// placeholders renumbered per dialect with the values in order.
#include <catch2/catch.hpp>
#include <string>
#include <vector>
import keel;

using keel::Dialect;
using keel::Statement;
using keel::Value;
using Texts = std::vector<std::string>;

namespace {
Texts texts(const std::vector<Statement>& statements) {
  Texts out;
  for (const auto& s : statements) out.emplace_back(s.sql());
  return out;
}
std::vector<Value> values(std::vector<Value> v) { return v; }
}  // namespace

TEST_CASE("merging: a plain INSERT ... VALUES splits at VALUES; anything more is not mergeable", "[writer][merge]") {
  auto split =
      keel::split_insert_values(R"(  insert into "band" ("name", "x") VALUES ($1, lower($2)) ; )", Dialect::postgres);
  REQUIRE(split);
  CHECK(split->head == R"(  insert into "band" ("name", "x") VALUES)");
  CHECK(split->rows == "($1, lower($2))");
  CHECK(split->columns == 2);
  CHECK(split->placeholders == 2);
  split =
      keel::split_insert_values("INSERT INTO t VALUES (1, 'a), (b'), (2, E'it\\'s ('), (3, \"q)\")", Dialect::postgres);
  REQUIRE(split);
  CHECK(split->rows == "(1, 'a), (b'), (2, E'it\\'s ('), (3, \"q)\")");
  CHECK(split->columns == 2);
  for (const char* sql :
       {"INSERT INTO t VALUES ($1) RETURNING id", "INSERT INTO t VALUES ($1) ON CONFLICT DO NOTHING",
        "INSERT INTO t SELECT * FROM u", "INSERT INTO t DEFAULT VALUES", "INSERT INTO t SELECT 1 FROM (VALUES (1)) v",
        "INSERT INTO t VALUES ($1) -- note", "INSERT INTO t VALUES ($$a$$)", "INSERT INTO t VALUES ('unterminated)",
        "UPDATE t SET a = 1", "WITH x AS (SELECT 1) INSERT INTO t VALUES (1)", "INSERT INTO t VALUES",
        "INSERT INTO t VALUES (1); DELETE FROM t", "INSERT INTO t VALUES ((1)"})
    CHECK_FALSE(keel::split_insert_values(sql, Dialect::postgres));
  // SQLite's named and numbered parameters are not positional: not merged.
  CHECK(keel::split_insert_values("INSERT INTO t VALUES (?, ?)", Dialect::sqlite)->placeholders == 2);
  for (const char* sql : {"INSERT INTO t VALUES (?1)", "INSERT INTO t VALUES (:a)", "INSERT INTO t VALUES (@a)",
                          "INSERT INTO t VALUES ($a)", "INSERT INTO [t] VALUES (1)"})
    CHECK_FALSE(keel::split_insert_values(sql, Dialect::sqlite));
}

TEST_CASE("merging: consecutive inserts of one head become one statement, placeholders renumbered", "[writer][merge]") {
  const std::vector<Statement> batch{
      Statement("INSERT INTO t (a, b) VALUES ($1, $2)", values({1, "x"})),
      Statement("INSERT INTO t (a, b) VALUES ($2, $1);", values({"y", 2})),
      Statement("INSERT INTO t (a, b) VALUES (3, 'it''s $1')"),
      Statement("UPDATE t SET a = $1", values({4})),
      Statement("INSERT INTO t (a, b) VALUES ($1, $2)", values({5, "z"})),
      Statement("INSERT INTO u (a) VALUES ($1)", values({6})),
      Statement("INSERT INTO u (a) VALUES ($1) RETURNING a", values({7})),
  };
  const auto merged = keel::merge_inserts(batch, Dialect::postgres);
  CHECK(texts(merged) == Texts{"INSERT INTO t (a, b) VALUES ($1, $2), ($4, $3), (3, 'it''s $1')", "UPDATE t SET a = $1",
                               "INSERT INTO t (a, b) VALUES ($1, $2)", "INSERT INTO u (a) VALUES ($1)",
                               "INSERT INTO u (a) VALUES ($1) RETURNING a"});
  CHECK(merged[0].params() == values({1, "x", "y", 2}));
  CHECK(merged[2].params() == values({5, "z"}));
  // SQLite's ? stay as they are: they are positional.
  const auto sqlite = keel::merge_inserts(std::vector{Statement("INSERT INTO t VALUES (?, ?)", values({1, 2})),
                                                      Statement("INSERT INTO t VALUES (?, ?)", values({3, 4}))},
                                          Dialect::sqlite);
  CHECK(texts(sqlite) == Texts{"INSERT INTO t VALUES (?, ?), (?, ?)"});
  CHECK(sqlite[0].params() == values({1, 2, 3, 4}));
  // A text whose placeholders do not match its values is sent alone, for the server to refuse.
  const auto odd = keel::merge_inserts(std::vector{Statement("INSERT INTO t VALUES ($1)", values({1})),
                                                   Statement("INSERT INTO t VALUES ($1)", values({1, 2}))},
                                       Dialect::postgres);
  CHECK(odd.size() == 2);
}

TEST_CASE("merging: a many-row insert of placeholders alone names its COPY target", "[writer][merge]") {
  const auto target = [](const char* sql, std::size_t values, Dialect d = Dialect::postgres) {
    return keel::rows_insert(Statement(sql, std::vector<Value>(values, Value(1))), d);
  };
  auto rows = target(R"(INSERT INTO "s"."band" ("name", Popularity, "we""ird") VALUES ($1, $2, $3), ($4, $5, $6))", 6);
  REQUIRE(rows);
  CHECK(rows->target.table == R"("s"."band")");
  CHECK(rows->target.columns == std::vector<std::string>{"name", "popularity", "we\"ird"});
  CHECK(rows->rows == 2);
  CHECK(target("insert into t (a) values ($1), ($2), ($3)", 3)->target.table == "t");
  CHECK(target("INSERT INTO t (a, b) VALUES (?, ?), (?, ?)", 4, Dialect::sqlite)->rows == 2);
  for (const char* sql : {"INSERT INTO t (a, b) VALUES ($2, $1), ($3, $4)",  // out of order
                          "INSERT INTO t (a, b) VALUES ($1, 1), ($2, 2)",    // a literal
                          "INSERT INTO t (a) VALUES (lower($1)), ($2)",      // an expression
                          "INSERT INTO t (a) VALUES ($1), ($2, $3)",         // ragged
                          "INSERT INTO t VALUES ($1), ($2)",           // no column list: COPY would want every column
                          "INSERT INTO t AS x (a) VALUES ($1), ($2)",  // an alias
                          "INSERT INTO t (a) OVERRIDING SYSTEM VALUE VALUES ($1), ($2)",
                          "INSERT INTO t (a[1]) VALUES ($1), ($2)", "INSERT INTO t (c.f) VALUES ($1), ($2)",
                          "INSERT INTO t. (a) VALUES ($1), ($2)", "INSERT INTO t (a) (b) VALUES ($1), ($2)"})
    CHECK_FALSE(target(sql, 2));
  CHECK_FALSE(target("INSERT INTO t (a) VALUES ($1), ($2)", 3));  // values that do not match
}

TEST_CASE("merging: merged texts stay within the limits; subqueries and odd placeholders stay apart",
          "[writer][merge]") {
  std::vector<Statement> batch;
  for (int i = 0; i < 5; ++i) batch.emplace_back("INSERT INTO t (a, b) VALUES ($1, $2)", std::vector<Value>{i, i});
  // The head and two rows take 27 + 9 + 10 = 46 bytes; a third row would make 56, over 50.
  const auto by_bytes = keel::merge_inserts(batch, Dialect::postgres, {.max_bytes = 50, .max_parameters = 100});
  CHECK(texts(by_bytes) == Texts{"INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)",
                                 "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)",
                                 "INSERT INTO t (a, b) VALUES ($1, $2)"});
  for (const auto& s : by_bytes) CHECK(s.sql().size() <= 50);
  const auto by_values = keel::merge_inserts(batch, Dialect::postgres, {.max_bytes = 1000, .max_parameters = 6});
  CHECK(by_values.size() == 2);
  CHECK(by_values[0].params().size() == 6);
  CHECK(by_values[1].params() == values({3, 3, 4, 4}));
  // A row with a subquery sees the rows before it only when it runs alone.
  const std::vector<Statement> counted{Statement("INSERT INTO t (a) VALUES ((SELECT count(*) FROM t))"),
                                       Statement("INSERT INTO t (a) VALUES ((SELECT count(*) FROM t))")};
  CHECK(keel::merge_inserts(counted, Dialect::postgres).size() == 2);
  // f$1 is a PostgreSQL name, not f and $1; $0 is no placeholder.
  const std::vector<Statement> named{Statement("INSERT INTO t (a) VALUES (f$1($1))", values({1})),
                                     Statement("INSERT INTO t (a) VALUES (f$1($1))", values({2}))};
  CHECK(texts(keel::merge_inserts(named, Dialect::postgres)) == Texts{"INSERT INTO t (a) VALUES (f$1($1)), (f$1($2))"});
  CHECK_FALSE(keel::split_insert_values("INSERT INTO t (a) VALUES ($0)", Dialect::postgres));
}
