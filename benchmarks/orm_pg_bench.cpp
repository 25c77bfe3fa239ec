// keel's ORM on keel::PostgresEngine against libpq on the same work, in one run. Not a test: run it by hand,
//   build/release/benchmarks/keel-orm-pg-bench [DSN|-] [O1 O2 ...]
// With no DSN (or "-") it starts a private cluster (tests/postgres/cluster) and stops it afterwards; with a DSN it
// drops and recreates table "band" there. The table is
//   band (id bigserial PRIMARY KEY, name text NOT NULL, popularity bigint NOT NULL, country text)
// with 10,000 rows, restored (TRUNCATE ... RESTART IDENTITY and refilled, untimed) before each workload and, for
// the workloads that write, before every round, so that both sides see the same rows and get the same ids.
// Each workload runs five rounds per side (KEEL_BENCH_ROUNDS), alternating the two sides, and reports each side's
// median round:
//   O1 keel <rate>/s libpq <rate>/s ratio <keel/libpq>
// then the client's CPU time per operation (getrusage, all threads), all and user alone.
// KEEL_BENCH_SIDE=keel (or libpq) runs one side only, for a profiler. keel's side is the ORM as an application
// writes it, into and from struct Band below, its coroutines on one io_context that this program owns and runs on
// the main thread. libpq's side does what a careful user of libpq would: prepared statements, binary parameters
// and results, decoded into the same struct.
//   O1  5,000 sequential selects of one row by primary key
//   O2  2,000 single-row inserts, each its own transaction, the generated id returned
//   O3  all 10,000 rows into structs, five times (rows/s)
//   O4  500 transactions of: select a row by id, update it (popularity + 1), insert a row
//   O5  10,000 rows in one insert, ids returned; libpq writes them by binary COPY (no ids), so the ratio is
//       keel's insert against libpq's fastest way in (rows/s)
//   W1  100,000 single-row INSERT statements through keel's BulkWriter (batches of at most 1 MB of SQL, each
//       in a transaction, pipelined) against libpq sending the same prepared INSERT one by one, in one
//       transaction (statements/s)
//   W2  the same writer against libpq's binary COPY of the same rows (rows/s)
// libpq is used here only, never by keel.
#include <endian.h>
#include <libpq-fe.h>
#include <boost/asio.hpp>
#include <algorithm>
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
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>
#include <sys/resource.h>
#include <unistd.h>
#include "../tests/support/run_on_loop.hpp"
#include "bench_support.hpp"
#include "libpq_support.hpp"
import keel;
#include "band_workload.hpp"

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using keel::c;

