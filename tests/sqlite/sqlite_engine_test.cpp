// What only the SQLite engine does, on files of its own: its WAL checkpoints, and what ":memory:" means. The
// behaviour every engine shares is in tests/engine.
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>
import keel;

namespace {

// A folder of its own for each test, removed afterwards.
struct Folder {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("keel-sqlite-test-" + std::to_string(::getpid()) + "-" + std::to_string(next()++));
  Folder() { std::filesystem::create_directories(path); }
  ~Folder() { std::filesystem::remove_all(path); }
  static int& next() {
    static int n = 0;
    return n;
  }
};

// The file of the engine's main database, as SQLite reports it: empty for SQLite's own in-memory database.
// (Counting keel's folders in /dev/shm instead raced with the other tests' engines running beside this one.)
std::string database_file(keel::Engine& db) {
  const auto list = db.raw_sync("SELECT file FROM pragma_database_list WHERE name = 'main'");
  return list[0].get<std::string>(0);
}

}  // namespace

TEST_CASE("the engine checkpoints its WAL, so the log does not grow without end") {
  Folder folder;
  const std::string path = (folder.path / "wal.sqlite").string();
  {
    keel::SqliteEngine db(path);
    db.raw_sync("CREATE TABLE t (x BLOB)");
    // 24 MB in 1,500 commits: about 6,000 pages, six times the 1,000 pages that call for a checkpoint.
    for (int i = 0; i < 1500; ++i) db.raw_sync("INSERT INTO t VALUES (randomblob(16384))");
    CHECK(db.raw_sync("SELECT count(*) FROM t")[0].get<std::int64_t>(0) == 1500);
    // Checkpointed logs are written again from their start: the log stays near 1,000 pages (4 MB).
    CHECK(std::filesystem::file_size(path + "-wal") < 12 * 1024 * 1024);
  }
  keel::SqliteEngine reopened(path);
  CHECK(reopened.raw_sync("SELECT count(*) FROM t")[0].get<std::int64_t>(0) == 1500);
}

TEST_CASE(":memory: with one connection is SQLite's own in-memory database; with more, a shared one") {
  {
    keel::SqliteEngine one(keel::SqliteOptions{.path = ":memory:", .max_connections = 1});
    CHECK(database_file(one).empty());
    one.raw_sync("CREATE TABLE t (x INTEGER)");
    one.raw_sync("INSERT INTO t VALUES (1)");
    CHECK(one.raw_sync("PRAGMA journal_mode")[0].get<std::string>(0) == "memory");
    // The one connection keeps the database between calls, transactions included.
    one.transaction_sync([&] { one.raw_sync("INSERT INTO t VALUES (2)"); });
    CHECK(one.raw_sync("SELECT count(*) FROM t")[0].get<std::int64_t>(0) == 2);
    keel::SqliteEngine other(keel::SqliteOptions{.path = ":memory:", .max_connections = 1});
    other.raw_sync("CREATE TABLE t (x INTEGER)");  // a database of its own
    CHECK(other.raw_sync("SELECT count(*) FROM t")[0].get<std::int64_t>(0) == 0);
  }
  std::filesystem::path folder;
  {
    keel::SqliteEngine shared(":memory:");
    const std::filesystem::path file = database_file(shared);
    folder = file.parent_path();
    CHECK(folder.filename().string().starts_with("keel-memory-"));
    CHECK(std::filesystem::exists(file));
    CHECK(shared.raw_sync("PRAGMA journal_mode")[0].get<std::string>(0) == "wal");
  }
  CHECK_FALSE(folder.empty());
  CHECK_FALSE(std::filesystem::exists(folder));  // deleted with its engine
}
