// Context-local state for coroutines, in the spirit of Python's contextvars.
//
// A coroutine's executor travels with it: every coroutine it co_awaits runs on the same executor, and
// `co_await asio::this_coro::executor` returns it. keel wraps the executor in a ContextExecutor that also
// carries a chain of frames (here: the transactions in scope). Entering a transaction spawns the scope's
// body on a wrapped executor, so the body and everything it awaits see the transaction, while coroutines
// started elsewhere keep their own executor and see nothing. A coroutine co_spawn-ed from inside the scope
// on the current executor inherits the frame, as an asyncio task copies the context it was created in.
// Nothing here is thread_local for coroutines: another coroutine cannot overwrite it between two awaits.
module;
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <type_traits>
#include <utility>
export module keel.engine:context;

namespace asio = boost::asio;

export namespace keel {
class TransactionState;  // defined in :transaction
}  // namespace keel

// The frames and the executor that carries them are the engine's own: not exported.
namespace keel {

/// One link of a coroutine's context: a transaction in scope, and the frame it was entered from.
struct ContextFrame {
  std::shared_ptr<TransactionState> transaction;  ///< the transaction of this scope
  std::shared_ptr<const ContextFrame> parent;     ///< the frame around this one; null at the outermost
};
/// A frame chain as an executor carries it; null outside every scope.
using FramePtr = std::shared_ptr<const ContextFrame>;

/// An executor that forwards everything to Inner and carries the frame chain. Properties that change the
/// executor (require, prefer) keep the frame, so work started from a scope stays in it.
template <class Inner>
class ContextExecutor {
public:
  /// Wraps `inner`, carrying `frame`.
  ContextExecutor(Inner inner, FramePtr frame) : inner_(std::move(inner)), frame_(std::move(frame)) {}

  /// Runs `f` on the inner executor.
  template <class F>
  void execute(F&& f) const {
    inner_.execute(std::forward<F>(f));
  }
  /// Equal when both the inner executors and the frames are.
  friend bool operator==(const ContextExecutor& a, const ContextExecutor& b) noexcept {
    return a.inner_ == b.inner_ && a.frame_ == b.frame_;
  }
  /// The negation of ==.
  friend bool operator!=(const ContextExecutor& a, const ContextExecutor& b) noexcept { return !(a == b); }

  /// Queries the inner executor.
  template <class Property>
  auto query(const Property& p) const noexcept(noexcept(asio::query(std::declval<const Inner&>(), p)))
      -> decltype(asio::query(std::declval<const Inner&>(), p)) {
    return asio::query(inner_, p);
  }
  /// The inner executor with the property required, carrying the same frame.
  template <class Property>
  auto require(const Property& p) const
      -> ContextExecutor<std::decay_t<decltype(asio::require(std::declval<const Inner&>(), p))>> {
    return {asio::require(inner_, p), frame_};
  }
  /// The inner executor with the property preferred, carrying the same frame.
  template <class Property>
  auto prefer(const Property& p) const
      -> ContextExecutor<std::decay_t<decltype(asio::prefer(std::declval<const Inner&>(), p))>> {
    return {asio::prefer(inner_, p), frame_};
  }

  /// The wrapped executor.
  const Inner& inner() const noexcept { return inner_; }
  /// The frame chain carried.
  const FramePtr& frame() const noexcept { return frame_; }

private:
  Inner inner_;
  FramePtr frame_;
};

/// The executor keel's scopes run their bodies on: an Asio any_io_executor with a frame chain.
using AnyContextExecutor = ContextExecutor<asio::any_io_executor>;

/// The frame a plain thread is in: set by the sync wrappers (transaction_sync) and picked up by the private
/// event loop of each sync call on that thread. A plain thread runs one thing at a time, so a thread-local
/// slot is right there, and only there.
inline FramePtr& thread_frame() {
  thread_local FramePtr frame;
  return frame;
}

/// The frame chain that `executor` carries; null when it carries none.
inline FramePtr frame_of(const asio::any_io_executor& executor) {
  if (auto* wrapped = executor.target<AnyContextExecutor>()) return wrapped->frame();
  return nullptr;
}

}  // namespace keel

export namespace keel {

/// `executor` without its frame chain.
inline asio::any_io_executor unwrapped(const asio::any_io_executor& executor) {
  if (auto* wrapped = executor.target<AnyContextExecutor>()) return wrapped->inner();
  return executor;
}

}  // namespace keel

namespace keel {

/// The frame chain of the calling coroutine.
inline asio::awaitable<FramePtr> current_frame() { co_return frame_of(co_await asio::this_coro::executor); }

/// Runs `body()` (a callable returning an awaitable) with `frame` as its context, and gives its result.
template <class Body>
auto run_in_frame(FramePtr frame, Body body) -> std::invoke_result_t<Body&> {
  auto executor = unwrapped(co_await asio::this_coro::executor);
  co_return co_await asio::co_spawn(asio::any_io_executor(AnyContextExecutor(std::move(executor), std::move(frame))),
                                    std::move(body), asio::use_awaitable);
}

}  // namespace keel
