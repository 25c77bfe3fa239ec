#include "spawn.hpp"
#include <boost/asio/co_spawn.hpp>
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
}  // namespace keel_postgres_spawn
