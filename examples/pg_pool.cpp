// The client's pool (asyncpg's create_pool): many coroutines share a few connections. Each worker borrows a
// connection, runs a query that takes a while, and gives it back; the pool never opens more than max_size.
//   pg_pool "host=/var/run/postgresql dbname=app"   (no argument: the PG* variables and libpq's defaults)
#include <boost/asio.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iostream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>
import keel;

namespace asio = boost::asio;
namespace pg = keel::pg;
using namespace std::chrono;

namespace {

constexpr int workers = 40;

struct Tally {
  std::set<int> backends;  // the server processes (one per connection) that served the workers
  std::size_t lent = 0, most_lent = 0;
};

asio::awaitable<void> worker(pg::Pool& pool, Tally& tally, int number) {
  // Waits while all max_size connections are lent; past 10 s it would throw keel::TimeoutError.
  pg::PooledConnection db = co_await pool.acquire(10s);
  tally.most_lent = std::max(tally.most_lent, ++tally.lent);
  tally.backends.insert(db->server_pid());
  const auto doubled = co_await db->fetchval<std::int64_t>("SELECT $1::int8 * 2 FROM pg_sleep(0.02)", number);
  if (doubled != 2 * number) throw std::runtime_error("a wrong answer");
  --tally.lent;
}  // db goes back to the pool here (reset first: rolled back, settings cleared)

asio::awaitable<void> tour(std::string dsn) {
  auto pool = co_await pg::Pool::create(dsn, {.min_size = 2, .max_size = 4});
  std::cout << "pool opened with " << pool->get_size() << " connections, up to " << pool->get_max_size() << "\n";

  // Start every worker at once, and wait for all of them (a parallel group of deferred co_spawns).
  const auto executor = co_await asio::this_coro::executor;
  Tally tally;
  using Run = decltype(asio::co_spawn(executor, worker(*pool, tally, 0), asio::deferred));
  std::vector<Run> runs;
  for (int i = 0; i < workers; ++i) runs.push_back(asio::co_spawn(executor, worker(*pool, tally, i), asio::deferred));
  const auto started = steady_clock::now();
  auto [order, failures] = co_await asio::experimental::make_parallel_group(std::move(runs))
                               .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  for (const std::exception_ptr& failure : failures)
    if (failure) std::rethrow_exception(failure);
  const auto elapsed = duration_cast<milliseconds>(steady_clock::now() - started);

  std::cout << workers << " coroutines finished on " << tally.backends.size() << " server connections (at most "
            << tally.most_lent << " lent at once) in " << elapsed.count() << " ms\n";
  std::cout << "pool now: " << pool->get_size() << " connections open\n";

  // The pool's own fetchval borrows a connection for one call.
  const auto greeting = co_await pool->fetchval<std::string>("SELECT 'hello from ' || current_user");
  std::cout << "pool.fetchval: " << greeting << "\n";
  co_await pool->close();  // waits for lent connections; an open pool would keep the loop running
}

}  // namespace

int main(int argc, char** argv) try {
  keel::run_sync(tour(argc > 1 ? argv[1] : ""));  // on a private event loop of this thread
} catch (const std::exception& e) {
  std::cerr << "pg_pool failed: " << e.what() << "\n";
  return 1;
}
