// keel's SQLite engine against raw sqlite3 on the same work, in one run: prints both rates and their ratio.
// Not a test: run it by hand (build/release/benchmarks/keel-sqlite-bench). Both sides use one file database in
// WAL mode with prepared statements; keel's side also pays its hop to a worker thread per statement, which is
// what keeps a slow SQLite call off the event loop.
#include <sqlite3.h>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <unistd.h>
import keel;

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kRows = 20000;

double seconds(const std::function<void()>& work) {
  const auto start = Clock::now();
  work();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void check(int rc, sqlite3* db) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "sqlite3: %s\n", sqlite3_errmsg(db));
    std::exit(1);
  }
}

struct Raw {
  sqlite3* db = nullptr;
  explicit Raw(const std::string& path) {
    check(sqlite3_open(path.c_str(), &db), db);
    check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr), db);
  }
  ~Raw() { sqlite3_close(db); }
  void insert_all() {
    sqlite3_stmt* stmt;
    check(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), db);
    check(sqlite3_prepare_v2(db, "INSERT INTO bench_rows (id, name, score) VALUES (?, ?, ?)", -1, &stmt, nullptr), db);
    for (int i = 0; i < kRows; ++i) {
      const std::string name = "row " + std::to_string(i);
      sqlite3_bind_int64(stmt, 1, i);
      sqlite3_bind_text(stmt, 2, name.c_str(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
      sqlite3_bind_double(stmt, 3, i * 0.5);
      check(sqlite3_step(stmt), db);
      sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db);
  }
  std::int64_t select_each() {
    sqlite3_stmt* stmt;
    check(sqlite3_prepare_v2(db, "SELECT id, name, score FROM bench_rows WHERE id = ?", -1, &stmt, nullptr), db);
    std::int64_t sum = 0;
    for (int i = 0; i < kRows; ++i) {
      sqlite3_bind_int64(stmt, 1, i);
      check(sqlite3_step(stmt), db);
      sum += sqlite3_column_int64(stmt, 0);
      std::string name(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)), sqlite3_column_bytes(stmt, 1));
      sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    return sum;
  }
  std::int64_t fetch_all() {
    sqlite3_stmt* stmt;
    check(sqlite3_prepare_v2(db, "SELECT id, name, score FROM bench_rows", -1, &stmt, nullptr), db);
    std::int64_t sum = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      sum += sqlite3_column_int64(stmt, 0);
      std::string name(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)), sqlite3_column_bytes(stmt, 1));
    }
    sqlite3_finalize(stmt);
    return sum;
  }
};

void report(const char* name, double keel_seconds, double raw_seconds, int operations) {
  const double keel_rate = operations / keel_seconds, raw_rate = operations / raw_seconds;
  std::printf("%-28s keel %10.0f/s  sqlite3 %10.0f/s  ratio %.2f\n", name, keel_rate, raw_rate, keel_rate / raw_rate);
}

}  // namespace

int main() {
  const auto dir = std::filesystem::temp_directory_path() / ("keel-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string keel_path = (dir / "keel.sqlite").string(), raw_path = (dir / "raw.sqlite").string();
  static constexpr char schema[] =
      "CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL NOT NULL)";
  {
    keel::SqliteEngine engine(keel_path);
    Raw raw(raw_path);
    engine.raw_sync(schema);
    check(sqlite3_exec(raw.db, schema, nullptr, nullptr, nullptr), raw.db);

    const double keel_insert = seconds([&] {
      keel::run_sync(engine.transaction([&]() -> asio::awaitable<void> {
        for (int i = 0; i < kRows; ++i)
          co_await engine.raw("INSERT INTO bench_rows (id, name, score) VALUES ({}, {}, {})", i,
                              "row " + std::to_string(i), i * 0.5);
      }));
    });
    const double raw_insert = seconds([&] { raw.insert_all(); });
    report("insert (one transaction)", keel_insert, raw_insert, kRows);

    std::int64_t keel_sum = 0, raw_sum = 0;
    const double keel_select = seconds([&] {
      keel::run_sync([&]() -> asio::awaitable<void> {
        for (int i = 0; i < kRows; ++i) {
          keel::Rows rows = co_await engine.raw("SELECT id, name, score FROM bench_rows WHERE id = {}", i);
          keel_sum += rows[0].get<std::int64_t>(0);
        }
      }());
    });
    const double raw_select = seconds([&] { raw_sum = raw.select_each(); });
    report("select by primary key", keel_select, raw_select, kRows);

    const int passes = 5;
    const double keel_fetch = seconds([&] {
      for (int p = 0; p < passes; ++p) {
        keel::Rows rows = engine.raw_sync("SELECT id, name, score FROM bench_rows");
        for (const keel::Row& row : rows) keel_sum += row.get<std::int64_t>(0);
      }
    });
    const double raw_fetch = seconds([&] {
      for (int p = 0; p < passes; ++p) raw_sum += raw.fetch_all();
    });
    report("fetch all rows (rows/s)", keel_fetch, raw_fetch, kRows * passes);
    if (keel_sum != raw_sum) {
      std::fprintf(stderr, "the two sides read different data: %lld vs %lld\n", static_cast<long long>(keel_sum),
                   static_cast<long long>(raw_sum));
      return 1;
    }
  }
  std::filesystem::remove_all(dir);
  return 0;
}
