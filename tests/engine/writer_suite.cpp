// The bulk writer on every engine: the same code writes through SQLite and PostgreSQL, batches commit or roll
// back whole, and a failed batch stays pending.
#include <catch2/catch.hpp>
#include <boost/asio.hpp>
#include <cstdint>
#include <string>
#include <vector>
import keel;
#include "engine_fixture.hpp"
#include "suite_support.hpp"

TEST_CASE_METHOD(Fixture, "writer: statements and ORM-free raw queries go in batches; each batch commits whole") {
  keel::QueryCollector collector;
  keel::BulkWriter writer(db, {.max_bytes = 200, .collector = &collector});
  for (int i = 1; i <= 20; ++i)
    if (writer.add(raw("INSERT INTO band (name, popularity) VALUES ({}, {})", "band" + std::to_string(i), i)))
      writer.flush_sync();
  writer.flush_sync();
  CHECK(total() == 20);
  const auto records = collector.records();
  CHECK(records.size() > 1);
  std::size_t statements = 0;
  for (const auto& r : records) {
    CHECK(r.bytes <= 200);
    CHECK(r.succeeded);
    statements += r.statements;
  }
  CHECK(statements == 20);
  // A batch with a duplicate name fails whole: nothing of it is kept, and it stays pending.
  writer.add(raw("INSERT INTO band (name) VALUES ({})", "new1"));
  writer.add(raw("INSERT INTO band (name) VALUES ({})", "band1"));
  CHECK_THROWS_AS(writer.flush_sync(), keel::UniqueViolation);
  CHECK(count("new1") == 0);
  CHECK(writer.pending() == 2);
  writer.discard();
  // The same batch with a savepoint per statement keeps what did not fail.
  keel::BulkWriter forgiving(db, {.savepoint_per_statement = true});
  const auto results =
      forgiving.process_batch_sync({raw("INSERT INTO band (name) VALUES ({})", "new1").statement(db.dialect()),
                                    raw("INSERT INTO band (name) VALUES ({})", "band1").statement(db.dialect())});
  CHECK(results.size() == 2);
  CHECK(results[0].rows_affected == 1);
  CHECK(count("new1") == 1);
  CHECK(total() == 21);
}
