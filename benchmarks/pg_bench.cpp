// keel's PostgreSQL client against libpq on the same work, in one run. Not a test: run it by hand,
//   build/release/benchmarks/keel-bench [DSN|-] [W1 W2 ...]
// With no DSN (or "-") it starts a private cluster (tests/postgres/cluster) and stops it afterwards. Each workload runs
// nine rounds (KEEL_BENCH_ROUNDS), alternating the two sides, and reports each side's median round; it prints
//   W1 keel <rate>/s libpq <rate>/s ratio <keel/libpq>
// The client's CPU time per operation follows in parentheses: user and system, then user alone (the client's own
// code, without the kernel's networking). Both sides do what a careful user of each would: prepared statements, binary
// formats, values decoded into native C++ types. libpq is used here only, never by keel.
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <boost/asio.hpp>
#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>
#include <sys/resource.h>
#include <unistd.h>
#include "../tests/support/run_on_loop.hpp"
#include "bench_support.hpp"
#include "libpq_support.hpp"
import keel;
import keel.postgres;

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using keel::pg::PgConnection;
using keel::pg::TimestampTz;

namespace {

constexpr int kTableRows = 100'000;
// Rounds per side: KEEL_BENCH_ROUNDS, 9 by default (with 5, one run's medians still moved by up to 15%).
const int kRounds = keel_bench::rounds_from_environment(9);
constexpr const char* kSelectById = "SELECT id, name, score, created, active FROM bench_rows WHERE id = $1";
constexpr const char* kSelectAll = "SELECT id, name, score, created, active FROM bench_rows";

struct Row {
  std::int32_t id = 0;
  std::string name;
  double score = 0;
  TimestampTz created;
  bool active = false;
};

using keel_bench::Timing;
using keel_bench::timed;

// ---- keel's side: coroutines on one event loop.

using keel_bench::loop;
using keel_bench::run;

// ---- libpq's side.

using keel_bench::PqConnection;
using keel_bench::pq_check;
using keel_bench::pq_connect;

void pq_prepare(PGconn* c, const char* name, const char* sql) {
  PGresult* r = PQprepare(c, name, sql, 0, nullptr);
  pq_check(r, PGRES_COMMAND_OK, c);
  PQclear(r);
}
std::uint32_t be32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return ntohl(v);
}
std::uint64_t be64(const char* p) { return (std::uint64_t{be32(p)} << 32) | be32(p + 4); }
// PostgreSQL's binary timestamptz: microseconds since 2000-01-01 UTC.
constexpr std::int64_t kPgEpochMicros = 946'684'800'000'000;
Row pq_row(PGresult* r, int i) {
  Row row;
  row.id = static_cast<std::int32_t>(be32(PQgetvalue(r, i, 0)));
  row.name.assign(PQgetvalue(r, i, 1), static_cast<std::size_t>(PQgetlength(r, i, 1)));
  row.score = std::bit_cast<double>(be64(PQgetvalue(r, i, 2)));
  row.created =
      TimestampTz(std::chrono::microseconds(static_cast<std::int64_t>(be64(PQgetvalue(r, i, 3))) + kPgEpochMicros));
  row.active = PQgetvalue(r, i, 4)[0] != 0;
  return row;
}
// One row by primary key: a prepared statement, a binary parameter and binary results.
Row pq_select(PGconn* c, std::int32_t id) {
  const std::uint32_t param = htonl(static_cast<std::uint32_t>(id));
  const char* values[] = {reinterpret_cast<const char*>(&param)};
  const int lengths[] = {4};
  const int formats[] = {1};
  PGresult* r = PQexecPrepared(c, "by_id", 1, values, lengths, formats, 1);
  pq_check(r, PGRES_TUPLES_OK, c);
  Row row = pq_row(r, 0);
  PQclear(r);
  return row;
}

void put16(std::string& out, std::uint16_t v) {
  v = htons(v);
  out.append(reinterpret_cast<const char*>(&v), 2);
}
void put32(std::string& out, std::uint32_t v) {
  v = htonl(v);
  out.append(reinterpret_cast<const char*>(&v), 4);
}
void put64(std::string& out, std::uint64_t v) {
  put32(out, static_cast<std::uint32_t>(v >> 32));
  put32(out, static_cast<std::uint32_t>(v));
}

// ---- The workloads.

using keel_bench::Result;
using keel_bench::report;

