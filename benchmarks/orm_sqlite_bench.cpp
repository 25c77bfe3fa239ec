// keel's ORM on keel::SqliteEngine against the raw sqlite3 C API on the same work, in one run. Not a test: run it
// by hand,
//   build/release/benchmarks/keel-orm-sqlite-bench [file|memory|memory-1|memory-wal] [O1 O2 ... S1 F1]
// Each workload runs on a file database (WAL, synchronous=NORMAL on both sides, in the temporary folder), on
// ":memory:" (each side's own meaning of it: keel's default engine, whose connections share a WAL database in
// keel's in-memory VFS, against sqlite3_open(":memory:")), and on ":memory:" with max_connections = 1 (SQLite's own
// in-memory database on both sides); and keel's default ":memory:" against sqlite3 on the same kind of database, a WAL
// database in keel's in-memory VFS ("memory-wal", not run by default: what keel's engine costs on the database it
// gives, where "memory" also counts what WAL costs against SQLite's in-memory journal). The table is
//   band (id INTEGER PRIMARY KEY, name TEXT NOT NULL, popularity INTEGER NOT NULL, country TEXT)
// with 10,000 rows, restored (untimed) before each workload and, for the workloads that write, before every round.
// Each side runs KEEL_BENCH_ROUNDS rounds (default 7), alternating, and each side's median round is reported:
//   O1 keel <rate>/s sqlite3 <rate>/s ratio <keel/sqlite3>
// keel's side is the ORM as an application writes it, on the engine's default options, its coroutines on one
// io_context that this program runs on the main thread. sqlite3's side does what a careful C user would:
// prepared statements kept for the whole run, BEGIN IMMEDIATE for transactions that write, rows read into the
// same struct.
//   O1  5,000 sequential selects of one row by primary key
//   O2  2,000 single-row inserts, each its own transaction, the generated id returned
//   O3  all 10,000 rows into structs, five times (rows/s)
//   O4  500 transactions of: select a row by id, update it (popularity + 1), insert a row
//   O5  10,000 rows in one insert, ids returned (rows/s)
//   W1  100,000 one-row INSERT statements through keel's BulkWriter (its defaults: batches of at most 1 MB of
//       SQL, each in a transaction) against sqlite3 stepping one prepared INSERT per row in one transaction
//   S1  how late a 1 ms timer on keel's event loop gets while a 200 ms query runs on the same loop
//   F1  not keel: O1's sqlite3 side with each select in an Asio coroutine of its own on keel's loop, against the
//       plain loop, on the same connection: what an async API costs before keel does anything, the floor under O1
// Run it pinned to one core (taskset -c 1 ...): on this project's VM the two cores differ (system calls are slower on
// core 0), and keel moves long work (O5's inserts after the first millisecond) to a worker thread, so unpinned the
// ratio says which core each side landed on. It prints a note when more than one core is allowed.
#include <sqlite3.h>
#include <boost/asio.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>
#include <sched.h>
#include <unistd.h>
#include "bench_support.hpp"
import keel;
#include "band_workload.hpp"

namespace asio = boost::asio;
using keel::c;

