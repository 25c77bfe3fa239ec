// The sync wrappers: run one awaitable to completion on the calling thread's private event loop. The loop is
// kept between calls (one per thread), so that an engine's connections made by one sync call serve the next.
module;
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detail/thread_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
export module keel.engine:sync;
import keel.core;
import :context;

namespace asio = boost::asio;

export namespace keel {

/// True while the calling thread is inside an Asio event loop (io_context::run, a thread_pool worker...).
/// Asio keeps that record per thread; its public API has no query for it, hence the detail call.
inline bool in_event_loop_thread() noexcept {
  return asio::detail::thread_context::top_of_thread_call_stack() != nullptr;
}

}  // namespace keel

// Not exported.
namespace keel {

/// Throws SyncCallInEventLoopError on a thread that runs an event loop, which a sync call would block.
inline void ensure_not_in_event_loop() {
  if (in_event_loop_thread())
    throw SyncCallInEventLoopError(
        "a keel *_sync call was made on a thread that is running an event loop: it would block every "
        "coroutine on that loop, and deadlock if the call needs the loop. co_await the async form instead");
}

}  // namespace keel

export namespace keel {

/// The calling thread's private event loop, where its sync calls run. Connections that an engine opens there
/// stay with it between calls; they are closed when the thread ends (the loop's services shut down).
inline asio::io_context& sync_loop() {
  thread_local asio::io_context loop(1);
  return loop;
}

/// Runs `work` to completion and returns its result; the calling thread's frame (a transaction_sync scope)
/// becomes the context of the work.
template <class T>
T run_sync(asio::awaitable<T> work) {
  ensure_not_in_event_loop();
  asio::io_context& loop = sync_loop();
  // Held from before the restart until the call ends: work that another thread still holds on this loop from
  // an earlier call (a worker's tracked executor) may end at any moment, and were it the loop's last work then,
  // the loop would stop itself under this call. With this guard the loop runs until the call is done.
  auto running = asio::make_work_guard(loop);
  loop.restart();
  asio::any_io_executor executor = loop.get_executor();
  if (FramePtr frame = thread_frame()) executor = AnyContextExecutor(std::move(executor), std::move(frame));
  // The outcome lives on the heap: the loop outlives this call, and so may the work if this call ends early
  // (a handler of another's threw out of run_one).
  struct Outcome {
    std::exception_ptr failure;
    bool done = false;
    std::conditional_t<std::is_void_v<T>, bool, std::optional<T>> result{};
  };
  auto outcome = std::make_shared<Outcome>();
  if constexpr (std::is_void_v<T>) {
    asio::co_spawn(executor, std::move(work), [outcome](std::exception_ptr e) {
      outcome->failure = e;
      outcome->done = true;
    });
  } else {
    asio::co_spawn(executor, std::move(work), [outcome](std::exception_ptr e, T value) {
      outcome->failure = e;
      if (!e) outcome->result.emplace(std::move(value));
      outcome->done = true;
    });
  }
  // Until the work is done, not until the loop is idle: work of others may stay pending on it. What is
  // ready when the work ends (a connection going back to its pool) runs too.
  while (!outcome->done && loop.run_one() > 0) {}
  running.reset();
  loop.poll();
  // Only an explicit stop() of this thread's loop gets here: with the guard held, run_one waits for work.
  if (!outcome->done) throw MisuseError("keel::run_sync: the event loop was stopped before the call finished");
  if (outcome->failure) std::rethrow_exception(outcome->failure);
  if constexpr (!std::is_void_v<T>) return std::move(*outcome->result);
}

}  // namespace keel

// Not exported.
namespace keel {

/// Sets the calling thread's frame for the lifetime of a sync scope.
class ThreadFrameScope {
public:
  /// Makes `frame` the thread's frame; the one before comes back when the scope ends.
  explicit ThreadFrameScope(FramePtr frame) : saved_(std::exchange(thread_frame(), std::move(frame))) {}
  ~ThreadFrameScope() { thread_frame() = std::move(saved_); }
  ThreadFrameScope(const ThreadFrameScope&) = delete;
  ThreadFrameScope& operator=(const ThreadFrameScope&) = delete;

private:
  FramePtr saved_;
};

}  // namespace keel
