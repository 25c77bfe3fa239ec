// Runs a blocking call on a worker executor and resumes the awaiting coroutine on its own executor, so that
// a slow SQLite call does not stall the other coroutines of the event loop. An Asio cancellation of the awaiting
// coroutine calls on_cancel (on the caller's thread), which asks the call to stop; the coroutine resumes when the
// call has returned, never before, since the call uses the caller's connection.
module;
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <atomic>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
export module keel.sqlite:blocking;

namespace asio = boost::asio;

namespace keel::sqlite_detail {
template <class R>
struct completion_of {
  using type = void(std::exception_ptr, R);
};
template <>
struct completion_of<void> {
  using type = void(std::exception_ptr);
};

template <class Worker, class F, class OnCancel>
auto run_blocking(const Worker& worker, F call, OnCancel on_cancel) {
  using R = std::invoke_result_t<F&>;
  using Signature = typename completion_of<R>::type;
  return asio::async_initiate<const asio::use_awaitable_t<>&, Signature>(
      [worker](auto handler, F call, OnCancel on_cancel) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected()) slot.assign([on_cancel](asio::cancellation_type) mutable { on_cancel(); });
        // Keeps the caller's event loop alive while the call runs elsewhere; it ends inside the completion, on the
        // caller's thread. The worker posts through an untracked copy and then says it is out of post(): the
        // completion waits for that (microseconds) before it resumes the caller, so that no worker is still inside
        // post() when the caller's loop can finish and its owner destroy it (ThreadSanitizer saw a test's
        // io_context destroyed under the worker's condition-variable signal), and no work of the loop ends late
        // on the worker (which could stop a loop restarted meanwhile for other work).
        auto home = asio::prefer(asio::get_associated_executor(handler), asio::execution::outstanding_work.tracked);
        asio::post(worker, [handler = std::move(handler), call = std::move(call), home = std::move(home)]() mutable {
          // The call runs here; its outcome goes to the handler on the caller's thread.
          auto finish = [&] {
            std::exception_ptr failure;
            if constexpr (std::is_void_v<R>) {
              try {
                call();
              } catch (...) {
                failure = std::current_exception();
              }
              return [handler = std::move(handler), failure]() mutable {
                asio::get_associated_cancellation_slot(handler).clear();
                std::move(handler)(failure);
              };
            } else {
              std::optional<R> result;
              try {
                result.emplace(call());
              } catch (...) {
                failure = std::current_exception();
              }
              return [handler = std::move(handler), failure, result = std::move(result)]() mutable {
                asio::get_associated_cancellation_slot(handler).clear();
                std::move(handler)(failure, result ? std::move(*result) : R{});
              };
            }
          }();
          auto posted = std::make_shared<std::atomic<bool>>(false);
          auto target = asio::prefer(home, asio::execution::outstanding_work.untracked);
          asio::post(target, [finish = std::move(finish), home = std::move(home), posted]() mutable {
            posted->wait(false, std::memory_order_acquire);
            std::move(finish)();
          });
          posted->store(true, std::memory_order_release);
          posted->notify_one();
        });
      },
      asio::use_awaitable, std::move(call), std::move(on_cancel));
}

template <class Worker, class F>
auto run_blocking(const Worker& worker, F call) {
  return run_blocking(worker, std::move(call), [] {});
}

}  // namespace keel::sqlite_detail
