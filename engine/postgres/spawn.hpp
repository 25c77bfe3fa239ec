// Starts a coroutine on an io_context and reports its end. Defined in spawn.cpp, an ordinary translation unit:
// clang 19 cannot instantiate Asio 1.81's co_spawn inside a module unit, so module code calls this instead.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <functional>

namespace keel_postgres_spawn {
void spawn_on(boost::asio::io_context& context, std::function<boost::asio::awaitable<void>()> work,
              std::function<void(std::exception_ptr)> done);
void spawn_on(const boost::asio::any_io_executor& executor, std::function<boost::asio::awaitable<void>()> work,
              std::function<void(std::exception_ptr)> done);
// Runs both on the caller's executor at once: `second` while `first` waits (on the network, say). Ends when
// both have. An exception from one cancels the other and is rethrown; when both throw, Asio's
// multiple_exceptions carries them.
boost::asio::awaitable<void> run_both(std::function<boost::asio::awaitable<void>()> first,
                                      std::function<boost::asio::awaitable<void>()> second);
}  // namespace keel_postgres_spawn
