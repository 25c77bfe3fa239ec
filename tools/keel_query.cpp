// keel-query: runs one statement on PostgreSQL and prints its rows.
//   keel-query [--psql] DSN SQL [ARG...]
// The arguments are bound as text ($1, $2...; the server reads each as the type the statement needs). Rows
// print with '|' between fields; --psql prints them exactly as `psql -X -A -t -F '|'` does (no header, NULL as
// an empty field, PostgreSQL's own text form of every value, decoded here from the binary format). A failing
// statement exits with status 1 and prints its SQLSTATE and message on stderr.
#include <boost/asio.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>
import keel;
import keel.postgres;

namespace asio = boost::asio;
namespace pg = keel::pg;

namespace {

int usage() {
  std::cerr << "usage: keel-query [--psql] DSN SQL [ARG...]\n";
  return 2;
}

asio::awaitable<int> run(std::string dsn, std::string sql, std::vector<std::string> args, bool psql) {
  auto connection = co_await pg::PgConnection::connect(dsn);
  std::vector<pg::Record> rows;
  switch (args.size()) {  // bound as text: the server infers each type
    case 0: rows = co_await connection->fetch(sql); break;
    default: {
      std::vector<keel::Value> values(args.begin(), args.end());
      rows = co_await connection->fetch_values(sql, values);
    }
  }
  const pg::TextSettings settings{connection->setting("TimeZone")};
  if (!psql && !rows.empty()) {
    for (std::size_t i = 0; i < rows[0].size(); ++i) std::cout << (i ? "|" : "") << rows[0].name(i);
    std::cout << "\n";
  }
  for (const pg::Record& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i) std::cout << '|';
      if (auto bytes = row.bytes(i)) std::cout << pg::postgres_text(row.type_oid(i), row.format(i), *bytes, settings);
      else if (!psql) std::cout << "NULL";
    }
    std::cout << '\n';
  }
  co_await connection->close();
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  bool psql = false;
  if (!words.empty() && words.front() == "--psql") {
    psql = true;
    words.erase(words.begin());
  }
  if (words.size() < 2) return usage();
  try {
    asio::io_context loop;
    auto result = asio::co_spawn(loop, run(words[0], words[1], {words.begin() + 2, words.end()}, psql), asio::use_future);
    loop.run();
    return result.get();
  } catch (const keel::DatabaseError& e) {
    std::cerr << "ERROR " << e.sqlstate() << ": " << e.server_message() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "keel-query: " << e.what() << "\n";
    return 1;
  }
}
