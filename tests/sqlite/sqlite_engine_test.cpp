// What only the SQLite engine does, on files of its own: its WAL checkpoints, what ":memory:" means, and how its
// pool lends its connections. The behaviour every engine shares is in tests/engine.
#include <catch2/catch.hpp>
#include <boost/asio.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <sqlite3.h>
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

// One connection at most, of a database in a folder that does not exist: every open fails.
keel::SqliteOptions unopenable(const Folder& folder) {
  return keel::SqliteOptions{.path = (folder.path / "missing" / "db.sqlite").string(),
                             .max_connections = 1,
                             .acquire_timeout = std::chrono::seconds(20)};
}

// An engine of one connection, open and lent out (`held`): the next borrower waits for it.
struct OneHeldConnection {
  Folder folder;
  keel::SqliteEngine db{keel::SqliteOptions{
      .path = (folder.path / "db.sqlite").string(), .max_connections = 1, .acquire_timeout = std::chrono::seconds(60)}};
  keel::ConnectionLease held = lend(db);

  static keel::ConnectionLease lend(keel::SqliteEngine& db) {
    db.raw_sync("SELECT 1");  // opens the one connection
    keel::ConnectionLease lease = db.try_acquire();
    REQUIRE(lease);
    return lease;
  }
};

// SQLite's default VFS with a gate before each open of a main database: a test closes it to hold a new
// connection's open on its worker thread, and sees when an open waits there.
class GatedVfs {
public:
  static constexpr const char* name = "keel_test_gated";

  GatedVfs() {
    static const bool registered = [] {
      base() = sqlite3_vfs_find(nullptr);
      static sqlite3_vfs gated = *base();
      gated.zName = name;
      gated.xOpen = &open;
      return sqlite3_vfs_register(&gated, 0) == SQLITE_OK;
    }();
    REQUIRE(registered);
  }
  ~GatedVfs() { set_closed(false); }

  void set_closed(bool closed) {
    std::lock_guard lock(state().mutex);
    state().closed = closed;
    state().changed.notify_all();
  }
  // Whether an open waits at the closed gate.
  bool open_waiting() {
    std::lock_guard lock(state().mutex);
    return state().waiting > 0;
  }

private:
  struct State {
    std::mutex mutex;
    std::condition_variable changed;
    bool closed = false;
    int waiting = 0;
  };
  static State& state() {
    static State s;
    return s;
  }
  static sqlite3_vfs*& base() {
    static sqlite3_vfs* b = nullptr;
    return b;
  }
  static int open(sqlite3_vfs*, sqlite3_filename file_name, sqlite3_file* file, int flags, int* out_flags) {
    if (flags & SQLITE_OPEN_MAIN_DB) {
      std::unique_lock lock(state().mutex);
      ++state().waiting;
      state().changed.wait(lock, [] { return !state().closed; });
      --state().waiting;
    }
    return base()->xOpen(base(), file_name, file, flags, out_flags);
  }
};

// The file of the engine's main database, as SQLite reports it: empty for SQLite's own in-memory database.
std::string database_file(keel::Engine& db) {
  const auto list = db.raw_sync("SELECT file FROM pragma_database_list WHERE name = 'main'");
  return list[0].get<std::string>(0);
}

}  // namespace