namespace {

using keel_bench::digest;
using keel_bench::verify;
using keel_bench::kRows;
using keel_bench::new_band;
using keel_bench::pick;
const int kRounds = keel_bench::rounds_from_environment(7);

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS band (id INTEGER PRIMARY KEY, name TEXT NOT NULL, popularity INTEGER NOT NULL, "
    "country TEXT)";
// Restores the table: rows 1..10,000, so that both sides' inserts get the same ids.
constexpr const char* kReset =
    "DELETE FROM band;"
    "WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < 9999) "
    "INSERT INTO band (id, name, popularity, country) SELECT x + 1, 'band ' || x, x, "
    "CASE WHEN x % 4 = 0 THEN NULL ELSE 'country ' || (x % 50) END FROM n";

// ---- sqlite3's side.

struct Raw {
  sqlite3* db = nullptr;
  sqlite3_stmt *by_id = nullptr, *all = nullptr, *insert = nullptr, *bump = nullptr, *begin = nullptr,
               *commit = nullptr;

  explicit Raw(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, nullptr) !=
        SQLITE_OK)
      fail();
    exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON");
    exec(kSchema);
    by_id = prepare("SELECT id, name, popularity, country FROM band WHERE id = ?");
    all = prepare("SELECT id, name, popularity, country FROM band");
    insert = prepare("INSERT INTO band (name, popularity, country) VALUES (?, ?, ?)");
    bump = prepare("UPDATE band SET popularity = popularity + 1 WHERE id = ?");
    begin = prepare("BEGIN IMMEDIATE");
    commit = prepare("COMMIT");
  }
  ~Raw() {
    for (sqlite3_stmt* s : {by_id, all, insert, bump, begin, commit}) sqlite3_finalize(s);
    sqlite3_close(db);
  }
  [[noreturn]] void fail() const { throw std::runtime_error(std::string("sqlite3: ") + sqlite3_errmsg(db)); }
  void exec(const char* sql) const {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail();
  }
  sqlite3_stmt* prepare(const char* sql) const {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) fail();
    return s;
  }
  void done(sqlite3_stmt* s) const {
    if (sqlite3_step(s) != SQLITE_DONE) fail();
    sqlite3_reset(s);
  }
  static Band band_of(sqlite3_stmt* s) {
    Band band;
    *band.id = sqlite3_column_int64(s, 0);
    band.name.assign(reinterpret_cast<const char*>(sqlite3_column_text(s, 1)),
                     static_cast<std::size_t>(sqlite3_column_bytes(s, 1)));
    band.popularity = sqlite3_column_int64(s, 2);
    if (sqlite3_column_type(s, 3) != SQLITE_NULL)
      band.country.emplace(reinterpret_cast<const char*>(sqlite3_column_text(s, 3)),
                           static_cast<std::size_t>(sqlite3_column_bytes(s, 3)));
    return band;
  }
  Band select(std::int64_t id) const {
    sqlite3_bind_int64(by_id, 1, id);
    if (sqlite3_step(by_id) != SQLITE_ROW) fail();
    Band band = band_of(by_id);
    sqlite3_reset(by_id);
    return band;
  }
  std::vector<Band> select_all() const {
    std::vector<Band> rows;
    int rc;
    while ((rc = sqlite3_step(all)) == SQLITE_ROW) rows.push_back(band_of(all));
    if (rc != SQLITE_DONE) fail();
    sqlite3_reset(all);
    return rows;
  }
  std::int64_t add(const Band& band) const {
    sqlite3_bind_text(insert, 1, band.name.data(), static_cast<int>(band.name.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert, 2, band.popularity);
    if (band.country)
      sqlite3_bind_text(insert, 3, band.country->data(), static_cast<int>(band.country->size()), SQLITE_STATIC);
    else
      sqlite3_bind_null(insert, 3);
    done(insert);
    return sqlite3_last_insert_rowid(db);
  }
  void bump_popularity(std::int64_t id) const {
    sqlite3_bind_int64(bump, 1, id);
    done(bump);
  }
};

// O1's sqlite3 side, and F1's plain one: n selects by key, the digest of the rows read.
std::int64_t raw_selects(const Raw& raw, int n) {
  std::int64_t sum = 0;
  for (int i = 0; i < n; ++i) sum += digest(raw.select(pick(i)));
  return sum;
}
// F1's coroutine side: the same selects, each awaited as a coroutine of its own.
boost::asio::awaitable<Band> raw_select_in_coroutine(const Raw& raw, std::int64_t id) { co_return raw.select(id); }
boost::asio::awaitable<std::int64_t> raw_selects_in_coroutines(const Raw& raw, int n) {
  std::int64_t sum = 0;
  for (int i = 0; i < n; ++i) sum += digest(co_await raw_select_in_coroutine(raw, pick(i)));
  co_return sum;
}

// ---- keel's side: the engine's defaults, on the event loop of bench_support.

using keel_bench::run;

keel_bench::Result measure(double operations, const std::function<void()>& keel_side,
                           const std::function<void()>& raw_side, const std::function<void()>& between = {}) {
  return keel_bench::measure(kRounds, operations, keel_side, raw_side, between);
}

