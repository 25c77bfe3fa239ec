// Testing code that runs queries, without a database: keel::RecordingEngine records every statement it is
// given and answers from a script (rows, a result, or an error for the statements that contain a fragment).
// Here the code under test is a money transfer that retries a serialization failure; the "test" checks the
// statements it sent, as a unit test would (with Catch2 or any other framework: this one just prints).
#include <boost/asio.hpp>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>
import keel;

namespace asio = boost::asio;
using keel::c;

struct Account {
  static constexpr std::string_view table_name = "account";
  keel::Id id;
  keel::Unique<std::string> owner;
  std::int64_t balance;
};

// ---- The code under test: it names no database, only the engine it is given.
asio::awaitable<void> transfer(keel::Engine& db, std::string from, std::string to, std::int64_t amount) {
  for (int attempt = 1;; ++attempt) {
    try {
      co_await db.transaction([&]() -> asio::awaitable<void> {
        auto payer = co_await keel::select<Account>().where(c<&Account::owner> == from).first().run();
        if (!payer || payer->balance < amount) throw std::runtime_error("insufficient funds");
        co_await keel::update<Account>()
            .set(c<&Account::balance>, c<&Account::balance> - amount)
            .where(c<&Account::owner> == from)
            .run();
        co_await keel::update<Account>()
            .set(c<&Account::balance>, c<&Account::balance> + amount)
            .where(c<&Account::owner> == to)
            .run();
      });
      co_return;
    } catch (const keel::SerializationFailure&) {
      if (attempt == 3) throw;  // a transient failure: try the whole transaction again, up to three times
    }
  }
}

// ---- The test.
namespace {

int checks = 0, failures = 0;
void expect(bool ok, std::string_view what) {
  ++checks;
  failures += ok ? 0 : 1;
  std::cout << (ok ? "  ok: " : "  FAILED: ") << what << "\n";
}

}  // namespace

int main() {
  keel::RecordingEngine db(keel::Dialect::postgres);  // renders as for PostgreSQL: "quoted" names, $1
  db.returns("FROM \"account\"", {"id", "owner", "balance"}, {{1, "alice", 100}});  // every select of accounts
  db.fails_with_sqlstate("UPDATE", "40001", "could not serialize access", 1);       // the first UPDATE only

  std::cout << "a transfer whose first attempt hits a serialization failure:\n";
  keel::run_sync(transfer(db, "alice", "bob", 30));
  for (const keel::RecordedStatement& s : db.statements()) {
    std::cout << "  [connection " << s.connection << "] " << s.sql;
    for (std::size_t i = 0; i < s.params.size(); ++i) std::cout << (i ? ", " : "  -- ") << keel::describe(s.params[i]);
    std::cout << "\n";
  }
  const std::vector<std::string> sql = db.sql();
  expect(sql.size() == 9 && sql[0] == "BEGIN" && sql[3] == "ROLLBACK" && sql[4] == "BEGIN" && sql[8] == "COMMIT",
         "rolled back after the failure, then retried and committed");
  expect(db.statements()[7].params == std::vector<keel::Value>{30, "bob"}, "the second UPDATE credits bob with 30");
  expect(db.statements()[5].connection == db.statements()[8].connection, "the retry ran on one connection");
  expect(db.connections_in_use() == 0, "every connection went back");

  std::cout << "a transfer of more than the balance:\n";
  db.clear();  // forget the record; the script stays
  try {
    keel::run_sync(transfer(db, "alice", "bob", 500));
    expect(false, "insufficient funds refused");
  } catch (const std::runtime_error& e) {
    expect(std::string_view(e.what()) == "insufficient funds", "insufficient funds refused");
  }
  expect(db.sql().size() == 3 && db.sql().back() == "ROLLBACK", "no UPDATE sent, and the transaction rolled back");

  if (failures == 0)
    std::cout << "all " << checks << " checks passed\n";
  else
    std::cout << failures << " of " << checks << " checks failed\n";
  return failures == 0 ? 0 : 1;
}