// kRounds per side, alternating (keel_bench::measure).
Result measure(double operations, const std::function<void()>& keel_side, const std::function<void()>& libpq_side,
               const std::function<void()>& between = {}) {
  return keel_bench::measure(kRounds, operations, keel_side, libpq_side, between);
}

std::vector<Row> rows_to_insert() {
  std::vector<Row> rows;
  rows.reserve(kTableRows);
  const TimestampTz base = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  for (int i = 0; i < kTableRows; ++i)
    rows.push_back(Row{i, "name " + std::to_string(i), i * 0.5, base + std::chrono::seconds(i), i % 3 == 0});
  return rows;
}

}  // namespace

int main(int argc, char** argv) try {
  std::unique_ptr<keel_bench::PrivateCluster> cluster;
  const std::string dsn = keel_bench::dsn_or_private_cluster(argc, argv, "keel-bench", cluster);
  std::vector<std::string> only(argv + std::min(argc, 2), argv + argc);
  auto selected = [&](const std::string& name) { return only.empty() || std::ranges::find(only, name) != only.end(); };
  auto k = run(PgConnection::connect(dsn));
  auto pq = pq_connect(dsn);
  std::printf("keel-bench: PostgreSQL %s, %d rows, the median of %d alternating rounds per side\n",
              k->server_version().c_str(), kTableRows, kRounds);
  run(k->execute(
      "DROP TABLE IF EXISTS bench_rows, bench_copy;"
      "CREATE TABLE bench_rows (id int PRIMARY KEY, name text, score float8, created timestamptz, active bool);"
      "CREATE TABLE bench_copy (LIKE bench_rows INCLUDING ALL);"
      "INSERT INTO bench_rows SELECT n, 'name ' || n, n * 0.5, now() + n * interval '1 second', n % 3 = 0 "
      "FROM generate_series(0, 99999) AS n; ANALYZE bench_rows"));
  pq_prepare(pq.get(), "by_id", kSelectById);
  std::int64_t checksum = 0;  // keeps the decoded values alive

  if (selected("W1")) {  // W1: sequential primary-key selects on one connection.
    constexpr int n = 20'000;
    report("W1", measure(
                     n,
                     [&] {
                       run([&]() -> asio::awaitable<void> {
                         for (int i = 0; i < n; ++i) {
                           auto r = co_await k->fetch_as<Row>(kSelectById,
                                                              static_cast<std::int32_t>((i * 7919) % kTableRows));
                           checksum += r.at(0).id;
                         }
                       }());
                     },
                     [&] {
                       for (int i = 0; i < n; ++i) checksum += pq_select(pq.get(), (i * 7919) % kTableRows).id;
                     }));
  }

  if (selected("W2")) {  // W2: 10 workers over 10 connections.
    constexpr int n = 50'000, workers = 10;
    // keel: the 10 workers are coroutines, spread over one event loop per core, each loop with a pool of its
    // own (a keel connection belongs to one loop); libpq: 10 threads, each blocking on its connection.
    const int loops = std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, workers);
    std::vector<std::unique_ptr<asio::io_context>> contexts;
    std::vector<std::unique_ptr<keel::pg::Pool>> pools;
    for (int l = 0; l < loops; ++l) {
      const std::size_t size = static_cast<std::size_t>(workers / loops + (l < workers % loops ? 1 : 0));
      contexts.push_back(std::make_unique<asio::io_context>());
      pools.push_back(
          keel_support::run_on(*contexts.back(), keel::pg::Pool::create(dsn, {.min_size = size, .max_size = size})));
    }
    std::vector<PqConnection> pqs;
    for (int w = 0; w < workers; ++w) {
      pqs.push_back(pq_connect(dsn));
      pq_prepare(pqs.back().get(), "by_id", kSelectById);
    }
    // The workers w, w + loops, ... run on loop l = w % loops; worker w runs the selects i = w, w + 10, ...
    auto run_workers = [&](int l, std::atomic<std::int64_t>& sum) {
      int done = 0, started = 0;
      for (int w = l; w < workers; w += loops, ++started)
        asio::co_spawn(
            *contexts[l],
            [&, w, l]() -> asio::awaitable<void> {
              auto c = co_await pools[l]->acquire();
              std::int64_t own = 0;
              for (int i = w; i < n; i += workers) {
                auto r = co_await c->fetch_as<Row>(kSelectById, static_cast<std::int32_t>((i * 7919) % kTableRows));
                own += r.at(0).id;
              }
              sum += own;
              ++done;
            },
            asio::detached);
      contexts[l]->restart();
      while (done < started) contexts[l]->run_one();
    };
    auto libpq_side = [&] {
      std::vector<std::thread> threads;
      std::vector<std::int64_t> sums(workers);
      for (int w = 0; w < workers; ++w)
        threads.emplace_back([&, w] {
          for (int i = w; i < n; i += workers) sums[w] += pq_select(pqs[w].get(), (i * 7919) % kTableRows).id;
        });
      for (auto& t : threads) t.join();
      for (auto s : sums) checksum += s;
    };
    report("W2", measure(
                     n,
                     [&] {
                       std::atomic<std::int64_t> sum = 0;
                       std::vector<std::thread> threads;
                       for (int l = 1; l < loops; ++l) threads.emplace_back([&, l] { run_workers(l, sum); });
                       run_workers(0, sum);
                       for (auto& t : threads) t.join();
                       checksum += sum;
                     },
                     libpq_side));
    if (loops > 1) {  // the same on a single event loop: all 10 coroutines on one thread
      auto pool = run(keel::pg::Pool::create(dsn, {.min_size = workers, .max_size = workers}));
      report("W2 on one event loop", measure(
                                         n,
                                         [&] {
                                           int done = 0;
                                           for (int w = 0; w < workers; ++w)
                                             asio::co_spawn(
                                                 loop(),
                                                 [&, w]() -> asio::awaitable<void> {
                                                   auto c = co_await pool->acquire();
                                                   for (int i = w; i < n; i += workers) {
                                                     auto r = co_await c->fetch_as<Row>(
                                                         kSelectById,
                                                         static_cast<std::int32_t>((i * 7919) % kTableRows));
                                                     checksum += r.at(0).id;
                                                   }
                                                   ++done;
                                                 },
                                                 asio::detached);
                                           loop().restart();
                                           while (done < workers) loop().run_one();
                                         },
                                         libpq_side));
      run(pool->close());
    }
    for (int l = 0; l < loops; ++l) keel_support::run_on(*contexts[l], pools[l]->close());
  }

  if (selected("W3")) {  // W3: all 100,000 rows into native values, 5 times.
    constexpr int times = 5;
    pq_prepare(pq.get(), "all", kSelectAll);
    report("W3", measure(
                     double(times) * kTableRows,
                     [&] {
                       for (int t = 0; t < times; ++t) {
                         const std::vector<Row> rows = run(k->fetch_as<Row>(kSelectAll));
                         checksum += static_cast<std::int64_t>(rows.size());
                       }
                     },
                     [&] {
                       for (int t = 0; t < times; ++t) {
                         PGresult* r = PQexecPrepared(pq.get(), "all", 0, nullptr, nullptr, nullptr, 1);
                         pq_check(r, PGRES_TUPLES_OK, pq.get());
                         std::vector<Row> rows;
                         const int count = PQntuples(r);
                         rows.reserve(static_cast<std::size_t>(count));
                         for (int i = 0; i < count; ++i) rows.push_back(pq_row(r, i));
                         PQclear(r);
                         checksum += static_cast<std::int64_t>(rows.size());
                       }
                     }));
  }

  if (selected("W4")) {  // W4: 100,000 rows into an empty table by binary COPY.
    const std::vector<Row> rows = rows_to_insert();
    report("W4", measure(
                     kTableRows, [&] { run(k->copy_records_to_table("bench_copy", rows)); },
                     [&] {
                       PGresult* r = PQexec(pq.get(), "COPY bench_copy FROM STDIN (FORMAT binary)");
                       pq_check(r, PGRES_COPY_IN, pq.get());
                       PQclear(r);
                       std::string chunk("PGCOPY\n\377\r\n\0", 11);
                       put32(chunk, 0);
                       put32(chunk, 0);
                       for (const Row& row : rows) {
                         put16(chunk, 5);
                         put32(chunk, 4), put32(chunk, static_cast<std::uint32_t>(row.id));
                         put32(chunk, static_cast<std::uint32_t>(row.name.size())), chunk += row.name;
                         put32(chunk, 8), put64(chunk, std::bit_cast<std::uint64_t>(row.score));
                         put32(chunk, 8),
                             put64(chunk,
                                   static_cast<std::uint64_t>(row.created.time_since_epoch().count() - kPgEpochMicros));
                         put32(chunk, 1), chunk += static_cast<char>(row.active);
                         if (chunk.size() >= 256 * 1024) {
                           if (PQputCopyData(pq.get(), chunk.data(), static_cast<int>(chunk.size())) != 1)
                             throw std::runtime_error("libpq: copy");
                           chunk.clear();
                         }
                       }
                       put16(chunk, 0xFFFF);
                       if (PQputCopyData(pq.get(), chunk.data(), static_cast<int>(chunk.size())) != 1 ||
                           PQputCopyEnd(pq.get(), nullptr) != 1)
                         throw std::runtime_error("libpq: copy");
                       r = PQgetResult(pq.get());
                       pq_check(r, PGRES_COMMAND_OK, pq.get());
                       PQclear(r);
                       while ((r = PQgetResult(pq.get()))) PQclear(r);
                     },
                     [&] { run(k->execute("TRUNCATE bench_copy")); }));
    if (run(k->fetchval<std::int64_t>("SELECT count(*) FROM bench_copy")) != kTableRows)
      throw std::runtime_error("W4: wrong count");
  }

  if (selected(
          "W5")) {  // W5: small queries pipelined on one connection. keel: concurrent coroutines; libpq: pipeline mode.
    constexpr int n = 10'000, batch = 1'000;
    pq_prepare(pq.get(), "small", "SELECT $1::int8 * 2");
    // keel: 1,000 coroutines at a time (as libpq's rounds of 1,000), each running one query; they are
    // written back to back and answered in one stream, each with its own Sync.
    auto keel_side = [&] {
      for (int start = 0; start < n; start += batch) {
        int done = 0;
        for (int i = start; i < start + batch; ++i)
          asio::co_spawn(
              loop(),
              [&, i]() -> asio::awaitable<void> {
                checksum += co_await k->fetchval<std::int64_t>("SELECT $1::int8 * 2", std::int64_t{i});
                ++done;
              },
              asio::detached);
        loop().restart();
        while (done < batch) loop().run_one();
      }
    };
    // libpq in pipeline mode, 1,000 queries per round of sending and reading. With a Sync after each query,
    // each one stands alone as keel's do (an error reaches only its own caller); with one Sync per 1,000 they
    // share an implicit transaction, and an error cancels the rest of the batch.
    auto libpq_side = [&](bool sync_each) {
      PGconn* c = pq.get();
      if (PQenterPipelineMode(c) != 1) throw std::runtime_error("libpq: pipeline mode");
      for (int start = 0; start < n; start += batch) {
        for (int i = start; i < start + batch; ++i) {
          std::string value;
          put64(value, static_cast<std::uint64_t>(i));
          const char* values[] = {value.data()};
          const int lengths[] = {8};
          const int formats[] = {1};
          if (PQsendQueryPrepared(c, "small", 1, values, lengths, formats, 1) != 1)
            throw std::runtime_error("libpq: send");
          if ((sync_each || i + 1 == start + batch) && PQpipelineSync(c) != 1) throw std::runtime_error("libpq: sync");
        }
        for (int i = start; i < start + batch; ++i) {
          PGresult* r = PQgetResult(c);
          pq_check(r, PGRES_TUPLES_OK, c);
          checksum += static_cast<std::int64_t>(be64(PQgetvalue(r, 0, 0)));
          PQclear(r);
          if (PGresult* end = PQgetResult(c)) PQclear(end);  // the NULL after each query
          if (sync_each || i + 1 == start + batch) {
            PGresult* sync = PQgetResult(c);
            pq_check(sync, PGRES_PIPELINE_SYNC, c);
            PQclear(sync);
          }
        }
      }
      if (PQexitPipelineMode(c) != 1) throw std::runtime_error("libpq: exit pipeline mode");
    };
    // The same batches with keel: fetchmany, one Sync per 1,000 as well.
    auto keel_batches = [&] {
      run([&]() -> asio::awaitable<void> {
        std::vector<std::tuple<std::int64_t>> values;
        for (int start = 0; start < n; start += batch) {
          values.clear();
          for (int i = start; i < start + batch; ++i) values.emplace_back(i);
          for (std::int64_t v : co_await k->fetchmany_as<std::int64_t>("SELECT $1::int8 * 2", values)) checksum += v;
        }
      }());
    };
    report("W5", measure(n, keel_side, [&] { libpq_side(true); }));
    report("W5 batched (one Sync per 1,000: keel fetchmany, libpq pipeline)",
           measure(n, keel_batches, [&] { libpq_side(false); }));
  }

  run(k->execute("DROP TABLE bench_rows, bench_copy"));
  run(k->close());
  std::printf("(checksum %lld)\n", static_cast<long long>(checksum));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "keel-bench: %s\n", e.what());
  return 1;
}