namespace {

using keel_bench::digest;
using keel_bench::verify;
using keel_bench::kRows;
using keel_bench::new_band;
using keel_bench::pick;
const int kRounds = keel_bench::rounds_from_environment(5);

// The same rows, made by the server: restores the table between workloads and rounds.
constexpr const char* kReset =
    "TRUNCATE band RESTART IDENTITY;"
    "INSERT INTO band (name, popularity, country) SELECT 'band ' || n, n, "
    "CASE WHEN n % 4 = 0 THEN NULL ELSE 'country ' || (n % 50) END FROM generate_series(0, 9999) AS n;"
    "ANALYZE band";

// ---- Timing: wall time and the client's own CPU time (all threads).

using keel_bench::Timing;
using keel_bench::timed;

// ---- keel's side: one event loop, owned here, run on the main thread; each round is one coroutine on it.

using keel_bench::loop;
using keel_bench::run;
// The engine under test, built in this one place.
std::shared_ptr<keel::PostgresEngine> make_engine(std::string dsn) {
  return std::make_shared<keel::PostgresEngine>(std::move(dsn));
}

// ---- libpq's side.

using keel_bench::PqConnection;
using keel_bench::pq_check;
using keel_bench::pq_connect;
constexpr Oid kInt8 = 20, kText = 25;

void pq_exec(PGconn* c, const char* sql) {
  PGresult* r = PQexec(c, sql);
  pq_check(r, PGRES_COMMAND_OK, c);
  PQclear(r);
}
void pq_prepare(PGconn* c, const char* name, const char* sql, const std::vector<Oid>& types) {
  PGresult* r = PQprepare(c, name, sql, static_cast<int>(types.size()), types.data());
  pq_check(r, PGRES_COMMAND_OK, c);
  PQclear(r);
}
std::int64_t be64(const char* p) {  // a binary int8
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return static_cast<std::int64_t>(be64toh(v));
}
struct Int8Param {  // an int8 in binary format
  char bytes[8];
  explicit Int8Param(std::int64_t v) {
    for (int k = 0; k < 8; ++k) bytes[k] = static_cast<char>(static_cast<std::uint64_t>(v) >> (56 - 8 * k));
  }
};
Band pq_band(const PGresult* r, int i) {
  Band band;
  *band.id = be64(PQgetvalue(r, i, 0));
  band.name.assign(PQgetvalue(r, i, 1), static_cast<std::size_t>(PQgetlength(r, i, 1)));
  band.popularity = be64(PQgetvalue(r, i, 2));
  if (!PQgetisnull(r, i, 3)) band.country.emplace(PQgetvalue(r, i, 3), static_cast<std::size_t>(PQgetlength(r, i, 3)));
  return band;
}
// A prepared statement of one int8 parameter (binary), binary results.
PGresult* pq_by_id(PGconn* c, const char* statement, std::int64_t id, ExecStatusType expected) {
  const Int8Param param(id);
  const char* values[] = {param.bytes};
  const int lengths[] = {8};
  const int formats[] = {1};
  PGresult* r = PQexecPrepared(c, statement, 1, values, lengths, formats, 1);
  pq_check(r, expected, c);
  return r;
}
Band pq_select(PGconn* c, std::int64_t id) {
  PGresult* r = pq_by_id(c, "by_id", id, PGRES_TUPLES_OK);
  const bool found = PQntuples(r) == 1;
  Band band = found ? pq_band(r, 0) : Band{};
  PQclear(r);
  if (!found) throw std::runtime_error("libpq: no band " + std::to_string(id));
  return band;
}
std::int64_t pq_insert(PGconn* c, const Band& band) {
  const Int8Param popularity(band.popularity);
  const char* values[] = {band.name.data(), popularity.bytes, band.country ? band.country->data() : nullptr};
  const int lengths[] = {static_cast<int>(band.name.size()), 8,
                         band.country ? static_cast<int>(band.country->size()) : 0};
  const int formats[] = {1, 1, 1};
  PGresult* r = PQexecPrepared(c, "insert", 3, values, lengths, formats, 1);
  pq_check(r, PGRES_TUPLES_OK, c);
  const std::int64_t id = be64(PQgetvalue(r, 0, 0));
  PQclear(r);
  return id;
}
// The same insert without the id: what the bulk writer's statements do.
void pq_insert_plain(PGconn* c, const Band& band) {
  const Int8Param popularity(band.popularity);
  const char* values[] = {band.name.data(), popularity.bytes, band.country ? band.country->data() : nullptr};
  const int lengths[] = {static_cast<int>(band.name.size()), 8,
                         band.country ? static_cast<int>(band.country->size()) : 0};
  const int formats[] = {1, 1, 1};
  PGresult* r = PQexecPrepared(c, "insert_plain", 3, values, lengths, formats, 1);
  pq_check(r, PGRES_COMMAND_OK, c);
  PQclear(r);
}
// Appends v in network byte order, as COPY's binary format wants it.
template <class T>
void put(std::string& out, T v) {
  for (int k = int(sizeof(T)) - 1; k >= 0; --k) out += static_cast<char>(static_cast<std::uint64_t>(v) >> (8 * k));
}
// COPY band (name, popularity, country) FROM STDIN in binary, 256 KiB per PQputCopyData.
void pq_copy(PGconn* c, const std::vector<Band>& rows) {
  PGresult* r = PQexec(c, "COPY band (name, popularity, country) FROM STDIN (FORMAT binary)");
  pq_check(r, PGRES_COPY_IN, c);
  PQclear(r);
  std::string chunk("PGCOPY\n\377\r\n\0", 11);
  put<std::uint32_t>(chunk, 0);  // flags
  put<std::uint32_t>(chunk, 0);  // header extension
  for (const Band& band : rows) {
    put<std::uint16_t>(chunk, 3);  // fields
    put(chunk, static_cast<std::int32_t>(band.name.size())), chunk += band.name;
    put<std::int32_t>(chunk, 8), put(chunk, band.popularity);
    if (band.country)
      put(chunk, static_cast<std::int32_t>(band.country->size())), chunk += *band.country;
    else
      put<std::int32_t>(chunk, -1);  // NULL
    if (chunk.size() >= 256 * 1024) {
      if (PQputCopyData(c, chunk.data(), static_cast<int>(chunk.size())) != 1) throw std::runtime_error("libpq: copy");
      chunk.clear();
    }
  }
  put<std::int16_t>(chunk, -1);  // the trailer
  if (PQputCopyData(c, chunk.data(), static_cast<int>(chunk.size())) != 1 || PQputCopyEnd(c, nullptr) != 1)
    throw std::runtime_error("libpq: copy");
  r = PQgetResult(c);
  pq_check(r, PGRES_COMMAND_OK, c);
  PQclear(r);
  while ((r = PQgetResult(c))) PQclear(r);
}

// ---- Rounds, medians, reports.

using keel_bench::Result;
using keel_bench::report;
using keel_bench::runs;
using keel_bench::only_side;

// kRounds per side, alternating (keel_bench::measure).
Result measure(double operations, const std::function<void()>& keel_side, const std::function<void()>& libpq_side,
               const std::function<void()>& between = {}) {
  return keel_bench::measure(kRounds, operations, keel_side, libpq_side, between);
}

}  // namespace

