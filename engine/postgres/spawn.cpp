#include "spawn.hpp"
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <utility>

namespace keel_postgres_spawn {
void spawn_on(boost::asio::io_context& context, std::function<boost::asio::awaitable<void>()> work,
              std::function<void(std::exception_ptr)> done) {
  boost::asio::co_spawn(context, std::move(work), std::move(done));
}
void spawn_on(const boost::asio::any_io_executor& executor, std::function<boost::asio::awaitable<void>()> work,
              std::function<void(std::exception_ptr)> done) {
  boost::asio::co_spawn(executor, std::move(work), std::move(done));
}
boost::asio::awaitable<void> run_both(std::function<boost::asio::awaitable<void>()> first,
                                      std::function<boost::asio::awaitable<void>()> second) {
  using namespace boost::asio::experimental::awaitable_operators;
  co_await (first() && second());
}
}  // namespace keel_postgres_spawn
