// Atomic runs: queue queries, then run them all in one transaction, all or nothing.
//   auto atomic = engine.atomic();
//   atomic.add(q1, q2);
//   co_await atomic.run();                      // or atomic.run_sync()
//   co_await engine.atomic().add(q1, q2);       // awaiting the atomic itself
// An Atomic is an Asio asynchronous operation, so `co_await` takes it as an rvalue; Boost 1.81's awaitable
// does not take async operations as lvalues, hence co_await std::move(atomic) (or .run()) for a variable.
module;
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <cstddef>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>
export module keel.engine:atomic;
import keel.core;
import :statement_runner;

namespace asio = boost::asio;

export namespace keel {

class Engine;

}  // namespace keel

// Not exported.
namespace keel {

/// Whether T, without const and reference, is a Query.
template <class T>
inline constexpr bool is_query_v = Query<std::remove_cvref_t<T>>;

}  // namespace keel

export namespace keel {

/// An atomic run: queries queued, then run in one transaction, all or nothing (see Engine::atomic).
/// A handle: copies share one queue, which each run takes and leaves empty.
class Atomic {
public:
  /// An empty queue on `engine`; Engine::atomic() makes one.
  explicit Atomic(Engine& engine);

  /// Returns the handle (sharing this queue), so that the result of add can be awaited directly.
  template <class... Queries>
  Atomic add(Queries&&... queries) {
    static_assert((is_query_v<Queries> && ...),
                  "keel::Atomic::add takes queries only: keel::raw(...) or an ORM query, each with "
                  "statement(Dialect), collector() and a result_type");
    if constexpr ((is_query_v<Queries> && ...)) {  // only the message above, no cascade of errors after it
      (state_->queue.push_back(queries.statement(state_->dialect)), ...);
    }
    return *this;
  }

  /// The number of statements queued.
  std::size_t size() const noexcept { return state_->queue.size(); }

  /// Runs the queued queries in one transaction (joining the one in scope, if any). The queue is empty
  /// afterwards, whether the run succeeded or not.
  asio::awaitable<void> run() { return run_queue(state_); }  // the coroutine holds the state, not `this`
  /// run() to completion on the calling thread's private event loop.
  void run_sync();

  /// Makes the atomic an Asio asynchronous operation: `co_await atomic` runs it, and so does any other
  /// completion token (a callback taking std::exception_ptr, asio::use_future, ...).
  template <asio::completion_token_for<void(std::exception_ptr)> CompletionToken>
  auto operator()(CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::exception_ptr)>(
        [](auto handler, Atomic atomic) {
          auto executor = asio::get_associated_executor(handler);
          asio::co_spawn(executor, atomic.run(), std::move(handler));
        },
        token, *this);
  }

private:
  struct State {
    Engine* engine;
    Dialect dialect;
    std::vector<Statement> queue;
  };
  static asio::awaitable<void> run_queue(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace keel
