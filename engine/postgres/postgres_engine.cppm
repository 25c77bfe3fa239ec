// A first PostgreSQL engine: keel's Engine interface over PgConnection, so that keel's queries (the ORM's
// included) run on PostgreSQL. Connections live on the engine's own event-loop thread; callers on any
// executor await their work there, as the SQLite engine's callers await its workers. Its pool is simple
// (a maximum, waiters, an acquire timeout, rollback on release); asyncpg's full pool comes with issue 4.
module;
#include "spawn.hpp"
#include <boost/asio/async_result.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/detached.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>
export module keel.postgres:engine;
import keel.engine;
import :connect_options;
import :connection;

namespace asio = boost::asio;

export namespace keel {

struct PostgresOptions {
  std::string dsn;                                     // a URI or key=value string; PG* variables fill the rest
  std::size_t max_connections = 10;
  std::chrono::milliseconds acquire_timeout{30000};
  pg::PgConnectionOptions connection;                  // the statement cache's settings
};

class PostgresEngine;

namespace pg_engine_detail {

// Runs `work` (a function returning an awaitable) on the engine's thread, and resumes the caller on its own
// executor. The result travels through a slot.
template <class F>
auto on(asio::io_context& context, F work) -> asio::awaitable<typename std::invoke_result_t<F&>::value_type> {
  using T = typename std::invoke_result_t<F&>::value_type;
  auto slot = std::make_shared<std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>>();
  co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr)>(
      [&context, slot, work](auto handler) mutable {
        auto home = asio::prefer(asio::get_associated_executor(handler), asio::execution::outstanding_work.tracked);
        auto shared_handler = std::make_shared<decltype(handler)>(std::move(handler));
        keel_postgres_spawn::spawn_on(
            context,
            [slot, work]() mutable -> asio::awaitable<void> {
              if constexpr (std::is_void_v<T>) co_await work();
              else slot->emplace(co_await work());
            },
            [shared_handler, home](std::exception_ptr failure) {
              asio::post(home, [shared_handler, failure]() { std::move(*shared_handler)(failure); });
            });
      },
      asio::use_awaitable);
  if constexpr (!std::is_void_v<T>) co_return std::move(**slot);
}

class EngineCursor final : public Cursor {
public:
  EngineCursor(asio::io_context& context, pg::PgConnection& connection, std::string name)
      : context_(context), connection_(connection), name_(std::move(name)) {}
  asio::awaitable<std::size_t> fetch(std::size_t max_rows, RowSink& sink) override {
    const std::string sql = "FETCH FORWARD " + std::to_string(max_rows) + " FROM " + name_;
    const ExecResult result = co_await on(context_, [&]() { return connection_.query(sql, {}, &sink); });
    co_return static_cast<std::size_t>(result.rows_affected);
  }

private:
  asio::io_context& context_;
  pg::PgConnection& connection_;
  std::string name_;
};

class EngineConnection final : public Connection {
public:
  EngineConnection(asio::io_context& context, std::unique_ptr<pg::PgConnection> connection)
      : context_(context), connection_(std::move(connection)) {}

  Dialect dialect() const override { return Dialect::postgres; }

  asio::awaitable<ExecResult> execute(const Statement& statement, RowSink* sink) override {
    co_return co_await on(context_, [&]() -> asio::awaitable<ExecResult> {
      try {
        co_return co_await connection_->query(statement.sql(), statement.params(), sink);
      } catch (const SyntaxError& e) {
        // A script of several statements cannot be prepared; without values it runs on the simple protocol.
        if (!statement.params().empty() || !e.server_message().starts_with("cannot insert multiple commands")) throw;
      }
      co_await connection_->execute(statement.sql());
      co_return ExecResult{};
    });
  }
  asio::awaitable<void> begin(const TransactionOptions& options) override {
    co_await on(context_, [&]() { return connection_->begin(options); });
  }
  asio::awaitable<void> commit() override {
    co_await on(context_, [&]() { return connection_->commit(); });
  }
  asio::awaitable<void> rollback() override {
    co_await on(context_, [&]() { return connection_->rollback(); });
  }
  // A server-side cursor: DECLARE inside the transaction, FETCH FORWARD n per batch.
  asio::awaitable<std::unique_ptr<Cursor>> open_cursor(Statement statement) override {
    const std::string name = "keel_cursor_" + std::to_string(++cursors_);
    const Statement declare(std::string("DECLARE ") + name + " NO SCROLL CURSOR FOR " + std::string(statement.sql()),
                            statement.params());
    co_await execute(declare, nullptr);
    co_return std::make_unique<EngineCursor>(context_, *connection_, name);
  }

