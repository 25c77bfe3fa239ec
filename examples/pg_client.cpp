// keel's own PostgreSQL client (no libpq), asyncpg's API in C++: connect from a connection string, queries
// with values bound to $1, $2..., rows read by name or straight into structs, a prepared statement, and errors
// caught by their SQLSTATE's class.
//   pg_client "host=/var/run/postgresql dbname=app"   (or a postgresql:// URI; none: the PG* variables)
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <vector>
import keel;

namespace asio = boost::asio;
namespace pg = keel::pg;
using namespace std::chrono;

// fetch_as decodes each row into the struct, member by member in column order; NULL needs std::optional.
struct Person {
  std::int64_t id;
  std::string name;
  std::optional<pg::Date> born;
  std::vector<std::string> languages;
};

namespace {

int year_of(const pg::Date& date) { return static_cast<int>(year_month_day(date.days).year()); }

asio::awaitable<void> tour(std::string dsn) {
  auto db = co_await pg::PgConnection::connect(dsn);
  std::cout << "connected to PostgreSQL " << db->server_version() << ", backend pid " << db->server_pid()
            << ", authentication: " << db->authentication_method() << "\n";

  // A temporary table: private to this session, gone when it ends (so the example runs again as it is).
  co_await db->execute(
      "CREATE TEMPORARY TABLE person (id int8 PRIMARY KEY, name text NOT NULL UNIQUE, born date, languages text[])");
  // Values bind to $1, $2...: C++ integers, strings, dates and vectors travel in binary, typed.
  const std::string status =
      co_await db->execute("INSERT INTO person VALUES ($1, $2, $3, $4)", std::int64_t{1}, "Ada Lovelace",
                           pg::Date{sys_days(1815y / December / 10)}, std::vector<std::string>{"English", "French"});
  std::cout << "status: " << status << "\n";
  co_await db->execute("INSERT INTO person VALUES ($1, $2, $3, $4)", std::int64_t{2}, "Grace Hopper",
                       pg::Date{sys_days(1906y / December / 9)}, std::vector<std::string>{"COBOL"});
  co_await db->execute("INSERT INTO person VALUES ($1, $2, $3, $4)", std::int64_t{3}, "Anonymous", nullptr,
                       std::vector<std::string>{});

  // Records: cells by name or by index, typed.
  for (const pg::Record& row : co_await db->fetch("SELECT id, name, born FROM person WHERE id <= $1 ORDER BY id", 2))
    std::cout << "record: " << row.get<std::int64_t>("id") << " " << row.get<std::string>(1) << ", born "
              << year_of(*row.get<std::optional<pg::Date>>("born")) << "\n";
  // Rows straight into structs, and a single value.
  for (const Person& p : co_await db->fetch_as<Person>("SELECT id, name, born, languages FROM person ORDER BY id"))
    std::cout << "struct: " << p.name << (p.born ? ", born " + std::to_string(year_of(*p.born)) : ", born unknown")
              << ", " << p.languages.size() << " language(s)\n";
  const auto people = co_await db->fetchval<std::int64_t>("SELECT count(*) FROM person");
  std::cout << "count: " << people << "\n";

  // A prepared statement: parsed once, its parameter and column types resolved by the server.
  pg::PreparedStatement born_before = co_await db->prepare("SELECT name FROM person WHERE born < $1 ORDER BY born");
  const pg::PreparedStatement::Attribute column = born_before.get_attributes().at(0);
  std::cout << "prepared: parameter $1 is " << born_before.get_parameters().at(0).name << ", column '" << column.name
            << "' is " << column.type.name << "\n";
  for (int year : {1900, 2000}) {
    std::cout << "born before " << year << ":";
    for (const pg::Record& row : co_await born_before.fetch(pg::Date{sys_days(std::chrono::year{year} / 1 / 1)}))
      std::cout << " " << row.get<std::string>(0);
    std::cout << "\n";
  }

  // Errors by SQLSTATE: a duplicate name is keel::UniqueViolation (23505), caught as on every engine.
  try {
    co_await db->execute("INSERT INTO person (id, name) VALUES ($1, $2)", std::int64_t{4}, "Ada Lovelace");
  } catch (const keel::UniqueViolation& e) {
    std::cout << "UniqueViolation, SQLSTATE " << e.sqlstate() << ", constraint " << e.fields().constraint << "\n";
  }
  try {
    co_await db->fetch("SELECT no_such_column FROM person");
  } catch (const keel::UndefinedColumn& e) {
    std::cout << "UndefinedColumn, SQLSTATE " << e.sqlstate() << ": " << e.server_message() << "\n";
  }
  // After an error the connection answers the next query.
  std::cout << "still usable: " << co_await db->fetchval<std::int64_t>("SELECT count(*) FROM person") << " people\n";
  co_await db->close();
}

}  // namespace

int main(int argc, char** argv) try {
  keel::run_sync(tour(argc > 1 ? argv[1] : ""));  // no DSN: the PG* variables and libpq's defaults
} catch (const std::exception& e) {
  std::cerr << "pg_client failed: " << e.what() << "\n";
  return 1;
}