int main(int argc, char** argv) try {
  std::unique_ptr<keel_bench::PrivateCluster> cluster;
  const std::string dsn = keel_bench::dsn_or_private_cluster(argc, argv, "keel-orm-pg-bench", cluster);
  std::vector<std::string> only(argv + std::min(argc, 2), argv + argc);
  auto selected = [&](const std::string& name) { return only.empty() || std::ranges::find(only, name) != only.end(); };
  auto pq = pq_connect(dsn);
  PGconn* const p = pq.get();
  pq_exec(p,
          "SET client_min_messages = warning; DROP TABLE IF EXISTS band;"
          "CREATE TABLE band (id bigserial PRIMARY KEY, name text NOT NULL, popularity bigint NOT NULL, country text)");
  auto reset = [&] { pq_exec(p, kReset); };
  reset();
  pq_prepare(p, "by_id", "SELECT id, name, popularity, country FROM band WHERE id = $1", {kInt8});
  pq_prepare(p, "all", "SELECT id, name, popularity, country FROM band", {});
  pq_prepare(p, "insert", "INSERT INTO band (name, popularity, country) VALUES ($1, $2, $3) RETURNING id",
             {kText, kInt8, kText});
  pq_prepare(p, "insert_plain", "INSERT INTO band (name, popularity, country) VALUES ($1, $2, $3)",
             {kText, kInt8, kText});
  pq_prepare(p, "bump", "UPDATE band SET popularity = popularity + 1 WHERE id = $1", {kInt8});

  auto engine = make_engine(dsn);
  keel::Engine& db = *engine;
  const std::string version = run(db.version());  // also opens the engine's first connection
  std::printf("keel-orm-pg-bench: PostgreSQL %s, %d rows, the median of %d alternating rounds per side\n",
              version.c_str(), kRows, kRounds);

  if (selected("O1")) {  // O1: sequential selects of one row by primary key.
    constexpr int n = 5'000;
    reset();
    std::int64_t keel_sum = 0, pq_sum = 0;
    report("O1", measure(
                     n, [&] { keel_sum += run(keel_bench::orm_select_by_id(db, n)); },
                     [&] {
                       for (int i = 0; i < n; ++i) pq_sum += digest(pq_select(p, pick(i)));
                     }));
    verify("O1", keel_sum, pq_sum);
  }

  if (selected("O2")) {  // O2: single-row inserts, each its own transaction, the id returned.
    constexpr int n = 2'000;
    std::int64_t keel_sum = 0, pq_sum = 0;
    report("O2", measure(
                     n, [&] { keel_sum += run(keel_bench::orm_insert_each(db, n)); },
                     [&] {
                       for (int i = 0; i < n; ++i) {
                         Band band = new_band(kRows + i);
                         *band.id = pq_insert(p, band);
                         pq_sum += digest(band);
                       }
                     },
                     reset));
    verify("O2", keel_sum, pq_sum);
  }

  if (selected("O3")) {  // O3: every row into structs, five times.
    constexpr int times = 5;
    reset();
    std::int64_t keel_sum = 0, pq_sum = 0;
    report("O3", measure(
                     double(times) * kRows, [&] { keel_sum += run(keel_bench::orm_select_all(db, times)); },
                     [&] {
                       for (int t = 0; t < times; ++t) {
                         PGresult* r = PQexecPrepared(p, "all", 0, nullptr, nullptr, nullptr, 1);
                         pq_check(r, PGRES_TUPLES_OK, p);
                         std::vector<Band> rows;
                         const int count = PQntuples(r);
                         rows.reserve(static_cast<std::size_t>(count));
                         for (int i = 0; i < count; ++i) rows.push_back(pq_band(r, i));
                         PQclear(r);
                         for (const Band& band : rows) pq_sum += digest(band);
                       }
                     }));
    verify("O3", keel_sum, pq_sum);
  }

  if (selected("O4")) {  // O4: transactions of a select by id, an update of that row and an insert.
    constexpr int n = 500;
    std::int64_t keel_sum = 0, pq_sum = 0;
    report("O4", measure(
                     n, [&] { keel_sum += run(keel_bench::orm_transactions(db, n)); },
                     [&] {
                       for (int i = 0; i < n; ++i) {
                         const std::int64_t id = pick(i);
                         pq_exec(p, "BEGIN");
                         const Band band = pq_select(p, id);
                         PQclear(pq_by_id(p, "bump", id, PGRES_COMMAND_OK));
                         Band added = new_band(kRows + i);
                         *added.id = pq_insert(p, added);
                         pq_exec(p, "COMMIT");
                         pq_sum += digest(band) + *added.id;
                       }
                     },
                     reset));
    verify("O4", keel_sum, pq_sum);
  }

  if (selected("O5")) {  // O5: 10,000 rows into an empty table; keel: one insert, ids returned; libpq: binary COPY.
    std::vector<Band> rows;
    rows.reserve(kRows);
    for (int i = 0; i < kRows; ++i) rows.push_back(new_band(i));
    report("O5",
           measure(
               kRows,
               [&] {
                 const std::vector<Band> saved = run(keel::insert(rows).run(db));
                 std::int64_t ids = 0;
                 for (const Band& band : saved) ids += *band.id;
                 if (saved.size() != rows.size() || ids != std::int64_t{kRows} * (kRows + 1) / 2)
                   throw std::runtime_error("O5: keel returned the wrong ids");
               },
               [&] { pq_copy(p, rows); }, [&] { pq_exec(p, "TRUNCATE band RESTART IDENTITY"); }),
           "libpq-COPY");
    if (run(keel::count<Band>().run(db)) != kRows) throw std::runtime_error("O5: wrong count");
  }

  if (selected("W1") || selected("W2")) {  // W1, W2: 100,000 one-row INSERT statements through the bulk writer.
    constexpr int n = 100'000;
    std::vector<Band> rows;
    rows.reserve(n);
    for (int i = 0; i < n; ++i) rows.push_back(new_band(i));
    auto writer_side = [&] {
      keel::BulkWriter writer(db);
      for (const Band& band : rows)
        writer.add(keel::raw("INSERT INTO band (name, popularity, country) VALUES ({}, {}, {})", band.name,
                             band.popularity, band.country));
      if (run(writer.flush()) != std::size_t{n}) throw std::runtime_error("W1: the writer ran the wrong count");
    };
    auto empty = [&] { pq_exec(p, "TRUNCATE band RESTART IDENTITY"); };
    if (selected("W1"))
      report("W1",
             measure(
                 n, writer_side,
                 [&] {
                   pq_exec(p, "BEGIN");
                   for (const Band& band : rows) pq_insert_plain(p, band);
                   pq_exec(p, "COMMIT");
                 },
                 empty),
             "libpq-one-by-one");
    if (selected("W2")) report("W2", measure(n, writer_side, [&] { pq_copy(p, rows); }, empty), "libpq-COPY");
    if (run(keel::count<Band>().run(db)) != n) throw std::runtime_error("W: wrong count");
  }

  run(db.close());
  pq_exec(p, "DROP TABLE band");
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "keel-orm-pg-bench: %s\n", e.what());
  return 1;
}
