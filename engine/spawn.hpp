// Starting coroutines from module code. Defined in spawn.cpp, an ordinary translation unit: clang 19 fails on
// some of Asio 1.81's co_spawn forms (a function object and a completion callback) and on its awaitable
// operators inside a module unit, so module units call these instead. Nothing here knows a database.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <exception>
#include <functional>

namespace keel_spawn {
// Starts `work` on `executor` and hands its end (nullptr, or what it threw) to `done`, on that executor. The
// function object lives as long as the coroutine, so its captures may keep what the coroutine uses alive.
void spawn_detached(
    const boost::asio::any_io_executor& executor, std::function<boost::asio::awaitable<void>()> work,
    std::function<void(std::exception_ptr)> done = [](std::exception_ptr) {});
// Runs both on the caller's executor at once: `second` while `first` waits (on the network, say). Ends when
// both have. An exception from one cancels the other and is rethrown; when both throw, Asio's
// multiple_exceptions carries them.
boost::asio::awaitable<void> run_both(std::function<boost::asio::awaitable<void>()> first,
                                      std::function<boost::asio::awaitable<void>()> second);
}  // namespace keel_spawn
