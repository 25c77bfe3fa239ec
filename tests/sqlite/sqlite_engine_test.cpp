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

std::size_t scratch_folders() {  // keel's shared in-memory databases live in such folders
  std::size_t count = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", ec))
    if (entry.path().filename().string().starts_with("keel-memory-")) ++count;
  return count;
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
  const std::size_t before = scratch_folders();
  {
    keel::SqliteEngine one(keel::SqliteOptions{.path = ":memory:", .max_connections = 1});
    CHECK(scratch_folders() == before);
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
  {
    keel::SqliteEngine shared(":memory:");
    CHECK(scratch_folders() == before + 1);
    CHECK(shared.raw_sync("PRAGMA journal_mode")[0].get<std::string>(0) == "wal");
  }
  CHECK(scratch_folders() == before);
}
