// The connection's message pipeline: requests are written back to back, and one reader coroutine hands the
// server's replies to the requests in the order they were sent. A request is one unit of messages ending in
// Sync (or a simple Query); its reply ends with ReadyForQuery. So several coroutines can use one connection
// at once, each getting its own replies, and notifications arrive while the connection is idle.
module;
#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include "../spawn.hpp"
export module keel.postgres:pipeline;
import keel.engine;
import keel.postgres.protocol;
import :transport;

namespace asio = boost::asio;
namespace proto = keel::pg::protocol;

export namespace keel::pg {
// keel::CanceledError, also by this namespace's name.
using keel::CanceledError;
}  // namespace keel::pg

// Not exported: the pipeline is the connection's machinery, reachable through PgConnection and its pool.
namespace keel::pg {

// Coroutines waiting for something to change; notify_all wakes them all (they check again).
class Waiters {
public:
  // Until notify_all, the deadline, or the caller's cancellation, whichever comes first.
  asio::awaitable<void> wait(asio::any_io_executor executor,
                             std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt) {
    asio::steady_timer timer(executor, deadline.value_or(asio::steady_timer::time_point::max()));
    auto position = timers_.insert(timers_.end(), &timer);
    struct Unregister {
      std::list<asio::steady_timer*>& timers;
      std::list<asio::steady_timer*>::iterator position;
      ~Unregister() { timers.erase(position); }
    } unregister{timers_, position};
    boost::system::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  void notify_all() {
    for (auto* timer : timers_) timer->cancel();
  }

private:
  std::list<asio::steady_timer*> timers_;
};

// An allocator that keeps freed blocks of its type on a list per thread for the next allocation, up to a limit.
// A reply is made and dropped with every query: with many queries in flight (thousands of pipelined requests)
// malloc's own per-thread caches run dry, and this keeps the cost of a reply to a pop and a push.
template <class T>
class RecyclingAllocator {
public:
  using value_type = T;
  static constexpr std::size_t kept = 1024;

  RecyclingAllocator() noexcept = default;
  template <class U>
  RecyclingAllocator(const RecyclingAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    auto& blocks = free_blocks();
    if (n == 1 && !blocks.empty()) {
      void* block = blocks.back();
      blocks.pop_back();
      return static_cast<T*>(block);
    }
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* block, std::size_t n) noexcept {
    auto& blocks = free_blocks();
    if (n == 1 && blocks.size() < kept) {
      try {
        blocks.push_back(block);
        return;
      } catch (...) {  // no room to keep it: free it
      }
    }
    std::allocator<T>().deallocate(block, n);
  }
  friend bool operator==(const RecyclingAllocator&, const RecyclingAllocator&) noexcept { return true; }

private:
  struct FreeBlocks {
    std::vector<void*> blocks;
    ~FreeBlocks() {
      for (void* block : blocks) std::allocator<T>().deallocate(static_cast<T*>(block), 1);
    }
  };
  static std::vector<void*>& free_blocks() {
    thread_local FreeBlocks list;
    return list.blocks;
  }
};

// One request's replies, as the reader hands them over. Subclasses decode what their request asked for.
class Reply {
public:
  Reply() = default;
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;
  virtual ~Reply() {
    if (resumer_) resumer_->discard();
  }

  // A message of this reply, other than ReadyForQuery and the asynchronous ones (ParameterStatus, notices,
  // notifications). Throws ProtocolError for a message that does not belong, which breaks the connection.
  virtual void on_message(const proto::Frame& frame) = 0;
  // ReadyForQuery: the reply is complete.
  virtual void on_ready() {}
  // Whether the waiting caller should resume now (the reply is complete, or it reached a point the caller
  // acts on, such as COPY's CopyInResponse).
  virtual bool caller_may_resume() const { return done; }

  // Whether a stand-in that reads and drops the reply may take its place when its caller gives up while it is
  // queued behind another request. Not for a simple Query: it may enter COPY IN, which only its caller can end,
  // and a COMMIT's caller must learn that its outcome is unknown (the connection is closed instead).
  virtual bool may_be_abandoned() const { return true; }

