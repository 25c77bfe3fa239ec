// Runs a coroutine on an event loop until it is done, and returns its result (or throws its exception).
// io_context::run would not return while a connection listens or a pool keeps idle connections, so this runs
// handlers one at a time until the coroutine has finished. For the tests and the benchmarks.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace keel_support {

template <class T>
T run_on(boost::asio::io_context& loop, boost::asio::awaitable<T> work) {
  // Shared with the completion handler, which may outlive this frame if a handler throws out of run_one.
  struct State {
    bool done = false;
    std::exception_ptr failure;
    std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> result;
  };
  auto state = std::make_shared<State>();
  if constexpr (std::is_void_v<T>) {
    boost::asio::co_spawn(loop, std::move(work), [state](std::exception_ptr e) {
      state->failure = e;
      state->done = true;
    });
  } else {
    boost::asio::co_spawn(loop, std::move(work), [state](std::exception_ptr e, T value) {
      state->failure = e;
      if (!e) state->result.emplace(std::move(value));
      state->done = true;
    });
  }
  loop.restart();
  while (!state->done) loop.run_one();
  if (state->failure) std::rethrow_exception(state->failure);
  if constexpr (!std::is_void_v<T>) return std::move(*state->result);
}

}  // namespace keel_support
