// The ORM against keel's raw queries on the same work, in one run: prints both rates and the ORM's overhead as
// a ratio of times (1.00 = no overhead; the goal is at most 1.10). Not a test: run it by hand
// (build/release/benchmarks/keel-orm-bench [sqlite file]). Each workload runs five rounds, alternating the
// two sides, and keeps each side's best round, to damp the noise of a shared machine.
#include <boost/asio.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>
#include <unistd.h>
import keel;

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using keel::c;

struct BenchRow {
  keel::Id id;
  std::string name;
  double score = 0;
  bool active = false;
};

namespace {

constexpr int kRows = 10000;
constexpr int kRounds = 5;

double seconds(const std::function<void()>& work) {
  const auto start = Clock::now();
  work();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// What the raw side does by hand: decode a row into the struct.
BenchRow decode(const keel::Row& row) {
  return BenchRow{row.get<std::int64_t>(0), row.get<std::string>(1), row.get<double>(2), row.get<bool>(3)};
}

void report(const char* name, double orm_seconds, double raw_seconds, int operations) {
  std::printf("%-34s orm %10.0f/s  raw %10.0f/s  overhead %.2f\n", name, operations / orm_seconds,
              operations / raw_seconds, orm_seconds / raw_seconds);
}

// Runs both sides kRounds times, alternating, and reports each side's best.
void compare(
    const char* name, int operations, const std::function<void()>& orm, const std::function<void()>& raw,
    const std::function<void()>& between = [] {}) {
  double best_orm = 1e300, best_raw = 1e300;
  for (int round = 0; round < kRounds; ++round) {
    between();
    best_orm = std::min(best_orm, seconds(orm));
    between();
    best_raw = std::min(best_raw, seconds(raw));
  }
  report(name, best_orm, best_raw, operations);
}

}  // namespace

int main(int argc, char** argv) {
  const auto dir = std::filesystem::temp_directory_path() / ("keel-orm-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = argc > 1 ? argv[1] : (dir / "bench.sqlite").string();
  {
    auto engine = std::make_shared<keel::SqliteEngine>(path);
    keel::Engine& db = *engine;
    keel::create_table<BenchRow>().run_sync(db);
    auto clear = [&] { keel::delete_from<BenchRow>().force().run_sync(db); };

    std::printf("keel ORM against keel raw queries, SQLite %s, %d rows\n", db.version_sync().c_str(), kRows);
    std::int64_t orm_sum = 0, raw_sum = 0;

    compare(
        "insert one row at a time (1 tx)", kRows,
        [&] {
          keel::run_sync(db.transaction([&]() -> asio::awaitable<void> {
            for (int i = 0; i < kRows; ++i) {
              BenchRow saved = co_await keel::insert(
                                   BenchRow{.name = "row " + std::to_string(i), .score = i * 0.5, .active = i % 2 == 0})
                                   .run();
              orm_sum += saved.id;
            }
          }));
        },
        [&] {
          keel::run_sync(db.transaction([&]() -> asio::awaitable<void> {
            for (int i = 0; i < kRows; ++i) {
              keel::Rows rows = co_await db.raw(
                  "INSERT INTO \"bench_row\" (\"name\", \"score\", \"active\") VALUES ({}, {}, {}) RETURNING \"id\"",
                  "row " + std::to_string(i), i * 0.5, i % 2 == 0);
              raw_sum += rows[0].get<std::int64_t>(0);
            }
          }));
        },
        clear);

    // The table the reads use.
    std::vector<BenchRow> rows;
    for (int i = 0; i < kRows; ++i) rows.push_back(BenchRow{.name = "row " + std::to_string(i), .score = i * 0.5});
    std::vector<BenchRow> saved = keel::insert(rows).run_sync(db);
    std::vector<std::int64_t> ids;
    for (const BenchRow& row : saved) ids.push_back(row.id);

    orm_sum = raw_sum = 0;
    compare(
        "select by primary key", kRows,
        [&] {
          keel::run_sync([&]() -> asio::awaitable<void> {
            for (std::int64_t id : ids) {
              std::optional<BenchRow> row =
                  co_await keel::select<BenchRow>().where(c<&BenchRow::id> == id).first().run(db);
              orm_sum += row->id;
            }
          }());
        },
        [&] {
          keel::run_sync([&]() -> asio::awaitable<void> {
            for (std::int64_t id : ids) {
              keel::Rows result = co_await db.raw(
                  "SELECT \"id\", \"name\", \"score\", \"active\" FROM \"bench_row\" WHERE \"id\" = {} LIMIT {}", id,
                  1);
              std::optional<BenchRow> row;
              if (!result.empty()) row = decode(result[0]);
              raw_sum += row->id;
            }
          }());
        });

    const int passes = 10;
    compare(
        "fetch all rows into structs (rows/s)", kRows * passes,
        [&] {
          for (int p = 0; p < passes; ++p)
            for (const BenchRow& row : keel::select<BenchRow>().run_sync(db)) orm_sum += row.id;
        },
        [&] {
          for (int p = 0; p < passes; ++p) {
            std::vector<BenchRow> decoded;
            for (const keel::Row& row :
                 db.raw_sync("SELECT \"id\", \"name\", \"score\", \"active\" FROM \"bench_row\""))
              decoded.push_back(decode(row));
            for (const BenchRow& row : decoded) raw_sum += row.id;
          }
        });
    // What the ORM adds on the client, without the database: making the statement of a select by key.
    const int statements = 1000000;
    std::size_t orm_params = 0, raw_params = 0;
    compare(
        "make a select statement (no database)", statements,
        [&] {
          for (int i = 0; i < statements; ++i)
            orm_params +=
                keel::select<BenchRow>().where(c<&BenchRow::id> == i).first().statement(db.dialect()).params().size();
        },
        [&] {
          for (int i = 0; i < statements; ++i)
            raw_params +=
                keel::raw(
                    "SELECT \"id\", \"name\", \"score\", \"active\" FROM \"bench_row\" WHERE \"id\" = {} LIMIT {}", i,
                    1)
                    .statement(db.dialect())
                    .params()
                    .size();
        });
    if (orm_sum != raw_sum || orm_params != raw_params) {
      std::fprintf(stderr, "\nthe two sides read different data: %lld vs %lld\n", static_cast<long long>(orm_sum),
                   static_cast<long long>(raw_sum));
      return 1;
    }
  }
  std::filesystem::remove_all(dir);
  return 0;
}
