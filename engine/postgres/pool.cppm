// A pool of PostgreSQL connections, as asyncpg's create_pool: min_size connections opened up front, up to
// max_size on demand, hooks on new connections (init), on each acquire (setup) and on each release (reset),
// connections retired after max_queries or when idle for max_inactive_connection_lifetime, and a graceful
// close. A broken connection is dropped, never handed out again; idle connections watch their socket, so
// that after a server restart the pool opens fresh ones.
module;
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include "../spawn.hpp"
export module keel.postgres:pool;
import keel.engine;
import :connect_options;
import :call_options;
import :calls;
import :connection;
import :pipeline;
import :record;

namespace asio = boost::asio;

export namespace keel::pg {

/// How a Pool sizes, replaces and prepares its connections (asyncpg's create_pool arguments).
struct PoolOptions {
  std::size_t min_size = 10;          ///< opened by create_pool, and kept open (unless idle too long)
  std::size_t max_size = 10;          ///< connections open at most, lent or idle
  std::uint64_t max_queries = 50000;  ///< a connection is replaced after this many queries
  /// An idle connection is closed after this long; zero keeps them forever.
  std::chrono::steady_clock::duration max_inactive_connection_lifetime = std::chrono::seconds(300);
  /// How long acquire waits for a free connection, unless it is given a timeout of its own; zero is no limit.
  std::chrono::steady_clock::duration acquire_timeout{};
  /// A hook, run on one of the pool's connections.
  using Hook = std::function<asio::awaitable<void>(PgConnection&)>;
  Hook init;   ///< once per new connection (set_type_codec, SET ...)
  Hook setup;  ///< on every acquire
  Hook
      reset;  ///< on every release; by default PgConnection::reset (rollback, CLOSE ALL, UNLISTEN *, unlock, RESET ALL)
  /// true: idle connections read their sockets and time out on timers, so a server restart is noticed at once,
  /// and the pool keeps its event loop running (io_context::run does not return) until close().
  /// false: the pool leaves nothing pending on its loop; an idle connection is checked when it is lent (a
  /// non-blocking peek at its socket: the server ended it, or it idled too long, and another is lent).
  bool watch_idle = true;
  PgConnectionOptions connection;  ///< the statement cache's settings, command_timeout
};

class Pool;

/// A connection lent by the pool; it goes back on release(), or when the handle is destroyed.
class PooledConnection {
public:
  /// An empty handle.
  PooledConnection() = default;
  /// Takes over `other`'s connection, leaving it empty.
  PooledConnection(PooledConnection&& other) noexcept
      : pool_(std::move(other.pool_)), connection_(std::exchange(other.connection_, nullptr)) {}
  /// Gives this handle's connection back, then takes over `other`'s.
  PooledConnection& operator=(PooledConnection&& other) noexcept {
    if (this != &other) {
      give_back();
      pool_ = std::move(other.pool_);
      connection_ = std::exchange(other.connection_, nullptr);
    }
    return *this;
  }
  /// Gives the connection back to its pool.
  ~PooledConnection() { give_back(); }

  /// The connection; throws MisuseError once it was released.
  PgConnection* operator->() const { return &get(); }
  /// The connection; throws MisuseError once it was released.
  PgConnection& operator*() const { return get(); }
  /// The connection; throws MisuseError once it was released.
  PgConnection& get() const {
    if (!connection_) throw MisuseError("this pooled connection was released");
    return *connection_;
  }
  /// Whether the handle holds a connection.
  explicit operator bool() const noexcept { return connection_ != nullptr; }

private:
  friend class Pool;
  struct State;
  PooledConnection(std::shared_ptr<State> pool, PgConnection* connection)
      : pool_(std::move(pool)), connection_(connection) {}
  void give_back() noexcept;

  std::shared_ptr<State> pool_;
  PgConnection* connection_ = nullptr;
};

}  // namespace keel::pg

// Not exported: one connection the pool owns, with what the pool knows of it.
namespace keel::pg {
struct PoolSlot {
  std::unique_ptr<PgConnection> connection;
  std::uint64_t generation = 0;  // expire_connections retires older generations
  std::unique_ptr<asio::steady_timer> inactivity;
  std::chrono::steady_clock::time_point idle_since;  // when it came back (for pools that do not watch)
};
}  // namespace keel::pg

