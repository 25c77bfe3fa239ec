#include "spawn.hpp"
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <utility>

namespace keel_spawn {
void spawn_detached(const boost::asio::any_io_executor& executor, std::function<boost::asio::awaitable<void>()> work,
                    std::function<void(std::exception_ptr)> done) {
  boost::asio::co_spawn(executor, std::move(work), std::move(done));
}
boost::asio::awaitable<void> run_both(std::function<boost::asio::awaitable<void>()> first,
                                      std::function<boost::asio::awaitable<void>()> second) {
  using namespace boost::asio::experimental::awaitable_operators;
  co_await (first() && second());
}
}  // namespace keel_spawn
