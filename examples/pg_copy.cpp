// COPY in both directions with the client: structs into a table by binary COPY (each value encoded for its
// column's type), CSV text into it, and a query's rows out as CSV, chunk by chunk.
//   pg_copy "host=/var/run/postgresql dbname=app"   (no argument: the PG* variables and libpq's defaults)
#include <boost/asio.hpp>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>
import keel;

namespace asio = boost::asio;
namespace pg = keel::pg;

// One member per column, in the table's order; std::optional for NULL.
struct Reading {
  std::int64_t id;
  std::string sensor;
  double celsius;
  std::optional<bool> checked;
};

namespace {

asio::awaitable<void> tour(std::string dsn) {
  auto db = co_await pg::PgConnection::connect(dsn);
  co_await db->execute(
      "CREATE TEMPORARY TABLE reading (id int8 PRIMARY KEY, sensor text NOT NULL, celsius float8, checked bool)");

  // 1. Records in, by binary COPY: no SQL text per row, and no parsing on the server.
  std::vector<Reading> readings;
  for (std::int64_t i = 1; i <= 10'000; ++i)
    readings.push_back({i, i % 2 ? "north" : "south", 15.0 + static_cast<double>(i % 100) / 10,
                        i % 3 ? std::optional<bool>(i % 3 == 1) : std::nullopt});
  std::cout << "copy_records_to_table: " << co_await db->copy_records_to_table("reading", readings) << "\n";

  // 2. Text in COPY's own CSV format, into chosen columns (the others take their defaults, here NULL).
  pg::CopyOptions csv;
  csv.format = "csv";
  csv.header = true;
  csv.columns = {"id", "sensor", "celsius"};
  const std::string_view data = "id,sensor,celsius\n10001,east,-3.5\n10002,\"west, by the door\",21\n";
  std::cout << "copy_to_table (csv): " << co_await db->copy_to_table("reading", data, csv) << "\n";
  std::cout << "rows now: " << co_await db->fetchval<std::int64_t>("SELECT count(*) FROM reading") << "\n";

  // 3. A query's rows out, as CSV: the sink gets the data in chunks, which need not end at a row.
  pg::CopyOptions out;
  out.format = "csv";
  out.header = true;
  std::string text;
  std::size_t chunks = 0;
  const std::string status = co_await db->copy_from_query(
      "SELECT sensor, count(*), round(avg(celsius)::numeric, 2) AS mean FROM reading GROUP BY sensor ORDER BY sensor",
      [&](std::span<const std::uint8_t> chunk) {
        text.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
        ++chunks;
      },
      out);
  std::cout << "copy_from_query: " << status << " in " << chunks << " chunk(s):\n" << text;

  // 4. Bad data ends the COPY on the server with a typed error, and the connection stays usable.
  try {
    co_await db->copy_to_table("reading", std::string_view("10003\tnorth\tnot a number\t\\N\n"));
  } catch (const keel::DataException& e) {
    std::cout << "bad data refused: SQLSTATE " << e.sqlstate() << " (" << e.server_message() << ")\n";
  }
  std::cout << "still " << co_await db->fetchval<std::int64_t>("SELECT count(*) FROM reading") << " rows\n";
  co_await db->close();
}

}  // namespace

int main(int argc, char** argv) try {
  keel::run_sync(tour(argc > 1 ? argv[1] : ""));  // on a private event loop of this thread
} catch (const std::exception& e) {
  std::cerr << "pg_copy failed: " << e.what() << "\n";
  return 1;
}
