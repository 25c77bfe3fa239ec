// Atomic runs: queue queries, then run them all in one transaction, all or nothing.
//   auto atomic = engine.atomic();
//   atomic.add(q1, q2);
//   co_await atomic;            // or co_await atomic.run(), or atomic.run_sync()
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
import :dialect;
import :statement;

namespace asio = boost::asio;

export namespace keel {

class Engine;

template <class T>
inline constexpr bool is_query_v = Query<std::remove_cvref_t<T>>;

// A handle: copies share one queue, which each run takes and leaves empty.
class Atomic {
public:
  explicit Atomic(Engine& engine);

  template <class... Queries>
  Atomic& add(Queries&&... queries) {
    static_assert((is_query_v<Queries> && ...),
                  "keel::Atomic::add takes queries only: keel::raw(...) or an ORM query, each with "
                  "statement(Dialect), collector() and a result_type");
    (state_->queue.push_back(queries.statement(state_->dialect)), ...);
    return *this;
  }

  std::size_t size() const noexcept { return state_->queue.size(); }

  // Runs the queued queries in one transaction (joining the one in scope, if any). The queue is empty
  // afterwards, whether the run succeeded or not.
  asio::awaitable<void> run();
  void run_sync();

  // Makes the atomic an Asio asynchronous operation: `co_await atomic` runs it, and so does any other
  // completion token (a callback taking std::exception_ptr, asio::use_future, ...).
  template <class CompletionToken>
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
  std::shared_ptr<State> state_;
};

}  // namespace keel
