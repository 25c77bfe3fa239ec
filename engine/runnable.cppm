// The base of every query: .run() on the transaction in scope (else the default engine), .run(runner) on an
// engine or a transaction, and their sync forms. RawQuery and each ORM query derive from it.
module;
#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <functional>
#include <memory>
#include <utility>
export module keel.engine:runnable;
import keel.core;
import :statement_runner;
import :sync;
import :transaction;

namespace asio = boost::asio;

export namespace keel {

/// Runs a statement on the context's runner (the transaction in scope, else the default engine), made by
/// `make_statement` in that runner's dialect, its rows through `collector`. One coroutine per collector type, as
/// run_collected; the query waits in `make_statement` until the runner is known.
template <class Collector>
asio::awaitable<collected_t<Collector>> run_collected_on_context(std::function<Statement(Dialect)> make_statement,
                                                                 Collector collector) {
  const std::shared_ptr<StatementRunner> runner = runner_for(co_await asio::this_coro::executor);
  co_return co_await run_collected(*runner, make_statement(runner->dialect()), std::move(collector));
}

/// .run() on the context (transaction in scope, else the default engine), .run(runner) on an engine or a
/// transaction, and the sync forms, for any query type that derives from it.
template <class Derived>
class Runnable {
public:
  /// Runs the query on the transaction in scope, else on the default engine.
  /// Copies the query, so that the awaitable does not depend on the query object's life.
  template <class D = Derived>
  asio::awaitable<typename D::result_type> run() const {
    return run_on_context(self());
  }
  /// Runs the query on `runner`: an engine or a transaction.
  template <class D = Derived>
  asio::awaitable<typename D::result_type> run(StatementRunner& runner) const {
    return run_query(runner, self());
  }
  /// run() to completion on the calling thread's private event loop (see keel::run_sync).
  template <class D = Derived>
  typename D::result_type run_sync() const {
    return keel::run_sync(run());
  }
  /// run(runner) to completion on the calling thread's private event loop.
  template <class D = Derived>
  typename D::result_type run_sync(StatementRunner& runner) const {
    return keel::run_sync(run(runner));
  }

protected:
  /// run() of `query`, for a query type that runs some of its forms its own way.
  template <class D>
  static asio::awaitable<typename D::result_type> run_on_context(const D& query) {
    return run_collected_on_context([query](Dialect dialect) { return query.statement(dialect); }, query.collector());
  }

private:
  const Derived& self() const { return static_cast<const Derived&>(*this); }
};

}  // namespace keel
