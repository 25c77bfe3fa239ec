// keel.writer's bulk writer on SQLite: a stream of one-row inserts goes out in batches under a byte limit,
// each batch in a transaction of its own, consecutive inserts merged into one multi-row INSERT; a collector
// records every batch. On keel::PostgresEngine the same code sends a merged insert of 100 rows or more by COPY.
//   bulk_writer [file.sqlite]   (default: a private in-memory database)
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>
import keel;

namespace {

void show(const keel::BatchRecord& batch) {
  std::cout << "  batch: " << batch.statements << " statements as " << batch.sql.size() << " text(s), " << batch.bytes
            << " bytes, " << batch.parameters << " values, "
            << (batch.succeeded ? "committed" : "rolled back: " + batch.error)
            << (batch.metadata.empty() ? "" : ", job " + batch.metadata.begin()->second) << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : ":memory:";
  try {
    keel::SqliteEngine db(path);
    db.raw_sync("DROP TABLE IF EXISTS example_event");
    db.raw_sync("CREATE TABLE example_event (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, amount INTEGER NOT NULL)");

    // 1. Statements added one by one, then flushed: the writer splits them into batches of at most 16 KiB of
    // SQL text (as added, before the merge), and merges each batch's inserts into one statement.
    keel::QueryCollector collector;
    keel::BulkWriter writer(db, {.max_bytes = 16 * 1024, .collector = &collector});
    for (std::int64_t i = 1; i <= 1000; ++i)
      writer.add(keel::raw("INSERT INTO example_event (id, kind, amount) VALUES ({}, {}, {})", i,
                           i % 2 ? "sale" : "refund", i * 10));
    const std::size_t ran = writer.flush_sync({{"job", "import"}});  // metadata, kept with each batch's record
    std::cout << "wrote " << ran << " statements in " << collector.records().size() << " batches:\n";
    for (const keel::BatchRecord& batch : collector.records()) show(batch);
    std::cout << "rows in the table: " << db.raw_sync("SELECT count(*) FROM example_event")[0].get<std::int64_t>(0)
              << "\n";

    // 2. A batch fails whole: one duplicate key rolls back the batch's transaction, nothing of it is written,
    // and its statements stay pending, to flush again or discard.
    collector.clear();
    writer.add(keel::raw("INSERT INTO example_event (id, kind, amount) VALUES ({}, {}, {})", 1001, "sale", 5));
    writer.add(keel::raw("INSERT INTO example_event (id, kind, amount) VALUES ({}, {}, {})", 1, "sale", 5));  // taken
    try {
      writer.flush_sync();
    } catch (const keel::UniqueViolation& e) {
      std::cout << "a batch with a duplicate key: UniqueViolation (SQLSTATE " << e.sqlstate() << "), no retry\n";
    }
    show(collector.records().at(0));
    std::cout << "still pending: " << writer.pending() << "; discarded: " << writer.discard() << "; row 1001 exists: "
              << db.raw_sync("SELECT count(*) FROM example_event WHERE id = 1001")[0].get<std::int64_t>(0) << "\n";

    // 3. A scope: with_writer_sync flushes when the body returns (and sends nothing it has not flushed if the
    // body throws).
    const std::size_t updated = keel::with_writer_sync(db, {}, [](keel::BulkWriter& w) {
      w.add(keel::raw("UPDATE example_event SET amount = -amount WHERE kind = {}", "refund"));
      w.add_statement("DELETE FROM example_event WHERE amount < -9000");
    });
    std::cout << "with_writer_sync ran " << updated << " statements; total amount now "
              << db.raw_sync("SELECT sum(amount) FROM example_event")[0].get<std::int64_t>(0) << "\n";

    // 4. A dry run: batches rendered for PostgreSQL and recorded, nothing sent anywhere.
    keel::QueryCollector dry;
    keel::BulkWriter preview(keel::Dialect::postgres, dry);
    for (int i = 1; i <= 3; ++i) preview.add(keel::raw("INSERT INTO t (a, b) VALUES ({}, {})", i, "x"));
    preview.flush_sync();
    std::cout << "dry run for PostgreSQL: " << dry.records().at(0).sql.at(0) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "bulk_writer failed: " << e.what() << "\n";
    return 1;
  }
}