// S1: a timer wanting to fire every millisecond on keel's loop while a query of about 200 ms runs there. The
// query's text first runs twice with a small bound, as a fast statement would.
void stall(keel::Engine& db) {
  // The bound that makes the query take about 200 ms, found by doubling.
  auto counting = [&](std::int64_t bound) {
    return run(
        db.raw("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {}) "
               "SELECT count(*) FROM n",
               bound));
  };
  std::int64_t bound = 100'000;
  for (;;) {
    const auto start = std::chrono::steady_clock::now();
    counting(bound);
    if (std::chrono::steady_clock::now() - start > std::chrono::milliseconds(200)) break;
    bound *= 2;
  }
  for (int i = 0; i < 3; ++i) counting(10);
  double worst_ms = 0;
  int ticks = 0;
  bool running = true;
  asio::co_spawn(
      keel_bench::loop(),
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        while (running) {
          const auto due = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
          timer.expires_at(due);
          co_await timer.async_wait(asio::use_awaitable);
          worst_ms = std::max(
              worst_ms, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - due).count());
          ++ticks;
        }
      },
      asio::detached);
  const auto start = std::chrono::steady_clock::now();
  run([&]() -> asio::awaitable<void> {
    co_await db.raw(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {}) SELECT count(*) FROM n", bound);
    running = false;
  }());
  const double query_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  run([]() -> asio::awaitable<void> {  // lets the ticker see `running` and end
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(5));
    co_await timer.async_wait(asio::use_awaitable);
  }());
  std::printf("S1 a %.0f ms query: the loop's 1 ms timer ticked %d times, at worst %.2f ms late\n", query_ms, ticks,
              worst_ms);
}

void workloads(const char* label, const keel::SqliteOptions& keel_options, const std::string& raw_path,
               const std::vector<std::string>& only) {
  auto selected = [&](const std::string& name) { return only.empty() || std::ranges::find(only, name) != only.end(); };
  auto engine = std::make_shared<keel::SqliteEngine>(keel_options);  // first: an engine registers keel-memory
  Raw raw(raw_path);
  keel::Engine& db = *engine;
  run(db.raw(kSchema));
  auto reset = [&] {
    raw.exec(kReset);
    run(db.raw(kReset));
  };
  std::printf("keel-orm-sqlite-bench on %s: SQLite %s, %d rows, the median of %d alternating rounds per side\n", label,
              sqlite3_libversion(), kRows, kRounds);

  if (selected("O1")) {
    constexpr int n = 5'000;
    reset();
    std::int64_t keel_sum = 0, raw_sum = 0;
    keel_bench::report(
        "O1",
        measure(
            n, [&] { keel_sum += run(keel_bench::orm_select_by_id(db, n)); }, [&] { raw_sum += raw_selects(raw, n); }),
        "sqlite3");
    verify("O1", keel_sum, raw_sum);
  }

  if (selected("O2")) {
    constexpr int n = 2'000;
    std::int64_t keel_sum = 0, raw_sum = 0;
    keel_bench::report("O2",
                       measure(
                           n, [&] { keel_sum += run(keel_bench::orm_insert_each(db, n)); },
                           [&] {
                             for (int i = 0; i < n; ++i) {
                               Band band = new_band(kRows + i);
                               *band.id = raw.add(band);
                               raw_sum += digest(band);
                             }
                           },
                           reset),
                       "sqlite3");
    verify("O2", keel_sum, raw_sum);
  }

  if (selected("O3")) {
    constexpr int times = 5;
    reset();
    std::int64_t keel_sum = 0, raw_sum = 0;
    keel_bench::report("O3",
                       measure(
                           double(times) * kRows, [&] { keel_sum += run(keel_bench::orm_select_all(db, times)); },
                           [&] {
                             for (int t = 0; t < times; ++t)
                               for (const Band& band : raw.select_all()) raw_sum += digest(band);
                           }),
                       "sqlite3");
    verify("O3", keel_sum, raw_sum);
  }

  if (selected("O4")) {
    constexpr int n = 500;
    std::int64_t keel_sum = 0, raw_sum = 0;
    keel_bench::report("O4",
                       measure(
                           n, [&] { keel_sum += run(keel_bench::orm_transactions(db, n)); },
                           [&] {
                             for (int i = 0; i < n; ++i) {
                               const std::int64_t id = pick(i);
                               raw.done(raw.begin);
                               const Band band = raw.select(id);
                               raw.bump_popularity(id);
                               const std::int64_t added = raw.add(new_band(kRows + i));
                               raw.done(raw.commit);
                               raw_sum += digest(band) + added;
                             }
                           },
                           reset),
                       "sqlite3");
    verify("O4", keel_sum, raw_sum);
  }

  if (selected("O5")) {
    std::vector<Band> rows;
    rows.reserve(kRows);
    for (int i = 0; i < kRows; ++i) rows.push_back(new_band(kRows + i));
    const std::int64_t expected_ids = std::int64_t{kRows} * (3 * kRows + 1) / 2;  // kRows+1 .. 2*kRows
    std::int64_t raw_ids = 0;
    keel_bench::report("O5",
                       measure(
                           kRows,
                           [&] {
                             const std::vector<Band> saved = run(keel::insert(rows).run(db));
                             std::int64_t ids = 0;
                             for (const Band& band : saved) ids += *band.id;
                             if (saved.size() != rows.size() || ids != expected_ids)
                               throw std::runtime_error("O5: keel returned the wrong ids");
                           },
                           [&] {
                             raw.done(raw.begin);
                             std::vector<std::int64_t> ids;
                             ids.reserve(rows.size());
                             for (const Band& band : rows) ids.push_back(raw.add(band));
                             raw.done(raw.commit);
                             raw_ids = 0;
                             for (std::int64_t id : ids) raw_ids += id;
                           },
                           reset),
                       "sqlite3");
    if (keel_bench::only_side() != "keel" && raw_ids != expected_ids)
      throw std::runtime_error("O5: sqlite3 got other ids");
  }

  if (selected("W1")) {
    constexpr int n = 100'000;
    std::vector<Band> rows;
    rows.reserve(n);
    for (int i = 0; i < n; ++i) rows.push_back(new_band(kRows + i));
    keel_bench::report("W1",
                       measure(
                           n,
                           [&] {
                             keel::BulkWriter writer(db);
                             for (const Band& band : rows)
                               writer.add(keel::raw("INSERT INTO band (name, popularity, country) VALUES ({}, {}, {})",
                                                    band.name, band.popularity, band.country));
                             if (run(writer.flush()) != std::size_t{n}) throw std::runtime_error("W1: wrong count");
                           },
                           [&] {
                             raw.done(raw.begin);
                             for (const Band& band : rows) raw.add(band);
                             raw.done(raw.commit);
                           },
                           reset),
                       "sqlite3");
  }

  if (selected("F1")) {
    constexpr int n = 5'000;
    reset();
    std::int64_t coroutine_sum = 0, raw_sum = 0;
    // keel's side (KEEL_BENCH_SIDE=keel) is the coroutines here.
    keel_bench::report("F1",
                       measure(
                           n, [&] { coroutine_sum += run(raw_selects_in_coroutines(raw, n)); },
                           [&] { raw_sum += raw_selects(raw, n); }),
                       "sqlite3", "coroutines");
    verify("F1", coroutine_sum, raw_sum);
  }

  if (selected("S1")) stall(db);
  run(db.close());
}

}  // namespace

