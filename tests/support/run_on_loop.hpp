// Runs a coroutine on an event loop until it is done, and returns its result (or throws its exception).
// io_context::run would not return while a connection listens or a pool keeps idle connections, so this runs
// handlers one at a time until the coroutine's future is ready. For the tests and the benchmarks.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <future>
#include <utility>

namespace keel_support {

template <class T>
T run_on(boost::asio::io_context& loop, boost::asio::awaitable<T> work) {
  auto result = boost::asio::co_spawn(loop, std::move(work), boost::asio::use_future);
  loop.restart();
  while (result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) loop.run_one();
  return result.get();
}

}  // namespace keel_support
