// What only the SQLite engine does, on files of its own: its WAL checkpoints, and what ":memory:" means. The
// behaviour every engine shares is in tests/engine.
#include <catch2/catch.hpp>
#include <boost/asio.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>
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
  std::string name;
  {
    keel::SqliteEngine shared(":memory:");
    name = database_file(shared);
    CHECK(name.starts_with("/keel-memory-"));  // keel's in-memory file system; no file on disk
    CHECK_FALSE(std::filesystem::exists(name));
    CHECK(shared.raw_sync("PRAGMA journal_mode")[0].get<std::string>(0) == "wal");
    shared.raw_sync("CREATE TABLE t (x INTEGER)");
    shared.raw_sync("INSERT INTO t VALUES (1)");
    // Another engine of this process may open the same database by its name.
    keel::SqliteEngine same(keel::SqliteOptions{.path = "file:" + name + "?vfs=keel-memory"});
    CHECK(same.raw_sync("SELECT count(*) FROM t")[0].get<std::int64_t>(0) == 1);
  }
  // Forgotten with its engine: the name now opens an empty database.
  keel::SqliteEngine after(keel::SqliteOptions{.path = "file:" + name + "?vfs=keel-memory"});
  CHECK(after.raw_sync("SELECT count(*) FROM sqlite_master")[0].get<std::int64_t>(0) == 0);
}

TEST_CASE(":memory: shared by connections: a reader does not wait for an open write transaction") {
  keel::SqliteEngine db(":memory:");
  db.raw_sync("CREATE TABLE t (x INTEGER)");
  db.raw_sync("INSERT INTO t VALUES (1)");
  db.transaction_sync([&] {
    db.raw_sync("INSERT INTO t VALUES (2)");
    // A plain thread has no transaction in scope: it reads on another connection, and sees the last commit.
    std::int64_t seen = -1;
    const auto start = std::chrono::steady_clock::now();
    std::thread reader([&] { seen = db.raw_sync("SELECT count(*) FROM t")[0].get<std::int64_t>(0); });
    reader.join();
    CHECK(seen == 1);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));  // not the 5 s busy timeout
  });
  CHECK(db.raw_sync("SELECT count(*) FROM t")[0].get<std::int64_t>(0) == 2);
}

TEST_CASE(":memory: shared by connections: writers on several threads lose nothing") {
  keel::SqliteEngine db(":memory:");
  db.raw_sync("CREATE TABLE t (thread INTEGER, n INTEGER, payload BLOB)");
  constexpr int threads = 4, rows = 150;
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      try {
        for (int n = 0; n < rows; ++n) {
          db.transaction_sync([&] {
            db.raw_sync("INSERT INTO t VALUES ({}, {}, randomblob(3000))", t, n);
            // Reads in the transaction see its own rows.
            if (db.raw_sync("SELECT count(*) FROM t WHERE thread = {}", t)[0].get<std::int64_t>(0) != n + 1) ++failures;
          });
          if (n % 10 == 0) db.raw_sync("SELECT count(*) FROM t");  // a reader beside the other writers
        }
      } catch (...) {
        ++failures;
      }
    });
  }
  for (std::thread& w : writers) w.join();
  CHECK(failures == 0);
  CHECK(db.raw_sync("SELECT count(*) FROM t")[0].get<std::int64_t>(0) == threads * rows);
  CHECK(db.raw_sync("PRAGMA integrity_check")[0].get<std::string>(0) == "ok");
}

TEST_CASE("a connection that cannot open sends the next borrower to try at once, not to wait for a timeout") {
  Folder folder;
  // A database in a folder that does not exist: every open fails.
  keel::SqliteEngine db(keel::SqliteOptions{.path = (folder.path / "missing" / "db.sqlite").string(),
                                            .max_connections = 1,
                                            .acquire_timeout = std::chrono::seconds(20)});
  boost::asio::io_context loop;
  std::exception_ptr first, second;
  auto query = [&](std::exception_ptr& outcome) {
    boost::asio::co_spawn(
        loop, [&]() -> boost::asio::awaitable<void> { co_await db.raw("SELECT 1"); },
        [&outcome](std::exception_ptr e) { outcome = e; });
  };
  query(first);   // opens the one connection the engine may have
  query(second);  // finds no room and waits
  loop.run();
  // Before, the second waited out acquire_timeout for a connection that was never to come: TimeoutError.
  REQUIRE(first);
  REQUIRE(second);
  CHECK_THROWS_AS(std::rethrow_exception(first), keel::ConnectionError);
  CHECK_THROWS_AS(std::rethrow_exception(second), keel::ConnectionError);
  CHECK_THROWS_WITH(std::rethrow_exception(second), Catch::Contains("cannot open SQLite database"));
}
