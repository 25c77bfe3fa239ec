// The SQLite engine's connections: opened on demand up to max_connections, lent one borrower at a time,
// reset (an open transaction rolled back) when they come back, and waited for up to acquire_timeout.
module;
#include <sqlite3.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>
export module keel.sqlite:pool;
import keel.engine;
import :blocking;
import :connection;
import :options;

namespace asio = boost::asio;

namespace keel::sqlite_detail {

class SqlitePool final : public ConnectionOwner {
public:
  // checkpoint_here: a checkpoint runs where the connection comes back, for a database in memory, where it only
  // copies pages (no disk write, no sync): less than handing it to a worker and waking the borrowers after.
  SqlitePool(SqliteOptions options, std::string uri, asio::thread_pool& workers, bool checkpoint_here = false)
      : options_(std::move(options)), uri_(std::move(uri)), workers_(workers), checkpoint_here_(checkpoint_here) {}

  asio::awaitable<ConnectionLease> acquire() {
    const asio::any_io_executor executor = co_await asio::this_coro::executor;
    const asio::cancellation_state cancellation = co_await asio::this_coro::cancellation_state;
    const bool throws_if_cancelled = co_await asio::this_coro::throw_if_cancelled();
    const auto deadline = std::chrono::steady_clock::now() + options_.acquire_timeout;
    // One waiter for the whole wait: a borrower woken to look for room that finds none keeps its turn.
    std::shared_ptr<Waiter> waiter;
    for (;;) {
      bool opens = false;
      {
        std::lock_guard lock(mutex_);
        ensure_open();
        // Looking again, it stayed queued: a connection given back meanwhile may have been handed to it.
        if (waiter && waiter->handed) co_return lease(std::exchange(waiter->handed, nullptr));
        if (!idle_.empty() || has_room()) {
          leave_queue(waiter);
          if (!idle_.empty()) {
            SqliteConnection* connection = idle_.back();
            idle_.pop_back();
            co_return lease(connection);
          }
          ++opening_;
          opens = true;
        } else if (!waiter) {
          waiter = std::make_shared<Waiter>(executor, this, alive_);
          waiters_.push_back(waiter);
          waiter->queued = true;
        } else if (!waiter->queued) {
          // Sent to open a connection after a failed open (it was first), it found the room taken: first again.
          waiters_.push_front(waiter);
          waiter->queued = true;
        }
      }
      if (opens) co_return co_await open_connection();

      waiter->timer.expires_at(deadline);
      boost::system::error_code woken;
      co_await waiter->timer.async_wait(asio::redirect_error(asio::use_awaitable, woken));
      const bool cancelled = cancellation.cancelled() != asio::cancellation_type::none;
      SqliteConnection* handed = nullptr;
      std::shared_ptr<Waiter> next;
      bool timed_out = false;
      {
        std::lock_guard lock(mutex_);
        handed = std::exchange(waiter->handed, nullptr);  // claimed: the waiter's destructor leaves it alone
        if (handed && !(cancelled && throws_if_cancelled)) co_return lease(handed);
        if (!handed) {
          ensure_open();
          // The caller's Asio cancellation ends the wait with CanceledError, not a timeout. (A caller cleaning up
          // after its cancellation, with throw_if_cancelled off, waits on, in its turn.)
          if (woken == asio::error::operation_aborted && cancelled) {
            if (!throws_if_cancelled) continue;
          } else {
            // Woken without a connection, after a failed open or the checkpoints: there may be room for a new one
            // now. (recheck stays set: a wake meant for an earlier look may still come, and means the same.)
            if (waiter->recheck && std::chrono::steady_clock::now() < deadline) continue;
            timed_out = true;
          }
        }
        leave_queue(waiter);
        next = pass_on_room();
      }
      // Handed a connection as its caller was cancelled: taken, the caller's next co_await would throw Asio's
      // operation_aborted instead of CanceledError. The connection goes to the next borrower.
      if (handed) put_back(handed);
      wake(std::move(next));
      if (!timed_out) throw CanceledError("the wait for a free SQLite connection was cancelled");
      throw TimeoutError("no SQLite connection became free within " + std::to_string(options_.acquire_timeout.count()) +
                         " ms (max_connections = " + std::to_string(options_.max_connections) + ")");
    }
  }

  // An idle connection at once, or an empty lease.
  ConnectionLease try_acquire() {
    std::lock_guard lock(mutex_);
    if (closed_ || idle_.empty()) return {};
    SqliteConnection* connection = idle_.back();
    idle_.pop_back();
    return lease(connection);
  }

  bool gives_back_at_once() const noexcept override { return true; }

  // Called when a lease ends, on the thread where it ends: the borrower is done with the connection, so its
  // reset (a ROLLBACK if a transaction was left open) runs right here.
  void release(Connection* returned) noexcept override {
    auto* connection = static_cast<SqliteConnection*>(returned);
    connection->reset_for_reuse();
    if (connection->checkpoint_due() && checkpoint_here_) {
      connection->checkpoint();
    } else if (connection->checkpoint_due()) {
      // Off the caller's thread: the connection is back when its checkpoint is done.
      {
        std::lock_guard lock(mutex_);
        ++checkpointing_;
      }
      asio::post(workers_, [this, connection] {
        connection->checkpoint();
        put_back(connection);
        // The borrowers that waited for a checkpoint and did not get this connection look again: they may open one.
        std::vector<std::shared_ptr<Waiter>> others;
        {
          std::lock_guard lock(mutex_);
          if (--checkpointing_ == 0) {
            for (auto& waiter : waiters_) waiter->recheck = true;
            others.assign(waiters_.begin(), waiters_.end());
          }
        }
        for (auto& waiter : others) wake(std::move(waiter));
      });
      return;
    }
    put_back(connection);
  }