export namespace keel::pg {

struct PooledConnection::State : std::enable_shared_from_this<PooledConnection::State> {
  State(asio::any_io_executor executor, ConnectOptions connect, PoolOptions options)
      : executor(std::move(executor)), connect_options(std::move(connect)), options(std::move(options)) {}

  asio::any_io_executor executor;
  ConnectOptions connect_options;
  PoolOptions options;
  std::deque<std::unique_ptr<PoolSlot>> idle;  // most recently released at the back
  std::vector<std::unique_ptr<PoolSlot>> lent;
  std::size_t opening = 0;         // connections being opened now
  std::size_t returning = 0;       // connections being reset on their way back
  std::size_t refilling = 0;       // replacements being opened by refill()
  bool replacements_owed = false;  // a replacement failed to open: the next acquire starts another
  std::uint64_t generation = 0;
  bool closing = false, closed = false;
  Waiters available;  // acquirers waiting for a connection; close() waiting for the lent ones

  std::size_t size() const noexcept { return idle.size() + lent.size() + opening + returning + refilling; }

  // Keeps min_size connections open where idle connections are watched: one retired because it broke or was
  // used up (not one idle too long) is replaced in the background (connect_timeout bounds it, when set). One that
  // cannot be opened now (the server is away) is tried again at the next acquire. A pool that
  // leaves nothing pending on its loop (watch_idle off, as the engine's) opens on demand only. close() does not
  // wait for replacements: one that opens after it is closed again.
  void refill() {
    if (!options.watch_idle) return;
    while (!closing && !closed && size() < options.min_size) {
      ++refilling;
      keel_spawn::spawn_detached(executor, [self = shared_from_this()]() -> asio::awaitable<void> {
        struct Settled {
          State& state;
          ~Settled() {
            --state.refilling;
            state.available.notify_all();
          }
        } settled{*self};
        if (self->closing || self->closed) co_return;
        std::unique_ptr<PoolSlot> slot;
        try {
          slot = co_await self->open(std::nullopt, false);
        } catch (...) {
          self->replacements_owed = true;  // the next acquire tries again
          co_return;
        }
        if (self->closing || self->closed)
          co_await self->retire(std::move(slot));
        else
          self->make_idle(std::move(slot));
      });
    }
  }

  // Returns a lent connection: reset, then idle again, or closed when it is broken, used up or expired.
  asio::awaitable<void> take_back(PgConnection* connection) {
    std::unique_ptr<PoolSlot> slot;
    for (auto it = lent.begin(); it != lent.end(); ++it)
      if ((*it)->connection.get() == connection) {
        slot = std::move(*it);
        lent.erase(it);
        break;
      }
    if (!slot) co_return;  // not ours, or given back already
    bool keep = !connection->is_closed() && !closed && slot->generation == generation &&
                (options.max_queries == 0 || connection->queries_run() < options.max_queries);
    if (keep) {
      std::exception_ptr failure;
      ++returning;  // still counted while it is reset, so that nobody opens one in its place
      try {
        if (options.reset)
          co_await options.reset(*connection);
        else
          co_await connection->reset();
      } catch (...) {
        failure = std::current_exception();
      }
      --returning;
      keep = !failure && !connection->is_closed() && !closed;
    }
    if (keep) {
      make_idle(std::move(slot));
      co_await retire_expired();
    } else {
      co_await retire(std::move(slot));
      refill();
    }
    available.notify_all();
  }

  asio::awaitable<void> retire(std::unique_ptr<PoolSlot> slot) {
    if (slot->inactivity) slot->inactivity->cancel();
    if (slot->connection && !slot->connection->is_closed()) {
      try {
        co_await slot->connection->close();
      } catch (...) {}
    }
  }

  void make_idle(std::unique_ptr<PoolSlot> slot) {
    if (options.watch_idle) {
      slot->connection->watch_while_idle(true);
      arm_inactivity(*slot);
    } else {
      slot->idle_since = std::chrono::steady_clock::now();
    }
    idle.push_back(std::move(slot));
  }