  // The first ErrorResponse of this reply.
  void note_error(const proto::Frame& frame) {
    if (!error) error = proto::parse_error_fields(frame.body, 'E');
  }
  // Throws what the reply ended with: the connection's failure, or the server's error.
  void rethrow() const {
    if (failure) std::rethrow_exception(failure);
    if (error) throw_database_error(*error);
  }
  // Resumes the waiting caller, through the event loop. The reader ends a reply with resume_now() instead.
  void wake() {
    if (wakeup_) wakeup_->cancel();
    if (resumer_) take_resumer()->resume(nullptr);
  }
  // Resumes a caller that waits with no deadline and no cancellation at once, from here: no timer and no trip
  // through the event loop, which matters with thousands of requests in flight. `here` is the executor the
  // reading coroutine runs on: a caller of the same executor is resumed by a direct call (no handler wrapped
  // for the executor), others through Asio's dispatch. The reader calls this last, after its own bookkeeping,
  // as the caller may write a new request before it returns.
  void resume_now(const asio::any_io_executor& here) {
    if (wakeup_) wakeup_->cancel();
    if (resumer_) take_resumer()->resume(&here);
  }
  // Waits for wake(), for a caller with no deadline and no cancellation slot. Its completion handler is kept in
  // the reply itself (no allocation per wait).
  template <class Token>
  auto async_wait_for_wake(Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler) {
          using Stored = Resumer<decltype(handler)>;
          static_assert(sizeof(Stored) <= sizeof(resumer_storage_) && alignof(Stored) <= alignof(std::max_align_t),
                        "a waiting caller's completion handler must fit in Reply::resumer_storage_");
          resumer_ = ::new (static_cast<void*>(resumer_storage_)) Stored(std::move(handler));
        },
        token);
  }
  // Waits once for the reader to hand this reply over (its caller loops on caller_may_resume). Not a coroutine:
  // the caller awaits the wait itself.
  asio::awaitable<void> handed_over() {
    return async_wait_for_wake(asio::redirect_error(asio::use_awaitable, ignored_));
  }
  // The timer the caller waits on, made on first use (a caller that reads its own reply never needs it).
  asio::steady_timer& wakeup(const asio::any_io_executor& executor) {
    if (!wakeup_) wakeup_.emplace(executor, asio::steady_timer::time_point::max());
    return *wakeup_;
  }

  bool done = false;
  bool answered = false;             // a message of its reply came (before its ReadyForQuery)
  std::optional<ErrorFields> error;  // the server's
  std::exception_ptr failure;        // the connection's (lost, protocol violation)
  bool cancel_requested = false;     // the caller gave up: cancel the request when the server runs it
  bool caller_canceled = false;      // by its Asio cancellation slot, even if the server completed it first
  bool cancel_sent = false;
  bool holds_connection = false;  // queued by the request that holds the connection (lock_exclusive)
  std::optional<asio::steady_timer>
      wakeup_;  // the caller waits on it; wake() ends the wait, and it expires at a timeout

private:
  // Or the caller waits with no limit: its completion handler, resumed on its own executor.
  class AnyResumer {
  public:
    // Resumes the caller and ends this object: `here` (the executor whose thread runs this) for a call in place
    // when it is the caller's, null for a trip through the event loop.
    virtual void resume(const asio::any_io_executor* here) = 0;
    virtual void discard() noexcept = 0;  // ends it without resuming (the reply is dropped unanswered)

  protected:
    ~AnyResumer() = default;
  };
  template <class Handler>
  class Resumer final : public AnyResumer {
  public:
    explicit Resumer(Handler handler) : handler_(std::move(handler)) {}
    void resume(const asio::any_io_executor* here) override {
      // The handler leaves this object first: resuming the caller may destroy the reply that holds it.
      Handler handler = std::move(handler_);
      this->~Resumer();
      const auto executor = asio::get_associated_executor(handler);
      if (here && executor == *here) {
        std::move(handler)(boost::system::error_code());
        return;
      }
      auto completion = asio::append(std::move(handler), boost::system::error_code());
      if (here)
        asio::dispatch(executor, std::move(completion));
      else
        asio::post(executor, std::move(completion));
    }
    void discard() noexcept override { this->~Resumer(); }

  private:
    Handler handler_;
  };
  AnyResumer* take_resumer() noexcept { return std::exchange(resumer_, nullptr); }

  AnyResumer* resumer_ = nullptr;      // lives in resumer_storage_
  boost::system::error_code ignored_;  // a wake's (always success)
  alignas(std::max_align_t) unsigned char resumer_storage_[64];
};

// The reply to a request whose caller has gone: Close messages left to send after their request was withdrawn,
// or a request abandoned at its caller's deadline behind others. Read to its ReadyForQuery, and dropped.
class DiscardedReply final : public Reply {
public:
  void on_message(const proto::Frame&) override {}
};

// The connection's messages that belong to no request.
class AsyncMessageHandler {
public:
  virtual ~AsyncMessageHandler() = default;
  virtual void on_parameter_status(const proto::Frame& frame) = 0;
  virtual void on_notice(const proto::Frame& frame) = 0;
  virtual void on_notification(const proto::Frame& frame) = 0;
  virtual void on_terminated(std::exception_ptr reason) = 0;
};

class Pipeline : public std::enable_shared_from_this<Pipeline> {
public:
  explicit Pipeline(asio::any_io_executor executor) : transport(std::move(executor)) {}

  Transport transport;
  proto::TransactionStatus transaction_status = proto::TransactionStatus::idle;
  proto::BackendKeyData key;

  asio::any_io_executor executor() const { return transport.get_executor(); }
  // The one-line members that every query calls say `inline`: in a module, a function defined in its class is not,
  // and fetch_as and the others are templates that run in the caller's translation unit.
  inline bool broken() const noexcept { return broken_; }
  // Why the connection ended, for later calls.
  const std::string& broken_reason() const noexcept { return broken_reason_; }
  inline std::size_t pending() const noexcept { return replies_.size(); }

