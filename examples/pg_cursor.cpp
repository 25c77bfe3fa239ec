// A server-side cursor over a large result, read in batches: the client holds one batch at a time, never the
// whole result. A cursor lives in a transaction (or is declared WITH HOLD: CursorOptions::hold).
//   pg_cursor "host=/var/run/postgresql dbname=app"   (no argument: the PG* variables and libpq's defaults)
#include <boost/asio.hpp>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>
#include <vector>
import keel;

namespace asio = boost::asio;
namespace pg = keel::pg;

namespace {

constexpr std::int64_t total = 100'000;

asio::awaitable<void> tour(std::string dsn) {
  auto db = co_await pg::PgConnection::connect(dsn);
  const std::string query = "SELECT n, md5(n::text) AS digest FROM generate_series(1, $1::int8) AS n ORDER BY n";

  // 1. fetch(n): one round trip per batch, as many rows as asked for.
  co_await db->begin();
  pg::PgCursor cursor = co_await db->cursor(query, total);
  std::int64_t rows = 0, sum = 0;
  int batches = 0;
  while (true) {
    std::vector<pg::Record> batch = co_await cursor.fetch(30'000);
    if (batch.empty()) break;
    ++batches;
    rows += static_cast<std::int64_t>(batch.size());
    for (const pg::Record& row : batch) sum += row.get<std::int64_t>("n");
    std::cout << "batch " << batches << ": " << batch.size() << " rows, n from " << batch.front().get<std::int64_t>(0)
              << " to " << batch.back().get<std::int64_t>(0) << "\n";
  }
  co_await cursor.close();
  co_await db->commit();
  std::cout << "fetch: read " << rows << " rows in " << batches << " batches, sum of n " << sum
            << (sum == total * (total + 1) / 2 ? " (right)" : " (WRONG)") << "\n";

  // 2. next(): a row at a time, from a buffer the cursor refills `prefetch` rows per round trip; forward(n)
  // skips rows on the server without sending them.
  co_await db->begin();
  pg::PgCursor rowwise = co_await db->cursor(pg::CursorOptions{.prefetch = 5'000}, query, total);
  const std::uint64_t skipped = co_await rowwise.forward(99'990);
  std::cout << "forward: skipped " << skipped << " rows on the server\n";
  std::size_t seen = 0;
  std::string last_digest;
  while (auto row = co_await rowwise.next()) {
    ++seen;
    last_digest = row->get<std::string>("digest");
  }
  co_await db->commit();
  std::cout << "next: the last " << seen << " rows, one at a time; md5 of " << total << " is " << last_digest << "\n";
  co_await db->close();
}

}  // namespace

int main(int argc, char** argv) try {
  keel::run_sync(tour(argc > 1 ? argv[1] : ""));  // on a private event loop of this thread
} catch (const std::exception& e) {
  std::cerr << "pg_cursor failed: " << e.what() << "\n";
  return 1;
}