  // Closes idle connections now and the others as they come back; waiting borrowers get ConnectionError.
  void close() {
    std::vector<SqliteConnection*> idle;
    std::deque<std::shared_ptr<Waiter>> waiters;
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      idle.swap(idle_);
      waiters.swap(waiters_);
      for (auto& waiter : waiters) waiter->queued = false;
    }
    {
      std::lock_guard lock(mutex_);
      for (SqliteConnection* connection : idle) forget(connection);
    }
    for (auto& waiter : waiters) wake(std::move(waiter));
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return connections_.size();
  }
  std::size_t idle_size() const {
    std::lock_guard lock(mutex_);
    return idle_.size();
  }

private:
  struct Waiter {
    Waiter(const asio::any_io_executor& executor, SqlitePool* owner, std::weak_ptr<void> owner_alive)
        : timer(executor), pool(owner), pool_alive(std::move(owner_alive)) {}
    // A connection handed to a borrower whose coroutine was destroyed before it woke (with its event loop, say)
    // goes back, or the pool would be one short for good. put_back takes the mutex: a waiter's last reference
    // never goes with it held.
    // (A pool already gone has closed its connections: there is nothing to give back.)
    ~Waiter() {
      if (handed && !pool_alive.expired()) pool->put_back(handed);
    }
    asio::steady_timer timer;
    SqlitePool* pool;
    std::weak_ptr<void> pool_alive;
    SqliteConnection* handed = nullptr;
    bool recheck = false;  // woken to look for room again, not handed a connection
    bool queued = false;   // in waiters_ (kept under the mutex, so that leaving needs no search)
  };

  // The connection is free again: to the first waiting borrower, else idle.
  void put_back(SqliteConnection* connection) noexcept {
    std::shared_ptr<Waiter> waiter;
    {
      std::lock_guard lock(mutex_);
      if (closed_) {
        forget(connection);
        return;
      }
      if (!waiters_.empty()) {
        waiter = waiters_.front();
        waiters_.pop_front();
        waiter->queued = false;
        waiter->handed = connection;
      } else {
        idle_.push_back(connection);
      }
    }
    wake(std::move(waiter));
  }

  // The waiter's last reference goes with the posted call, so that its timer dies on its own loop's thread,
  // never on the thread that wakes it (a worker, after a checkpoint), and never under the mutex.
  static void wake(std::shared_ptr<Waiter> waiter) {
    if (!waiter) return;
    auto executor = waiter->timer.get_executor();
    asio::post(executor, [waiter = std::move(waiter)] { waiter->timer.cancel(); });
  }

  void ensure_open() const {
    if (closed_) throw ConnectionError("the SQLite engine is closed");
  }

  // Room for a new connection; with the mutex held. A connection back soon from its checkpoint is worth waiting
  // for: its page cache and statements are warm, where a new connection would start cold.
  bool has_room() const { return connections_.size() + opening_ < options_.max_connections && checkpointing_ == 0; }

  // Takes the waiter out of the queue if it is in it; with the mutex held.
  void leave_queue(const std::shared_ptr<Waiter>& waiter) {
    if (!waiter || !waiter->queued) return;
    std::erase(waiters_, waiter);
    waiter->queued = false;
  }

  // A borrower leaves without a connection (its open failed, its wait timed out or was cancelled): were it the
  // one sent to take the room for a new connection, the first waiting borrower tries instead, at once, not a
  // timeout later. With the mutex held; the caller wakes the waiter returned once it has let go of the mutex.
  std::shared_ptr<Waiter> pass_on_room() {
    if (waiters_.empty() || !has_room()) return nullptr;
    std::shared_ptr<Waiter> next = std::move(waiters_.front());
    waiters_.pop_front();
    next->queued = false;
    next->recheck = true;
    return next;
  }

  ConnectionLease lease(SqliteConnection* connection) { return ConnectionLease(connection, ReturnToOwner{this}); }

  asio::awaitable<ConnectionLease> open_connection() {
    std::exception_ptr failure;
    sqlite3* db = nullptr;
    try {
      db = co_await run_blocking(workers_.get_executor(),
                                 [&] { return SqliteConnection::open_database(uri_, options_); });
    } catch (...) {
      failure = std::current_exception();
    }
    std::shared_ptr<Waiter> next;
    {
      std::lock_guard lock(mutex_);
      --opening_;
      if (!failure) {
        connections_.push_back(std::make_unique<SqliteConnection>(db, workers_.get_executor(), options_));
        co_return lease(connections_.back().get());
      }
      // The room this connection would have taken is free again: the first waiting borrower tries to open one
      // (and meets the same error at once, not a timeout later).
      next = pass_on_room();
    }
    wake(std::move(next));
    std::rethrow_exception(failure);
  }

  // Closes a connection for good. Called with the mutex held, when no borrower has it.
  void forget(SqliteConnection* connection) {
    std::erase_if(connections_, [&](const auto& owned) { return owned.get() == connection; });
  }

  SqliteOptions options_;
  std::string uri_;
  asio::thread_pool& workers_;
  bool checkpoint_here_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<SqliteConnection>> connections_;
  std::vector<SqliteConnection*> idle_;
  std::deque<std::shared_ptr<Waiter>> waiters_;
  std::size_t opening_ = 0;
  std::size_t checkpointing_ = 0;  // connections away for a checkpoint
  bool closed_ = false;
  std::shared_ptr<void> alive_ = std::make_shared<int>(0);  // for waiters that outlive the pool (Waiter)
};

}  // namespace keel::sqlite_detail