  pg::PgConnection& pg() noexcept { return *connection_; }

private:
  asio::io_context& context_;
  std::unique_ptr<pg::PgConnection> connection_;
  std::uint64_t cursors_ = 0;
};

}  // namespace pg_engine_detail

class PostgresEngine final : public Engine, private ConnectionOwner {
public:
  explicit PostgresEngine(std::string dsn) : PostgresEngine(PostgresOptions{std::move(dsn)}) {}
  explicit PostgresEngine(PostgresOptions options)
      : options_(std::move(options)), connect_options_(pg::parse_dsn(options_.dsn)), thread_([this] { context_.run(); }) {}

  ~PostgresEngine() override {
    asio::post(context_, [this] {
      closed_ = true;
      for (auto* c : idle_) delete c;
      idle_.clear();
      work_.reset();
    });
    thread_.join();
  }

  Dialect dialect() const override { return Dialect::postgres; }

  asio::awaitable<std::string> version() override {
    ConnectionLease lease = co_await acquire();
    co_return static_cast<pg_engine_detail::EngineConnection&>(*lease).pg().server_version();
  }

  asio::awaitable<void> close() override {
    co_await pg_engine_detail::on(context_, [this]() -> asio::awaitable<void> {
      closed_ = true;
      for (auto* c : idle_) {
        co_await c->pg().close();
        delete c;
        --open_;
      }
      idle_.clear();
      for (auto* w : waiters_) w->cancel();
    });
  }

  asio::awaitable<ConnectionLease> acquire() override {
    auto* connection = co_await pg_engine_detail::on(context_, [this]() { return acquire_here(); });
    co_return ConnectionLease(connection, ReturnToOwner{this});
  }

private:
  asio::awaitable<pg_engine_detail::EngineConnection*> acquire_here() {
    const auto deadline = std::chrono::steady_clock::now() + options_.acquire_timeout;
    while (true) {
      if (closed_) throw ConnectionError("the PostgreSQL engine is closed");
      if (!idle_.empty()) {
        auto* c = idle_.back();
        idle_.pop_back();
        co_return c;
      }
      if (open_ < options_.max_connections) {
        ++open_;
        try {
          auto connection = co_await pg::PgConnection::connect(connect_options_, options_.connection);
          co_return new pg_engine_detail::EngineConnection(context_, std::move(connection));
        } catch (...) {
          --open_;
          throw;
        }
      }
      asio::steady_timer timer(context_, deadline);
      waiters_.push_back(&timer);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      waiters_.remove(&timer);
      if (!ec)
        throw TimeoutError("no PostgreSQL connection became free within " +
                           std::to_string(options_.acquire_timeout.count()) + " ms (max_connections " +
                           std::to_string(options_.max_connections) + ")");
    }
  }

  // A connection coming back: rolled back if a transaction is open, dropped if it is broken, then handed to
  // a waiter.
  void release(Connection* connection) noexcept override {
    auto* c = static_cast<pg_engine_detail::EngineConnection*>(connection);
    keel_postgres_spawn::spawn_on(context_, [this, c]() -> asio::awaitable<void> {
      bool usable = !c->pg().is_closed() && !closed_;
      if (usable && c->pg().is_in_transaction()) {
        try {
          co_await c->pg().rollback();
        } catch (...) {
          usable = false;
        }
      }
      if (usable) idle_.push_back(c);
      else {
        delete c;
        --open_;
      }
      if (!waiters_.empty()) waiters_.front()->cancel();
    }, [](std::exception_ptr) {});
  }

  PostgresOptions options_;
  pg::ConnectOptions connect_options_;
  asio::io_context context_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{context_.get_executor()};
  std::vector<pg_engine_detail::EngineConnection*> idle_;
  std::list<asio::steady_timer*> waiters_;
  std::size_t open_ = 0;
  bool closed_ = false;
  std::thread thread_;
};

}  // namespace keel