  // Without watchers, connections idle too long are closed when another comes back (the oldest are in front).
  asio::awaitable<void> retire_expired() {
    const auto lifetime = options.max_inactive_connection_lifetime;
    if (options.watch_idle || lifetime.count() <= 0) co_return;
    const auto now = std::chrono::steady_clock::now();
    while (!idle.empty() && now - idle.front()->idle_since > lifetime) {
      auto expired = std::move(idle.front());
      idle.pop_front();
      co_await retire(std::move(expired));
    }
  }

  // Whether an idle connection may be lent: not broken (seen by its watcher, or by a peek), not expired. A
  // watched connection is peeked at too: the server may have ended it a moment ago, its watcher not yet run.
  bool still_good(PoolSlot& slot) {
    if (slot.connection->is_closed() || slot.generation != generation) return false;
    const auto lifetime = options.max_inactive_connection_lifetime;
    if (!options.watch_idle && lifetime.count() > 0 && std::chrono::steady_clock::now() - slot.idle_since > lifetime)
      return false;
    return slot.connection->is_quiet();
  }

  // Closes the connection when it has stayed idle too long (asyncpg's max_inactive_connection_lifetime).
  void arm_inactivity(PoolSlot& slot) {
    if (options.max_inactive_connection_lifetime.count() <= 0) return;
    if (!slot.inactivity) slot.inactivity = std::make_unique<asio::steady_timer>(executor);
    slot.inactivity->expires_after(options.max_inactive_connection_lifetime);
    slot.inactivity->async_wait([weak = weak_from_this(), target = &slot](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      for (auto it = self->idle.begin(); it != self->idle.end(); ++it)
        if (it->get() == target) {
          std::shared_ptr<PoolSlot> expired(std::move(*it));
          self->idle.erase(it);
          keel_spawn::spawn_detached(self->executor, [self, expired]() -> asio::awaitable<void> {
            if (expired->connection && !expired->connection->is_closed()) co_await expired->connection->close();
          });
          self->available.notify_all();
          return;
        }
    });
  }

  // `counted`: the opening counts in `opening` (an acquire's, which close() waits for), not in `refilling`.
  asio::awaitable<std::unique_ptr<PoolSlot>> open(
      std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt, bool counted = true) {
    if (counted) ++opening;
    std::exception_ptr failure;
    auto slot = std::make_unique<PoolSlot>();
    slot->generation = generation;
    try {
      slot->connection = co_await PgConnection::connect(connect_options, options.connection, deadline);
      if (options.init) co_await options.init(*slot->connection);
    } catch (...) {
      failure = std::current_exception();
    }
    if (counted) --opening;
    if (failure) {
      if (slot->connection) slot->connection->terminate();
      available.notify_all();  // a place is free again
      std::rethrow_exception(failure);
    }
    co_return slot;
  }
};

inline void PooledConnection::give_back() noexcept {
  if (!pool_ || !connection_) return;
  try {
    keel_spawn::spawn_detached(pool_->executor,
                               [pool = pool_, connection = connection_]() { return pool->take_back(connection); });
  } catch (...) {}
  connection_ = nullptr;
  pool_.reset();
}

/// A pool of PostgreSQL connections, as asyncpg's: min_size opened up front, up to max_size on demand, hooks,
/// connections replaced after max_queries or an idle lifetime, and a graceful close.
class Pool {
public:
  /// asyncpg's create_pool: opens min_size connections (all must succeed) on the caller's executor.
  static asio::awaitable<std::unique_ptr<Pool>> create(std::string_view dsn, PoolOptions options = {}) {
    co_return co_await create(parse_dsn(dsn), std::move(options));
  }
  /// create(dsn, options) from connection options already read.
  static asio::awaitable<std::unique_ptr<Pool>> create(ConnectOptions connect, PoolOptions options = {}) {
    co_return co_await create(co_await asio::this_coro::executor, std::move(connect), std::move(options));
  }
  /// On the executor given: the pool's connections, timers and background work live there.
  static asio::awaitable<std::unique_ptr<Pool>> create(asio::any_io_executor executor, ConnectOptions connect,
                                                       PoolOptions options) {
    if (options.max_size == 0) throw MisuseError("a pool's max_size must be at least 1");
    if (options.min_size > options.max_size) throw MisuseError("a pool's min_size must not exceed its max_size");
    auto pool = std::unique_ptr<Pool>(
        new Pool(std::make_shared<PooledConnection::State>(executor, std::move(connect), std::move(options))));
    auto& state = *pool->state_;
    std::exception_ptr failure;
    try {
      for (std::size_t i = 0; i < state.options.min_size; ++i) state.make_idle(co_await state.open());
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      pool->terminate();
      std::rethrow_exception(failure);
    }
    co_return pool;
  }