int main(int argc, char** argv) try {
  if (cpu_set_t allowed; ::sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) > 1)
    std::fprintf(stderr,
                 "note: %d cores allowed; pin to one (taskset -c 1) for ratios that do not depend on where "
                 "each side's threads land (README, Benchmarks)\n",
                 CPU_COUNT(&allowed));
  std::vector<std::string> args(argv + 1, argv + argc);
  std::vector<std::string> databases{"file", "memory", "memory-1"};
  const std::vector<std::string> columns{"file", "memory", "memory-1", "memory-wal"};  // memory-wal when named
  if (!args.empty() && std::ranges::find(columns, args[0]) != columns.end()) {
    databases = {args[0]};
    args.erase(args.begin());
  }
  const auto dir = std::filesystem::temp_directory_path() / ("keel-orm-sqlite-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const std::string& database : databases) {
    if (database == "file")
      workloads("a file (WAL, synchronous=NORMAL)", keel::SqliteOptions{.path = (dir / "keel.sqlite").string()},
                (dir / "raw.sqlite").string(), args);
    else if (database == "memory")
      workloads(":memory:", keel::SqliteOptions{.path = ":memory:"}, ":memory:", args);
    else if (database == "memory-wal")
      workloads(":memory: against sqlite3 on a WAL database in keel-memory", keel::SqliteOptions{.path = ":memory:"},
                "file:/keel-orm-sqlite-bench-raw?vfs=keel-memory", args);  // kept until the process ends
    else
      workloads(":memory: with one connection", keel::SqliteOptions{.path = ":memory:", .max_connections = 1},
                ":memory:", args);
  }
  std::filesystem::remove_all(dir);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "keel-orm-sqlite-bench: %s\n", e.what());
  return 1;
}