  // ---- Before the reader runs (the startup): messages are read in place.
  asio::awaitable<proto::Frame> read_frame() {
    while (true) {
      if (auto frame = buffered_frame()) co_return *frame;
      std::size_t n = 0;
      try {
        n = co_await read_more();
      } catch (const boost::system::system_error& e) {
        throw connection_lost(e);
      }
      in_end_ += n;
    }
  }
  asio::awaitable<void> write_now(std::span<const std::uint8_t> bytes) { co_await transport.write(bytes); }

  // After the startup, a reader coroutine hands every message to its reply. It runs while replies are
  // awaited, or while the connection listens for notifications; otherwise it ends, so that an idle
  // connection does not keep its event loop running.
  void attach(AsyncMessageHandler* handler) { handler_ = handler; }
  void set_listening(bool listening) {
    listening_ = listening;
    if (listening_) ensure_reader();
  }
  // The connection's owner is gone: no more callbacks.
  void detach() noexcept { handler_ = nullptr; }

  // ---- Sending. A request appends its messages to out() and queues its reply in the same step (no
  // suspension between), so that replies are matched in the order the requests were written.
  inline proto::ByteBuffer& out() { return out_; }
  void queue(std::shared_ptr<Reply> reply) {
    if (broken_) {
      reply->failure = std::make_exception_ptr(ConnectionError(closed_message()));
      reply->done = true;
      return;
    }
    reply->holds_connection = exclusive_;
    replies_.push_back(std::move(reply));
  }
  // Writes what is queued. One coroutine writes at a time; requests queued meanwhile go with its next write,
  // so concurrent requests share system calls. A write cannot be cancelled halfway (that would corrupt the
  // stream); a failed write ends the connection and fails every waiting reply.
  asio::awaitable<void> flush() {
    if (writing_ || fenced()) co_return;  // the writer, or the end of the fence, sends these bytes
    writing_ = true;
    // This may be a caller that is being cancelled: its writes for everyone go on regardless.
    const bool throwing = co_await asio::this_coro::throw_if_cancelled();
    if (throwing) co_await asio::this_coro::throw_if_cancelled(false);
    std::exception_ptr failure;
    try {
      while (!out_.empty() && !broken_ && !fenced()) {
        std::swap(out_, sending_);
        written_replies_ = replies_.size();
        out_written_rest_ = 0;
        // Alone, a request goes out at once. With others in flight, the write waits for the event loop, so
        // that requests queued meanwhile go with the next write: fewer, larger writes.
        co_await transport.write(sending_, replies_.size() <= 1);
        sending_.clear();
        send_cancel_if_requested();  // one asked for before its request was out
      }
    } catch (const boost::system::system_error& e) {
      failure = std::make_exception_ptr(connection_lost(e));
      take_in_the_servers_reason();
    }
    writing_ = false;
    if (broken_) out_.clear();
    if (throwing) co_await asio::this_coro::throw_if_cancelled(true);
    if (failure) end(failure);
  }