  /// Closes every connection at once, as terminate() does; close() first for a graceful end.
  ~Pool() { terminate(); }

  /// A connection: an idle one (the most recently used), else a new one while the pool is below max_size,
  /// else the first to come back. Past the timeout (the argument, or acquire_timeout), TimeoutError.
  asio::awaitable<PooledConnection> acquire(std::optional<std::chrono::steady_clock::duration> timeout = std::nullopt) {
    auto& state = *state_;
    const auto limit = timeout ? *timeout : state.options.acquire_timeout;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    if (std::exchange(state.replacements_owed, false)) state.refill();  // the server was away; it may be back
    while (true) {
      if (state.closing || state.closed) throw ConnectionError("the pool is closed");
      std::unique_ptr<PoolSlot> slot;
      if (!state.idle.empty()) {
        slot = std::move(state.idle.back());
        state.idle.pop_back();
        if (slot->inactivity) slot->inactivity->cancel();
        if (!state.still_good(*slot)) {
          co_await state.retire(std::move(slot));  // broken while idle (a server restart), or expired
          state.refill();
          continue;
        }
      } else if (state.size() < state.options.max_size) {
        // Opening counts against the acquire timeout: a silent or slow server cannot hold the caller past it.
        try {
          slot = co_await state.open(limit.count() > 0 ? std::optional(deadline) : std::nullopt);
        } catch (const TimeoutError&) {
          if (limit.count() > 0 && std::chrono::steady_clock::now() >= deadline)
            throw TimeoutError("no connection within the acquire timeout: opening a new one took longer");
          throw;
        }
      } else {
        if (limit.count() > 0 && std::chrono::steady_clock::now() >= deadline)
          throw TimeoutError("no connection became free in the pool within the acquire timeout (max_size " +
                             std::to_string(state.options.max_size) + ")");
        co_await wait_for_change(limit.count() > 0 ? std::optional(deadline) : std::nullopt);
        // The caller's Asio cancellation ends the wait with a keel error, not the next operation's system_error.
        // (A caller cleaning up after its cancellation, with throw_if_cancelled off, waits on.)
        if (Pipeline::stops(co_await asio::this_coro::cancellation_state,
                            co_await asio::this_coro::throw_if_cancelled()))
          throw CanceledError("the wait for a free connection in the pool was cancelled");
        continue;
      }
      PgConnection* connection = slot->connection.get();
      connection->watch_while_idle(false);
      state.lent.push_back(std::move(slot));
      PooledConnection lent(state_, connection);
      if (state.options.setup) {
        std::exception_ptr failure;
        try {
          co_await state.options.setup(*connection);
        } catch (...) {
          failure = std::current_exception();
        }
        if (failure) {
          co_await release(std::move(lent));
          std::rethrow_exception(failure);
        }
      }
      co_return lent;
    }
  }

  /// Gives a connection back (reset runs first); the handle is empty afterwards.
  asio::awaitable<void> release(PooledConnection connection) {
    if (!connection.connection_) co_return;
    PgConnection* raw = std::exchange(connection.connection_, nullptr);
    connection.pool_.reset();
    co_await state_->take_back(raw);
  }