TEST_CASE("the engine checkpoints its WAL, so the log does not grow without end") {
  // Where a connection comes back (the default, while checkpoints are quick), or always on a worker.
  const auto inline_limit = GENERATE(keel::SqliteOptions{}.max_inline_time, std::chrono::microseconds(0));
  CAPTURE(inline_limit.count());
  Folder folder;
  const std::string path = (folder.path / "wal.sqlite").string();
  {
    keel::SqliteEngine db(keel::SqliteOptions{.path = path, .max_inline_time = inline_limit});
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

namespace {
struct Note {  // table "note"
  keel::Id id;
  std::string text;
  std::optional<std::int64_t> n;
};
}  // namespace

TEST_CASE("a many-row insert binds each row where its run steps, on the caller's thread or a worker") {
  // Its first runs here and the rest on a worker (the default, past max_inline_time), or all on a worker.
  const auto inline_limit = GENERATE(keel::SqliteOptions{}.max_inline_time, std::chrono::microseconds(0));
  CAPTURE(inline_limit.count());
  Folder folder;
  keel::SqliteEngine db(
      keel::SqliteOptions{.path = (folder.path / "notes.sqlite").string(), .max_inline_time = inline_limit});
  keel::create_table<Note>().run_sync(db);
  std::vector<Note> notes;
  for (int i = 0; i < 20000; ++i)  // texts past the short-string buffer too: bound where they lie in the rows
    notes.push_back(Note{.text = std::string(static_cast<std::size_t>(i % 40), 'x') + std::to_string(i),
                         .n = i % 3 ? std::optional<std::int64_t>(i) : std::nullopt});
  const std::vector<Note> saved = keel::insert(notes).run_sync(db);
  REQUIRE(saved.size() == notes.size());
  const auto stored = keel::select<Note>().order_by(keel::c<&Note::id>).run_sync(db);
  REQUIRE(stored.size() == notes.size());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < stored.size(); ++i)
    mismatches +=
        stored[i].id.value != saved[i].id.value || stored[i].text != notes[i].text || stored[i].n != notes[i].n;
  CHECK(mismatches == 0);
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

TEST_CASE("page_size sets the page size of a database the engine makes; a database that exists keeps its own") {
  auto page_size = [](keel::SqliteEngine& db) { return db.raw_sync("PRAGMA page_size")[0].get<std::int64_t>(0); };
  // The shared :memory: (WAL, several connections) and SQLite's own (one connection).
  for (const std::size_t connections : {std::size_t{4}, std::size_t{1}}) {
    keel::SqliteEngine db(keel::SqliteOptions{.path = ":memory:", .max_connections = connections, .page_size = 2048});
    db.raw_sync("CREATE TABLE t (x INTEGER)");
    db.raw_sync("INSERT INTO t VALUES (1)");
    CHECK(page_size(db) == 2048);
  }
  for (const std::size_t edge : {std::size_t{512}, std::size_t{65536}}) {
    keel::SqliteEngine db(keel::SqliteOptions{.path = ":memory:", .page_size = edge});
    db.raw_sync("CREATE TABLE t (x INTEGER)");
    CHECK(page_size(db) == static_cast<std::int64_t>(edge));
  }

  Folder folder;
  // Unset, a new file gets the page size that SQLite gives a file made without keel.
  {
    sqlite3* alone = nullptr;
    REQUIRE(sqlite3_open((folder.path / "alone.sqlite").string().c_str(), &alone) == SQLITE_OK);
    REQUIRE(sqlite3_exec(alone, "CREATE TABLE t (x INTEGER)", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(alone);
    keel::SqliteEngine by_default((folder.path / "default.sqlite").string());
    by_default.raw_sync("CREATE TABLE t (x INTEGER)");
    keel::SqliteEngine reads_alone((folder.path / "alone.sqlite").string());
    CHECK(page_size(by_default) == page_size(reads_alone));
  }
  const std::string path = (folder.path / "db.sqlite").string();
  {
    keel::SqliteEngine made(keel::SqliteOptions{.path = path, .page_size = 1024});
    made.raw_sync("CREATE TABLE t (x INTEGER)");
    made.raw_sync("INSERT INTO t VALUES (1)");
    CHECK(page_size(made) == 1024);
  }
  keel::SqliteEngine again(keel::SqliteOptions{.path = path, .page_size = 8192});
  CHECK(page_size(again) == 1024);
  again.raw_sync("INSERT INTO t VALUES (2)");
  CHECK(again.raw_sync("SELECT count(*) FROM t")[0].get<std::int64_t>(0) == 2);

  for (const std::size_t wrong : {std::size_t{0}, std::size_t{256}, std::size_t{1000}, std::size_t{131072}})
    CHECK_THROWS_AS(keel::SqliteEngine(keel::SqliteOptions{.path = ":memory:", .page_size = wrong}), keel::MisuseError);
}

TEST_CASE("keel's in-memory files read zeros past their end and in the gaps that writes leave") {
  keel::SqliteEngine engine(":memory:");  // registers the file system
  sqlite3_vfs* vfs = sqlite3_vfs_find("keel-memory");
  REQUIRE(vfs);
  std::vector<unsigned char> storage(static_cast<std::size_t>(vfs->szOsFile));
  auto* file = reinterpret_cast<sqlite3_file*>(storage.data());
  REQUIRE(vfs->xOpen(vfs, nullptr, file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_DELETEONCLOSE,
                     nullptr) == SQLITE_OK);
  const auto size = [&] {
    sqlite3_int64 n = -1;
    file->pMethods->xFileSize(file, &n);
    return n;
  };
  // Bytes [from, from + n), read back; each is 0 unless written.
  const auto read = [&](sqlite3_int64 from, int n) {
    std::vector<unsigned char> bytes(static_cast<std::size_t>(n), 0xAA);
    file->pMethods->xRead(file, bytes.data(), n, from);
    return bytes;
  };
  const auto all_zero = [](const std::vector<unsigned char>& bytes) {
    return std::ranges::all_of(bytes, [](unsigned char b) { return b == 0; });
  };
  const std::vector<unsigned char> ones(1000, 0x11), twos(1000, 0x22);
  // Past the first 64 KiB chunk: the first 150,000 bytes were never written.
  REQUIRE(file->pMethods->xWrite(file, ones.data(), 1000, 150'000) == SQLITE_OK);
  CHECK(size() == 151'000);
  CHECK(all_zero(read(0, 150'000)));
  CHECK(read(150'000, 1000) == ones);
  REQUIRE(file->pMethods->xWrite(file, ones.data(), 1000, 0) == SQLITE_OK);
  CHECK(read(0, 1000) == ones);
  // Cut back and grown again with a gap: the old bytes in the gap read as zeros, not as they were.
  REQUIRE(file->pMethods->xTruncate(file, 100) == SQLITE_OK);
  CHECK(size() == 100);
  CHECK(file->pMethods->xRead(file, std::vector<unsigned char>(200).data(), 200, 0) == SQLITE_IOERR_SHORT_READ);
  REQUIRE(file->pMethods->xWrite(file, twos.data(), 1000, 152'000) == SQLITE_OK);
  CHECK(all_zero(read(100, 151'900)));
  CHECK(read(152'000, 1000) == twos);
  CHECK(read(0, 100) == std::vector<unsigned char>(100, 0x11));  // what the cut kept
  // A write inside the file changes only its own bytes.
  REQUIRE(file->pMethods->xWrite(file, twos.data(), 10, 50) == SQLITE_OK);
  CHECK(read(40, 10) == std::vector<unsigned char>(10, 0x11));
  CHECK(read(50, 10) == std::vector<unsigned char>(10, 0x22));
  CHECK(read(60, 40) == std::vector<unsigned char>(40, 0x11));
  CHECK(all_zero(read(100, 100)));
  CHECK(file->pMethods->xClose(file) == SQLITE_OK);
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
  keel::SqliteEngine db(unopenable(folder));
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

TEST_CASE("a borrower sent to open a connection and cancelled at that moment sends the next one instead") {
  Folder folder;
  keel::SqliteEngine db(unopenable(folder));
  boost::asio::io_context loop;
  boost::asio::cancellation_signal cancel_first;
  std::exception_ptr opener, first, second;
  boost::asio::co_spawn(
      loop,
      [&]() -> boost::asio::awaitable<void> {
        try {
          co_await db.acquire();  // opens the one connection the engine may have
        } catch (const keel::ConnectionError&) {
          // The failed open has just sent the first waiter to try; it is cancelled before it wakes.
          cancel_first.emit(boost::asio::cancellation_type::terminal);
          throw;
        }
      },
      [&](std::exception_ptr e) { opener = e; });
  boost::asio::co_spawn(
      loop, [&]() -> boost::asio::awaitable<void> { co_await db.acquire(); },
      boost::asio::bind_cancellation_slot(cancel_first.slot(), [&](std::exception_ptr e) { first = e; }));
  boost::asio::co_spawn(
      loop, [&]() -> boost::asio::awaitable<void> { co_await db.acquire(); },
      [&](std::exception_ptr e) { second = e; });
  loop.run();
  // Before, the cancelled waiter left without passing on the room it was sent to take: the second waited out
  // acquire_timeout and got TimeoutError.
  REQUIRE(opener);
  REQUIRE(first);
  REQUIRE(second);
  CHECK_THROWS_AS(std::rethrow_exception(opener), keel::ConnectionError);
  CHECK_THROWS_AS(std::rethrow_exception(first), keel::CanceledError);
  CHECK_THROWS_AS(std::rethrow_exception(second), keel::ConnectionError);
}

TEST_CASE("a borrower sent to open a connection that finds the room taken keeps its turn") {
  Folder folder;
  const std::filesystem::path staged = folder.path / "staged", target = folder.path / "target";
  std::filesystem::create_directories(staged);
  // Another engine's exclusive transaction on the database: an open of it waits (setting journal_mode reads it)
  // until that transaction ends.
  keel::SqliteEngine other(keel::SqliteOptions{.path = (staged / "db.sqlite").string(),
                                               .max_connections = 1,
                                               .wal = false,
                                               .transaction_mode = keel::SqliteLockMode::exclusive});
  other.raw_sync("CREATE TABLE t (x INTEGER)");
  keel::Transaction exclusive = other.begin_sync();
  // The engine's database is in a folder that is not there yet: its first open fails.
  keel::SqliteEngine db(keel::SqliteOptions{.path = (target / "db.sqlite").string(),
                                            .max_connections = 1,
                                            .busy_timeout = std::chrono::seconds(60),
                                            .acquire_timeout = std::chrono::seconds(60)});
  boost::asio::io_context loop;
  bool first_open_failed = false, opener_done = false;
  std::exception_ptr opener;
  int waiter_failures = 0;
  std::vector<int> served;
  boost::asio::co_spawn(
      loop,
      [&]() -> boost::asio::awaitable<void> {
        try {
          co_await db.acquire();
        } catch (const keel::ConnectionError&) {
          first_open_failed = true;
        }
        if (!first_open_failed) co_return;
        // In the step where the open failed, before the first waiter, sent to try, wakes: the database is in place
        // now, and this takes the room. Its open waits for the other engine's transaction.
        std::filesystem::rename(staged, target);
        keel::ConnectionLease connection = co_await db.acquire();
      },
      [&](std::exception_ptr e) {
        opener = e;
        opener_done = true;
      });
  for (int n : {1, 2}) {
    boost::asio::co_spawn(
        loop,
        [&, n]() -> boost::asio::awaitable<void> {
          keel::ConnectionLease connection = co_await db.acquire();
          served.push_back(n);
        },
        [&](std::exception_ptr e) { waiter_failures += e ? 1 : 0; });
  }
  while (!first_open_failed && !opener_done && loop.run_one() > 0) {}
  CHECK(first_open_failed);
  // The first waiter wakes, finds the room taken, and waits again: nothing else is ready until the open goes on.
  loop.poll();
  exclusive.rollback_sync();
  loop.run();
  CHECK(opener_done);
  CHECK(opener == nullptr);
  CHECK(waiter_failures == 0);
  // Before, the first waiter queued again at the back, and the connection went to the second first.
  const std::vector<int> in_turn{1, 2};
  CHECK(served == in_turn);
}

TEST_CASE("a borrower cancelled as a connection is handed to it gives the connection back and gets CanceledError") {
  OneHeldConnection one;
  keel::SqliteEngine& db = one.db;
  keel::ConnectionLease& held = one.held;
  boost::asio::io_context loop;
  boost::asio::cancellation_signal signal;
  std::exception_ptr outcome;
  bool finished = false, served = false;
  boost::asio::co_spawn(
      loop,
      [&]() -> boost::asio::awaitable<void> {
        keel::ConnectionLease connection = co_await db.acquire();
        served = true;
      },
      boost::asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) {
        outcome = e;
        finished = true;
      }));
  loop.poll();  // the borrower waits in the pool's queue
  REQUIRE_FALSE(finished);
  // The connection is handed to the borrower, and its cancellation comes before the borrower wakes.
  held.reset();
  signal.emit(boost::asio::cancellation_type::terminal);
  loop.run();
  REQUIRE(finished);
  // Before, it took the connection: a caller going on would have met Asio's operation_aborted at its next co_await.
  CHECK_FALSE(served);
  REQUIRE(outcome);
  CHECK_THROWS_AS(std::rethrow_exception(outcome), keel::CanceledError);
  CHECK(db.pool_idle_size() == 1);
}

TEST_CASE("a connection handed to a borrower whose event loop is destroyed before it wakes goes back to the pool") {
  OneHeldConnection one;
  keel::SqliteEngine& db = one.db;
  keel::ConnectionLease& held = one.held;
  bool served = false;
  {
    boost::asio::io_context loop;
    boost::asio::co_spawn(
        loop,
        [&]() -> boost::asio::awaitable<void> {
          keel::ConnectionLease connection = co_await db.acquire();
          served = true;
        },
        boost::asio::detached);
    loop.poll();   // the borrower waits in the pool's queue
    held.reset();  // the pool hands it the connection and posts its wake to the loop, which never runs again
  }
  CHECK_FALSE(served);
  // Before, the connection went with the borrower's wait: the pool was one short for good, and every later
  // borrower waited out acquire_timeout.
  REQUIRE(db.pool_idle_size() == 1);
  CHECK(db.pool_size() == 1);
  CHECK(db.raw_sync("SELECT 1")[0].get<std::int64_t>(0) == 1);
}

TEST_CASE("a statement whose caller is cancelled while its connection opens does not run, and the connection stays") {
  GatedVfs gate;
  Folder folder;
  keel::SqliteEngine db(keel::SqliteOptions{
      .path = "file:" + (folder.path / "db.sqlite").string() + "?vfs=" + GatedVfs::name, .max_connections = 2});
  db.raw_sync("CREATE TABLE t (x INTEGER)");      // opens the first connection
  keel::ConnectionLease held = db.try_acquire();  // lent out: the next statement opens a second one
  REQUIRE(held);
  gate.set_closed(true);
  boost::asio::io_context loop;
  boost::asio::cancellation_signal signal;
  std::exception_ptr outcome;
  bool finished = false;
  // Also when a REQUIRE fails: the open held at the gate finishes, and its completion runs, before what that
  // writes, the loop and the engine (which joins its workers) go.
  struct OpenGateOnExit {
    GatedVfs& gate;
    boost::asio::io_context& loop;
    ~OpenGateOnExit() {
      gate.set_closed(false);
      loop.restart();
      loop.run();
    }
  } open_gate_on_exit{gate, loop};
  boost::asio::co_spawn(
      loop, [&]() -> boost::asio::awaitable<void> { co_await db.raw("INSERT INTO t VALUES (1)"); },
      boost::asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) {
        outcome = e;
        finished = true;
      }));
  loop.poll();
  for (int i = 0; i < 2000 && !gate.open_waiting(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(gate.open_waiting());  // the second connection's open waits on a worker
  // The open cannot be interrupted: it finishes, and its connection comes to a caller already cancelled.
  signal.emit(boost::asio::cancellation_type::terminal);
  gate.set_closed(false);
  loop.run();
  REQUIRE(finished);
  REQUIRE(outcome);
  CHECK_THROWS_AS(std::rethrow_exception(outcome), keel::CanceledError);
  // The engine's refusal, not the pool's (whose cancelled wait says so).
  CHECK_THROWS_WITH(std::rethrow_exception(outcome), Catch::Contains("as its connection came"));
  held.reset();
  // Nothing was sent, and both connections are the pool's again.
  CHECK(db.raw_sync("SELECT count(*) FROM t")[0].get<std::int64_t>(0) == 0);
  CHECK(db.pool_size() == 2);
  CHECK(db.pool_idle_size() == 2);
}