  // flush() without a coroutine, for the common case: no other writer, no other request in flight, and the
  // socket takes it all. Returns false when the caller must co_await flush() for the rest.
  bool flush_now() {
    if (writing_ || fenced()) return true;  // the writer, or the end of the fence, sends these bytes
    if (broken_) {
      out_.clear();
      return true;
    }
    if (out_.empty()) return true;
    if (replies_.size() > 1) return false;      // others in flight: flush() coalesces
    if (out_.size() > 64 * 1024) return false;  // COPY's data: flush() writes it without moving what is left
    std::size_t written = 0;
    written_replies_ = replies_.size();
    try {
      written = transport.write_some_now(out_);
    } catch (const boost::system::system_error& e) {
      out_.clear();
      take_in_the_servers_reason();
      end(std::make_exception_ptr(connection_lost(e)));
      return true;
    }
    if (written == out_.size()) {
      out_.clear();
      out_written_rest_ = 0;
      return true;
    }
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(written));
    out_written_rest_ = out_.size();  // the rest of requests already begun: they must go out before any fence
    return false;
  }

  // A request that must own the connection for a while (a COPY FROM STDIN streams its data, an unnamed
  // statement is described and then bound): others wait in wait_for_turn until it is done. A request waits for
  // its turn within its deadline and its caller's cancellation: nothing of it has been sent.
  asio::awaitable<void> lock_exclusive(std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt) {
    co_await wait_for_turn(false, deadline);
    exclusive_ = true;
  }
  void unlock_exclusive() {
    exclusive_ = false;
    exclusive_waiters_.notify_all();
  }
  // Whether a request may write now: no other request owns the connection (`owner`: this one does).
  inline bool turn_is_free(bool owner = false) const noexcept { return owner || !exclusive_; }
  // Waits while another request owns the connection; `owner` is true for the request that holds the lock.
  asio::awaitable<void> wait_for_turn(bool owner = false,
                                      std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt) {
    if (owner || !exclusive_) co_return;
    // Also when the turn came in the same turn of the loop as the caller's cancellation: its request must not
    // be queued then, or Asio would throw at the co_await of its wait with the request sent.
    do {
      co_await exclusive_waiters_.wait(executor(), deadline);
      throw_if_given_up(
          deadline, stops(co_await asio::this_coro::cancellation_state, co_await asio::this_coro::throw_if_cancelled()),
          "while another request held the connection (a COPY, or a statement being prepared)");
    } while (exclusive_);
  }
  // After a wait for something other than its reply: TimeoutError past the deadline, CanceledError once the
  // caller stops (below). Nothing of the request has been sent.
  static void throw_if_given_up(std::optional<std::chrono::steady_clock::time_point> deadline, bool caller_stops,
                                std::string_view while_what) {
    if (caller_stops) throw CanceledError("the query was cancelled " + std::string(while_what) + "; it was not sent");
    if (deadline && std::chrono::steady_clock::now() >= *deadline)
      throw TimeoutError("the query timed out " + std::string(while_what) + "; it was not sent");
  }
  // Whether a coroutine stops at its next step, by Asio's rule: it was cancelled (a cancellation stays until the
  // coroutine resets it) and it throws on that. One cleaning up after its cancellation has turned
  // throw_if_cancelled off (the engine's ROLLBACK), and goes on. Called with `co_await this_coro::...` values.
  static inline bool stops(const asio::cancellation_state& state, bool throws_if_cancelled) noexcept {
    return throws_if_cancelled && state.cancelled() != asio::cancellation_type::none;
  }

  // Writes what is queued, then waits for `reply` (a request just queued): wait() below. `caller_cancelled`: the
  // caller's cancellation came earlier in this call (a COPY's data sent after it): the wait acts on it.
  inline asio::awaitable<void> send_and_wait(Reply& reply,
                                             std::optional<std::chrono::steady_clock::time_point> deadline,
                                             bool caller_cancelled = false) {
    if (flush_now()) return wait(reply, deadline, caller_cancelled);
    return flush_then_wait(reply, deadline, caller_cancelled);
  }
  // send_and_wait when flush_now() left bytes to write. The write may suspend, and a cancellation then must not
  // throw between the write and the wait (Asio throws at the next co_await of a cancelled coroutine): the
  // request is queued, and its reply points into the caller's frame. So the write and the wait are one step for
  // the caller's cancellation, and the wait acts on one that came during the write. One that came before it
  // (a caller cleaning up after its cancellation, with throw_if_cancelled off) is left alone.
  asio::awaitable<void> flush_then_wait(Reply& reply, std::optional<std::chrono::steady_clock::time_point> deadline,
                                        bool caller_cancelled = false) {
    const bool throwing = co_await asio::this_coro::throw_if_cancelled();
    if (throwing) co_await asio::this_coro::throw_if_cancelled(false);
    const bool cancelled_before =
        (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none;
    co_await flush();
    const bool cancelled_now =
        (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none;
    std::exception_ptr failure;
    try {
      co_await wait(reply, deadline, caller_cancelled || (cancelled_now && !cancelled_before));
    } catch (...) {
      failure = std::current_exception();
    }
    if (throwing) co_await asio::this_coro::throw_if_cancelled(true);
    if (failure) std::rethrow_exception(failure);
  }

  // Waits for the reply (or for caller_may_resume). At the deadline, or when the caller's Asio cancellation
  // slot fires, the request is cancelled on the server (CancelRequest on a side connection) and the reply is
  // still read to its end, so that the connection stays usable; then TimeoutError or CanceledError, unless
  // the server completed the request first (its result is not lost). A cancelled caller stays cancelled, as
  // Asio's rule has it: the call's result stands, and the caller's next co_await throws.
  // `caller_cancelled`: the caller's cancellation came while its request was written, or earlier in the same
  // call (see send_and_wait); it does not come again.
  asio::awaitable<void> wait(Reply& reply, std::optional<std::chrono::steady_clock::time_point> deadline,
                             bool caller_cancelled = false) {
    if (reply.caller_may_resume()) {
      // Answered while it was written, and the caller cancelled meanwhile: a step before its last must hear it.
      if (caller_cancelled) reply.caller_canceled = true;
      co_return;
    }
    auto state = co_await asio::this_coro::cancellation_state;
    if (!deadline && !caller_cancelled && !state.slot().is_connected()) {
      if (!reading_) {
        co_await read_in_place(reply);
        co_return;
      }
      // Someone reads: wait for the reply with nothing to time or cancel.
      while (!reply.caller_may_resume()) co_await reply.handed_over();
      co_return;
    }
    ensure_reader();
    // A caller cancelled before it came here cleans up after that (throw_if_cancelled off, as the engine's
    // ROLLBACK): its request is not cancelled.
    const bool cleaning_up = !caller_cancelled && state.cancelled() != asio::cancellation_type::none;
    bool timed_out = false, canceled = false;
    // Once cancelled, the waits below must not throw (the state stays cancelled): the caller's setting comes back
    // at the end.
    const bool throwing = co_await asio::this_coro::throw_if_cancelled();
    std::optional<std::chrono::steady_clock::time_point> give_up;  // the deadline plus the grace, once past it
    // Past the deadline or cancelled: a request not yet sent leaves the queue (true), else the server is asked
    // to cancel it and it gets the grace to end.
    auto stop_request = [&] {
      if (withdraw(reply)) {  // not sent yet: the server never sees it
        reply.failure =
            timed_out ? std::make_exception_ptr(
                            TimeoutError("the query timed out before it was sent to the server; it did not run"))
                      : std::make_exception_ptr(
                            CanceledError("the query was cancelled before it was sent to the server; it did not run"));
        reply.done = true;
        return true;
      }
      request_cancel(reply);
      if (!give_up) give_up = std::chrono::steady_clock::now() + cancel_grace;
      return false;
    };
    if (caller_cancelled) {
      canceled = reply.caller_canceled = true;
      if (throwing) co_await asio::this_coro::throw_if_cancelled(false);
      stop_request();
    }
    while (!reply.caller_may_resume()) {
      auto& wakeup = reply.wakeup(executor());
      wakeup.expires_at(deadline && !timed_out && !canceled ? *deadline
                        : give_up                           ? *give_up
                                                            : asio::steady_timer::time_point::max());
      boost::system::error_code ec;
      co_await wakeup.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (reply.caller_may_resume()) {
        // Done, and the caller's slot fired too (the two raced): its result stands, and the caller stays
        // cancelled; a step before its last must hear it (caller_canceled).
        if (ec == asio::error::operation_aborted && !canceled && !cleaning_up &&
            state.cancelled() != asio::cancellation_type::none)
          canceled = reply.caller_canceled = true;
        break;
      }
      if (!ec) {
        if (give_up && std::chrono::steady_clock::now() >= *give_up) {
          if (!is_head(reply) && reply.may_be_abandoned()) {
            // Another request still runs ahead of it: that one's caller decides about the connection. This caller
            // leaves; its request stays, to be cancelled when it starts, and its reply is read and dropped.
            abandon(reply);
            reply.failure = std::make_exception_ptr(TimeoutError(
                "the request was still queued behind another on its connection past its time limit or cancellation; "
                "it was sent, so its outcome is unknown"));
            reply.done = true;
            break;
          }
          // Silent past the grace: the request's fate is unknown, so the connection cannot be trusted again.
          end(std::make_exception_ptr(
              TimeoutError("the server did not end the request within " +
                           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(cancel_grace).count()) +
                           " ms of its time limit or cancellation; the connection was closed, and the request's "
                           "outcome is unknown")));
          break;
        }
        timed_out = true;
      } else if (ec == asio::error::operation_aborted) {
        // Not woken (wake() comes only when the caller may resume, checked above): the caller's slot fired during
        // this wait, also in a cleanup after an earlier cancellation (a second signal stops that too). Once is
        // enough.
        if (canceled) continue;
        canceled = reply.caller_canceled = true;
        if (throwing) co_await asio::this_coro::throw_if_cancelled(false);
      }
      if (stop_request()) break;
    }
    if (canceled && throwing) co_await asio::this_coro::throw_if_cancelled(true);
    if (!timed_out && !canceled) co_return;
    if (!reply.done) co_return;  // resumed at a midpoint: the caller decides
    // The server stopped the request (57014) or failed it for another reason: report the timeout or the
    // cancellation, with the server's words.
    if (reply.failure) std::rethrow_exception(reply.failure);
    if (reply.error) {
      const std::string detail = reply.error->message;
      if (timed_out) throw TimeoutError("the query timed out, and was cancelled on the server (" + detail + ")");
      throw CanceledError("the query was cancelled (" + detail + ")");
    }
  }

  // Whether the caller may read its reply itself (read_in_place) rather than wait(): nobody else reads, and
  // there is no deadline or cancellation slot (a cancellation must not cut a read in half; the reader
  // coroutine and the timer handle those).
  inline bool may_read_in_place(const Reply& reply, std::optional<std::chrono::steady_clock::time_point> deadline,
                                bool cancellable) const {
    return !reading_ && !deadline && !cancellable && !reply.caller_may_resume();
  }
  // The caller reads for itself until its reply may resume, with no hop to another coroutine; then the reader
  // coroutine takes over for any others still waiting.
  inline asio::awaitable<void> read_in_place(const Reply& reply) {
    return pump(&reply);
  }  // not a coroutine: one frame less

  // Starts the reader before a large write: a server answering a long pipeline fills its socket buffer, and would
  // stop reading ours, if nobody read its replies meanwhile.
  void read_while_writing() { ensure_reader(); }

  // Ends the connection: closes the socket and fails every waiting reply.
  void end(std::exception_ptr reason) {
    if (!broken_) {
      broken_ = true;
      broken_reason_ = message_of(reason);
    }
    transport.close();
    auto replies = std::move(replies_);
    replies_.clear();
    written_replies_ = 0;
    out_written_rest_ = 0;
    fence_.reset();
    for (auto& reply : replies) {
      if (reply->done) continue;
      // A FATAL error before the end (an administrator's shutdown, pg_terminate_backend) is the real reason.
      reply->failure = reply->error ? database_error(*reply->error) : reason;
      reply->done = true;
      reply->wake();
    }
    exclusive_waiters_.notify_all();
    if (auto* handler = std::exchange(handler_, nullptr)) handler->on_terminated(reason);
  }
  void close() {
    if (!broken_) end(std::make_exception_ptr(ConnectionError("the connection is closed")));
  }

private:
  std::string closed_message() const {
    return broken_reason_.empty() ? "the connection is closed" : "the connection is closed: " + broken_reason_;
  }
  static std::exception_ptr database_error(const ErrorFields& fields) {
    try {
      throw_database_error(fields);
    } catch (...) {
      return std::current_exception();
    }
  }

  void ensure_reader() {
    if (reading_ || broken_) return;
    reading_ = true;
    keel_spawn::spawn_detached(executor(), [self = shared_from_this()]() { return self->read_loop(); });
  }

  asio::awaitable<void> read_loop() {
    struct Done {
      bool& reading;
      ~Done() { reading = false; }
    } done{reading_};
    co_await pump(nullptr);
  }

  // Reads and dispatches messages: until `until` may resume (a caller reading in place), or (for the reader
  // coroutine) while replies are awaited or the connection listens. Every whole message in the buffer is
  // dispatched before the next read.
  asio::awaitable<void> pump(const Reply* until) {
    // The executor this coroutine runs on: a caller of the same executor is resumed by a direct call.
    const asio::any_io_executor here = co_await asio::this_coro::executor;
    std::shared_ptr<Pipeline> self;
    if (until) {
      self = shared_from_this();  // a caller resumed meanwhile may drop the connection
      reading_ = true;
    }
    while (!broken_ && (until ? !until->caller_may_resume() : (!replies_.empty() || listening_))) {
      std::exception_ptr failure;
      try {
        if (auto frame = buffered_frame()) {
          dispatch(*frame, here);
        } else {
          const std::size_t n = co_await read_more();
          in_end_ += n;
        }
      } catch (const boost::system::system_error& e) {
        failure = std::make_exception_ptr(connection_lost(e));
      } catch (...) {
        failure = std::current_exception();
      }
      if (failure) {
        end(failure);
        break;
      }
    }
    if (until) {
      reading_ = false;
      if (!broken_ && (!replies_.empty() || listening_)) ensure_reader();  // for those still waiting
    }
  }

  // The next whole message in the buffer, if there is one. Its bytes stay valid until the next call.
  std::optional<proto::Frame> buffered_frame() {
    in_start_ += std::exchange(pending_consume_, 0);  // the previous message is handled
    if (in_start_ == in_end_) in_start_ = in_end_ = 0;
    auto frame = proto::next_frame(std::span<const std::uint8_t>(in_).subspan(in_start_, in_end_ - in_start_));
    if (frame) pending_consume_ = frame->size;
    return frame;
  }
  // Reads more bytes behind the partial message: makes room first (moves the partial message to the front,
  // grows for a large one). Returns the read's size, to add to in_end_. Not a coroutine: the caller awaits the
  // socket's read directly.
  asio::awaitable<std::size_t> read_more() {
    if (in_start_ > 0) {
      std::memmove(in_.data(), in_.data() + in_start_, in_end_ - in_start_);
      in_end_ -= in_start_;
      in_start_ = 0;
    }
    if (in_end_ == in_.size()) in_.resize(in_.size() * 2);
    return transport.read_some(std::span(in_).subspan(in_end_));
  }
  // A write failed because the server closed the connection: it may have said why first (a FATAL
  // ErrorResponse: an administrator's shutdown, pg_terminate_backend), while nobody was reading (a COPY
  // streaming its data). What has already arrived is read without waiting, and an ErrorResponse becomes the
  // head request's error, so that its caller hears the server's reason (AdminShutdown, 57P01), not the
  // socket's "Broken pipe".
  void take_in_the_servers_reason() noexcept {
    if (replies_.empty()) return;
    // Replies already complete in the buffer are passed over (each ends with its ReadyForQuery), so that an
    // error reaches the request it answers: a COMMIT answered in full must not take the FATAL that followed it.
    std::size_t answering = 0;
    try {
      for (int reads = 0; reads < 16; ++reads) {
        while (auto frame = buffered_frame()) {
          if (answering >= replies_.size()) return;
          if (frame->type == 'Z')
            ++answering;
          else if (frame->type == 'E')
            replies_[answering]->note_error(*frame);
        }
        if (in_end_ == in_.size()) return;
        const std::size_t n = transport.read_some_now(std::span(in_).subspan(in_end_));
        if (n == 0) return;
        in_end_ += n;
      }
    } catch (...) {  // a malformed message: the socket's error stands
    }
  }
  // A failed read or write, as the ConnectionError callers see.
  ConnectionError connection_lost(const boost::system::system_error& e) const {
    return ConnectionError("the connection to " + transport.describe() + " was lost: " + e.code().message());
  }

  void dispatch(const proto::Frame& frame, const asio::any_io_executor& here) {
    switch (frame.type) {
      case 'S':
        if (handler_) handler_->on_parameter_status(frame);
        return;
      case 'N':
        if (handler_) handler_->on_notice(frame);
        return;
      case 'A':
        if (handler_) handler_->on_notification(frame);
        return;
      default: break;
    }
    if (replies_.empty()) {
      // The server says why it is about to close (a FATAL error: shutdown, terminated backend, idle timeout).
      if (frame.type == 'E') {
        const ErrorFields fields = proto::parse_error_fields(frame.body, 'E');
        std::exception_ptr reason = database_error(fields);
        end(reason);
        return;
      }
      throw ProtocolError("unexpected message '" + std::string(1, frame.type) +
                          "' from the server while no request was waiting");
    }
    Reply& head = *replies_.front();
    if (frame.type != 'Z') {
      head.answered = true;
      head.on_message(frame);
      if (head.caller_may_resume()) head.wake();
      return;
    }
    // Every request keel sends draws at least one message before its ReadyForQuery: one alone would close a
    // reply early and shift every later reply onto the wrong request.
    if (!head.answered) throw ProtocolError("the server sent a ReadyForQuery that answers no request");
    transaction_status = proto::parse_ready_for_query(frame.body).status;
    const std::shared_ptr<Reply> finished = std::move(replies_.front());
    replies_.pop_front();
    if (written_replies_ > 0) --written_replies_;
    finished->on_ready();
    finished->done = true;
    if (fence_ && fence_->target == finished.get()) {
      fence_->target = nullptr;
      lift_fence_if_settled();
    }
    send_cancel_if_requested();
    // Last: its caller may run now, and write. Should that caller's own completion handler throw, the exception
    // leaves the event loop's run() as Asio's would, not this connection's reader.
    std::exception_ptr escaped;
    try {
      finished->resume_now(here);
    } catch (...) {
      escaped = std::current_exception();
    }
    if (escaped) asio::post(executor(), [escaped] { std::rethrow_exception(escaped); });
  }

  inline bool is_head(const Reply& reply) const noexcept {
    return !replies_.empty() && replies_.front().get() == &reply;
  }

  // Takes a request whose bytes are all still in the outgoing buffer (held behind a cancel's fence, or behind a
  // write in progress) out of the connection: its bytes and its reply. Returns false when any of it may be out.
  // The Close messages of evicted statements that rode on it stay, with a Sync of their own and a discarded
  // reply. Its Parse goes: no other request uses a statement before the reply to its Parse has come.
  bool withdraw(const Reply& reply) {
    if (broken_) return false;
    std::size_t index = written_replies_;
    while (index < replies_.size() && replies_[index].get() != &reply) ++index;
    if (index == replies_.size()) return false;
    const auto range = unwritten_range(index);
    if (!range) return false;
    const auto [begin, end] = *range;
    proto::ByteBuffer closes;
    for (std::size_t at = begin; at < end;) {
      const std::size_t size = message_size(at);
      if (out_[at] == 'C')
        closes.insert(closes.end(), out_.begin() + static_cast<std::ptrdiff_t>(at),
                      out_.begin() + static_cast<std::ptrdiff_t>(at + size));
      at += size;
    }
    if (!closes.empty()) proto::write_sync(closes);
    const auto first = out_.begin() + static_cast<std::ptrdiff_t>(begin);
    out_.insert(out_.erase(first, first + static_cast<std::ptrdiff_t>(end - begin)), closes.begin(), closes.end());
    if (closes.empty())
      replies_.erase(replies_.begin() + static_cast<std::ptrdiff_t>(index));
    else
      replies_[index] = std::make_shared<DiscardedReply>();
    return true;
  }
  // Where the request of replies_[index] lies in out_, if all of it is there. out_ holds, in order: the rest of
  // requests partly written, then the rest of a COPY under way (its data and end), then the unwritten
  // requests, each ending with Sync or a simple Query.
  std::optional<std::pair<std::size_t, std::size_t>> unwritten_range(std::size_t index) const {
    std::size_t at = out_written_rest_;
    while (at < out_.size() && message_size(at) && (out_[at] == 'd' || out_[at] == 'c' || out_[at] == 'f'))
      at += message_size(at);
    for (std::size_t i = written_replies_; i < replies_.size(); ++i) {
      const std::size_t begin = at;
      bool ended = false;
      while (!ended && at < out_.size()) {
        const std::size_t size = message_size(at);
        const char type = static_cast<char>(out_[at]);
        // COPY data or a Terminate among unwritten requests: not a layout this can cut safely.
        if (size == 0 || type == 'd' || type == 'c' || type == 'f' || type == 'X') return std::nullopt;
        ended = type == 'S' || type == 'Q';
        at += size;
      }
      if (!ended) return std::nullopt;
      if (i == index) return std::pair{begin, at};
    }
    return std::nullopt;
  }
  // The size of the whole message at out_[at] (type, length, body); 0 if it is not all there.
  std::size_t message_size(std::size_t at) const noexcept {
    try {
      const auto frame = proto::next_frame(std::span<const std::uint8_t>(out_).subspan(at));
      return frame ? frame->size : 0;
    } catch (...) {  // not a message keel wrote: leave the buffer as it is
      return 0;
    }
  }
  // A written request whose caller gave up while it waited behind others: a discarded reply takes its place,
  // and it is still cancelled if it starts alone.
  void abandon(const Reply& reply) {
    for (auto& queued : replies_) {
      if (queued.get() != &reply) continue;
      auto stand_in = std::make_shared<DiscardedReply>();
      stand_in->cancel_requested = reply.cancel_requested;
      queued = std::move(stand_in);
      return;
    }
  }

  // Cancels the request when the server is running it: now if it is first in line, else when it gets there.
  void request_cancel(Reply& reply) {
    if (reply.done || reply.cancel_requested) return;
    reply.cancel_requested = true;
    send_cancel_if_requested();
  }
  // A CancelRequest interrupts whatever the backend runs when the signal lands, so it is sent only when it can
  // land on its own request: that request is first in line and nothing was written behind it. From then on
  // nothing more is written (the fence) until the server has closed the cancel connection (the signal is
  // delivered) and the request has finished: a late signal then finds the backend waiting for a command,
  // where the server ignores it. A request with others written behind it is left to finish: its caller gets
  // its result when it comes.
  void send_cancel_if_requested() {
    if (replies_.empty() || fence_) return;
    Reply& head = *replies_.front();
    if (!head.cancel_requested || head.cancel_sent) return;
    // Only the head written, and wholly: not yet written, it is cancelled when it is; with requests written
    // behind it, or bytes of it still to go, it is left to finish.
    if (written_replies_ != 1 || out_written_rest_ > 0) return;
    head.cancel_sent = true;
    fence_.emplace(Fence{&head, false});
    // A CancelRequest goes on a connection of its own, as the protocol asks; the server closes it.
    HostSpec host = transport.host();
    auto executor = this->executor();
    const proto::BackendKeyData k = key;
    std::weak_ptr<Pipeline> weak = weak_from_this();
    keel_spawn::spawn_detached(
        executor,
        [executor, host, k]() -> asio::awaitable<void> {
          Transport side(executor);
          co_await side.connect(host, std::chrono::seconds(10));
          proto::ByteBuffer request;
          proto::write_cancel_request(request, k.process_id, k.secret_key);
          co_await side.write(request);
          std::uint8_t ignored[16];
          try {
            (void)co_await side.read_some(ignored);  // until the server closes it
          } catch (...) {}
          side.close();
        },
        [weak](std::exception_ptr) {
          if (auto self = weak.lock(); self && self->fence_) {
            self->fence_->cancel_settled = true;
            self->lift_fence_if_settled();
          }
        });
  }

  struct Fence {
    const Reply* target = nullptr;  // null once it has finished
    bool cancel_settled = false;    // the server closed the cancel connection (or it failed)
  };
  // The request a cancel was sent for writes through its own fence while it holds the connection (a COPY FROM
  // STDIN): only its own bytes can be waiting then, and a late cancel lands on it alone. It must: the server holds
  // a cancel while it waits for COPY data, so its CopyFail would otherwise wait for a fence that waits for it.
  inline bool fenced() const noexcept {
    return fence_.has_value() && !(exclusive_ && fence_->target && fence_->target->holds_connection);
  }
  // Ends the fence once the cancel is settled and its request finished, and writes what waited behind it.
  void lift_fence_if_settled() {
    if (!fence_ || fence_->target || !fence_->cancel_settled) return;
    fence_.reset();
    if (out_.empty() || broken_) return;
    if (!flush_now()) keel_spawn::spawn_detached(executor(), [self = shared_from_this()]() { return self->flush(); });
    ensure_reader();  // the requests just written are awaited by callers that may not be reading
  }

  std::vector<std::uint8_t> in_ = std::vector<std::uint8_t>(64 * 1024);
  std::size_t in_start_ = 0, in_end_ = 0, pending_consume_ = 0;
  proto::ByteBuffer out_, sending_;
  bool writing_ = false;
  bool reading_ = false;
  bool listening_ = false;
  bool broken_ = false;
  std::string broken_reason_;
  std::deque<std::shared_ptr<Reply>> replies_;

public:
  std::chrono::steady_clock::duration cancel_grace = std::chrono::seconds(5);  // see PgConnectionOptions

private:
  std::size_t written_replies_ = 0;   // how many replies, from the front, belong to requests already written
  std::size_t out_written_rest_ = 0;  // out_ begins with this many bytes of requests partly written
  std::optional<Fence> fence_;        // a cancel in flight: nothing is written until it settles
  bool exclusive_ = false;
  Waiters exclusive_waiters_;
  AsyncMessageHandler* handler_ = nullptr;
};

}  // namespace keel::pg