  /// asyncpg's pool.fetch, fetchrow, fetchval and execute: on a connection acquired for the call.
  template <class... Args>
  asio::awaitable<std::vector<Record>> fetch(std::string_view sql, const Args&... args) {
    return on_acquired([sql, &args...](PgConnection& c) { return c.fetch(sql, args...); });
  }
  /// fetchrow on a connection acquired for the call.
  template <class... Args>
  asio::awaitable<std::optional<Record>> fetchrow(std::string_view sql, const Args&... args) {
    return on_acquired([sql, &args...](PgConnection& c) { return c.fetchrow(sql, args...); });
  }
  /// fetchval on a connection acquired for the call.
  template <class T, class... Args>
  asio::awaitable<T> fetchval(std::string_view sql, const Args&... args) {
    return on_acquired([sql, &args...](PgConnection& c) { return c.template fetchval<T>(sql, args...); });
  }
  /// execute on a connection acquired for the call.
  template <class... Args>
  asio::awaitable<std::string> execute(std::string_view sql, const Args&... args) {
    return on_acquired([sql, &args...](PgConnection& c) { return c.execute(sql, args...); });
  }

  /// Retires every connection open now: idle ones at once, lent ones when they come back. New ones are opened
  /// as needed (after a change of server settings, or of the DSN's server).
  asio::awaitable<void> expire_connections() {
    auto& state = *state_;
    ++state.generation;
    auto idle = std::move(state.idle);
    state.idle.clear();
    for (auto& slot : idle) co_await state.retire(std::move(slot));
    state.available.notify_all();
  }

  /// The connections open now, lent or idle (with those being opened or reset).
  std::size_t get_size() const noexcept { return state_->size(); }
  /// The idle connections.
  std::size_t get_idle_size() const noexcept { return state_->idle.size(); }
  /// PoolOptions::min_size.
  std::size_t get_min_size() const noexcept { return state_->options.min_size; }
  /// PoolOptions::max_size.
  std::size_t get_max_size() const noexcept { return state_->options.max_size; }
  /// Whether close() or terminate() was called.
  bool is_closing() const noexcept { return state_->closing || state_->closed; }

  /// Graceful: no new acquires; waits for every lent connection to come back, then closes them all.
  asio::awaitable<void> close() {
    auto& state = *state_;
    if (state.closed) co_return;
    state.closing = true;
    state.available.notify_all();  // acquirers waiting fail now
    while (!state.lent.empty() || state.opening > 0 || state.returning > 0)
      co_await state.available.wait(state.executor);
    state.closed = true;
    auto idle = std::move(state.idle);
    state.idle.clear();
    for (auto& slot : idle) co_await state.retire(std::move(slot));
  }
  /// At once: every connection, lent or idle, is closed; their users' calls fail with ConnectionError.
  void terminate() noexcept {
    auto& state = *state_;
    state.closing = state.closed = true;
    for (auto& slot : state.idle) {
      if (slot->inactivity) slot->inactivity->cancel();
      slot->connection->terminate();
    }
    state.idle.clear();
    for (auto& slot : state.lent) slot->connection->terminate();
    state.available.notify_all();
  }

private:
  // `call` on a connection acquired for it. A caller cancelled while its connection came goes on to a co_await
  // that throws Asio's operation_aborted: that is said as keel's CanceledError. (Once its statement is sent, the
  // connection says what a cancellation did.)
  template <class Call>
  std::invoke_result_t<Call&, PgConnection&> on_acquired(Call call) {
    const asio::cancellation_state cancellation = co_await asio::this_coro::cancellation_state;
    try {
      auto connection = co_await acquire();
      co_return co_await call(*connection);
    } catch (const boost::system::system_error& e) {
      if (e.code() != asio::error::operation_aborted || cancellation.cancelled() == asio::cancellation_type::none)
        throw;
    }
    throw CanceledError("the call was cancelled as its connection came from the pool; its statement was not sent");
  }

  explicit Pool(std::shared_ptr<PooledConnection::State> state) : state_(std::move(state)) {}

  asio::awaitable<void> wait_for_change(std::optional<std::chrono::steady_clock::time_point> deadline) {
    if (!deadline) {
      co_await state_->available.wait(state_->executor);
      co_return;
    }
    // Wake at the deadline too: a timer that notifies the waiters.
    asio::steady_timer alarm(state_->executor, *deadline);
    alarm.async_wait([weak = std::weak_ptr(state_)](const boost::system::error_code& ec) {
      if (auto state = weak.lock(); state && !ec) state->available.notify_all();
    });
    co_await state_->available.wait(state_->executor);
    alarm.cancel();
  }

  std::shared_ptr<PooledConnection::State> state_;
};

}  // namespace keel::pg
