// A bounded soak: 200 coroutines share a pool of 10 through a proxy that keeps injecting faults (cuts, stalls,
// a message cut here and there) while they read, write and run transactions. Afterwards the table holds every
// operation the coroutines saw committed, nothing they saw fail, and for the ones whose outcome keel reported
// unknown, either; and the pool serves at its normal size. KEEL_SOAK_SECONDS sets how long faults are injected
// (45 s by default).
#include <catch2/catch.hpp>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>
import keel;
import keel.postgres;
#include "pg_test_support.hpp"
#include "../support/fault_proxy.hpp"

using namespace std::chrono_literals;

namespace {

struct Ledger {
  std::set<std::int64_t> committed, uncertain;
  std::map<std::string, int> errors;  // by kind, for the report
  int operations = 0;
};

std::chrono::seconds soak_time() {
  if (const char* text = std::getenv("KEEL_SOAK_SECONDS")) return std::chrono::seconds(std::atoi(text));
  return 45s;
}

}  // namespace

TEST_CASE("soak: 200 coroutines on a pool of 10 under injected faults keep exactly what was committed", "[soak]") {
  {
    auto direct = connect(dsn("keel_trust", "sslmode=disable"));
    execute(*direct, "DROP TABLE IF EXISTS soak; CREATE TABLE soak (id bigint PRIMARY KEY, worker int NOT NULL)");
  }
  fault_proxy::FaultProxy proxy("127.0.0.1", static_cast<std::uint16_t>(std::stoi(cluster().at("KEEL_PG_PORT"))));
  keel::pg::PoolOptions options{.min_size = 10, .max_size = 10};
  options.acquire_timeout = 5s;
  options.connection.command_timeout = 2s;
  options.connection.cancel_grace = 1s;
  auto pool = run(keel::pg::Pool::create("host=127.0.0.1 port=" + std::to_string(proxy.port()) +
                                             " dbname=keel_test user=keel_trust sslmode=disable passfile=/nonexistent",
                                         options));
  Ledger ledger;
  bool faulting = true;
  int workers_done = 0;
  constexpr int workers = 200;

  auto worker = [&](int number) -> asio::awaitable<void> {
    std::mt19937 random(static_cast<unsigned>(number));
    std::int64_t next_id = std::int64_t{number} * 1'000'000;
    std::int64_t mine_committed = 0, mine_uncertain = 0;
    while (faulting) {
      ++ledger.operations;
      const int choice = std::uniform_int_distribution<int>(0, 9)(random);
      std::vector<std::int64_t> ids;
      bool in_commit = false;
      try {
        auto lent = co_await pool->acquire();
        if (choice < 4) {  // a read, checked against what this worker knows it wrote
          const auto n = co_await lent->fetchval<std::int64_t>("SELECT count(*) FROM soak WHERE worker = $1", number);
          CHECK(n >= mine_committed);
          CHECK(n <= mine_committed + mine_uncertain);
        } else if (choice < 7) {  // a write on its own
          ids = {next_id++};
          in_commit = true;  // its reply lost, the outcome is unknown
          co_await lent->execute("INSERT INTO soak (id, worker) VALUES ($1, $2)", ids[0], number);
        } else if (choice < 9) {  // a transaction of three writes
          ids = {next_id, next_id + 1, next_id + 2};
          next_id += 3;
          co_await lent->begin();
          for (auto id : ids) co_await lent->execute("INSERT INTO soak (id, worker) VALUES ($1, $2)", id, number);
          in_commit = true;
          co_await lent->commit();
        } else {  // a query that times out
          try {
            co_await lent->fetch("SELECT pg_sleep(0.05)", keel::pg::timeout(10ms));
          } catch (const keel::TimeoutError&) {}
        }
        for (auto id : ids) ledger.committed.insert(id);
        mine_committed += static_cast<std::int64_t>(ids.size());
        co_await pool->release(std::move(lent));
      } catch (const keel::CommitOutcomeUnknown&) {
        ++ledger.errors["CommitOutcomeUnknown"];
        for (auto id : ids) ledger.uncertain.insert(id);
        mine_uncertain += static_cast<std::int64_t>(ids.size());
      } catch (const keel::Error& e) {
        ++ledger.errors[typeid(e).name()];
        // A write on its own sent before the connection failed: the server may have committed it.
        if (in_commit && ids.size() == 1) {
          ledger.uncertain.insert(ids[0]);
          ++mine_uncertain;
        }
      }
    }
    ++workers_done;
  };
  for (int i = 0; i < workers; ++i) asio::co_spawn(loop(), worker(i), asio::detached);

  // The faults: every few hundred milliseconds all connections cut, a stall, or one message cut.
  std::mt19937 random(7);
  const auto end = std::chrono::steady_clock::now() + soak_time();
  int faults = 0;
  while (std::chrono::steady_clock::now() < end) {
    run_until([] { return false; }, std::chrono::milliseconds(std::uniform_int_distribution<int>(200, 600)(random)));
    switch (std::uniform_int_distribution<int>(0, 3)(random)) {
      case 0: proxy.cut_all(); break;
      case 1:
        proxy.stall();
        run_until([] { return false; }, std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 400)(random)));
        proxy.resume();
        break;
      case 2: {
        auto left = std::make_shared<int>(std::uniform_int_distribution<int>(1, 200)(random));
        proxy.set_rule([left](const fault_proxy::Message&) {
          return --*left == 0 ? fault_proxy::Action::cut : fault_proxy::Action::forward;
        });
        break;
      }
      default: proxy.set_rule({}); break;
    }
    ++faults;
  }
  proxy.set_rule({});
  proxy.resume();
  faulting = false;
  REQUIRE(run_until([&] { return workers_done == workers; }, 30000ms));

  // Every committed row is there; every row there was committed or had an unknown outcome.
  auto direct = connect(dsn("keel_trust", "sslmode=disable"));
  const auto rows = run(direct->fetch("SELECT id FROM soak"));
  std::set<std::int64_t> present;
  for (const auto& row : rows) present.insert(row.get<std::int64_t>(0));
  std::size_t missing = 0, unexplained = 0;
  for (auto id : ledger.committed) missing += present.contains(id) ? 0 : 1;
  for (auto id : present) unexplained += ledger.committed.contains(id) || ledger.uncertain.contains(id) ? 0 : 1;
  std::string errors;
  for (const auto& [kind, n] : ledger.errors) errors += " " + kind + " " + std::to_string(n);
  INFO("operations " << ledger.operations << ", committed rows " << ledger.committed.size() << ", uncertain "
                     << ledger.uncertain.size() << ", faults " << faults << "; errors by kind:" << errors);
  CHECK(missing == 0);
  CHECK(unexplained == 0);
  CHECK(ledger.committed.size() > 1000);
  CHECK(faults > 20);

  // The pool serves its ten at once again.
  std::vector<keel::pg::PooledConnection> held;
  for (int i = 0; i < 10; ++i) held.push_back(run(pool->acquire(5s)));
  for (auto& lent : held) CHECK(run(lent->fetchval<int>("SELECT 1")) == 1);
  CHECK(pool->get_size() == 10);
  for (auto& lent : held) run(pool->release(std::move(lent)));
  run(pool->close());
}
