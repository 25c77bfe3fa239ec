// What stops a running SQLite statement, through SQLite's progress and busy handlers: the caller's
// cancellation, its command_timeout, or (on the calling thread) the end of its time there. A statement is never
// stopped by sqlite3_interrupt from another thread: a late interrupt would hit whatever the connection runs next.
module;
#include <sqlite3.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
export module keel.sqlite:watch;
import keel.engine;
import :errors;
import :options;

namespace keel::sqlite_detail {

class StatementWatch {
public:
  using Clock = std::chrono::steady_clock;

  // Installs the handlers on db, which must outlive the watch's use. The watch must not move.
  StatementWatch(sqlite3* db, const SqliteOptions& options)
      : db_(db),
        busy_timeout_(options.busy_timeout),
        inline_budget_(options.max_inline_time),
        command_timeout_(options.command_timeout) {
    // Called about every kProgressSteps virtual machine instructions: a few microseconds apart.
    sqlite3_progress_handler(db_, kProgressSteps, &StatementWatch::on_progress, this);
    sqlite3_busy_handler(db_, &StatementWatch::on_busy, this);
  }
  StatementWatch(const StatementWatch&) = delete;
  StatementWatch& operator=(const StatementWatch&) = delete;

  // A call (a statement, a fetch, a transaction's control statement) begins, on the calling thread.
  inline void start_call() {
    cancel_requested_.store(false, std::memory_order_relaxed);
    stop_ = Stop::none;
    deadline_ = command_timeout_ ? std::optional(Clock::now() + *command_timeout_) : std::nullopt;
  }
  // From the caller's thread while the call runs on a worker: the statement stops at its next check.
  void cancel() noexcept { cancel_requested_.store(true, std::memory_order_relaxed); }

  // Steps on the calling thread begin. The watch never waits for a lock then (a busy database fails at once,
  // and the caller goes on on a worker), and past the budget it asks the caller to move: a restartable
  // statement (a read that has handed out no row) is interrupted, any other is flagged at its next row.
  inline void enter_inline(bool restartable) {
    inline_ = true;
    restartable_ = restartable;
    rows_ = 0;
    overran_ = false;
    inline_since_.reset();  // set at the first progress call: a statement that ends before it is fast
  }
  inline void leave_inline() { inline_ = false; }
  inline void row_delivered() { ++rows_; }
  inline bool overran() const { return overran_; }
  inline bool stopped_for_overrun() const { return stop_ == Stop::overran; }
  bool inline_enabled() const { return inline_budget_.count() > 0; }
  std::chrono::microseconds inline_budget() const { return inline_budget_; }

  // Throws the error of a failed step: CanceledError or TimeoutError when the watch stopped it.
  [[noreturn]] void fail(std::string_view sql) const {
    // Only a statement the watch stopped (interrupted, or let go of a lock) fails for the cancel or the deadline;
    // any other error is the database's own, a unique violation say.
    const int code = sqlite3_extended_errcode(db_) & 0xff;
    if (code != SQLITE_INTERRUPT && code != SQLITE_BUSY && code != SQLITE_LOCKED)
      throw_error(sqlite3_extended_errcode(db_), sqlite3_errmsg(db_));
    if (cancel_requested_.load(std::memory_order_relaxed))
      throw CanceledError("the SQLite statement was cancelled: " + std::string(sql));
    if (stop_ == Stop::timed_out || (deadline_ && Clock::now() >= *deadline_))
      throw TimeoutError("the SQLite statement ran past command_timeout (" +
                         std::to_string(command_timeout_ ? command_timeout_->count() : 0) +
                         " ms): " + std::string(sql));
    throw_error(sqlite3_extended_errcode(db_), sqlite3_errmsg(db_));
  }

private:
  enum class Stop { none, canceled, timed_out, overran };
  static constexpr int kProgressSteps = 1000;

  static int on_progress(void* self) { return static_cast<StatementWatch*>(self)->progress(); }
  int progress() {
    if (cancel_requested_.load(std::memory_order_relaxed)) {
      stop_ = Stop::canceled;
      return 1;
    }
    if (!deadline_ && !inline_) return 0;
    const auto now = Clock::now();
    if (deadline_ && now >= *deadline_) {
      stop_ = Stop::timed_out;
      return 1;
    }
    if (inline_ && !overran_) {
      if (!inline_since_)
        inline_since_ = now;
      else if (now - *inline_since_ >= inline_budget_) {
        if (restartable_ && rows_ == 0) {
          stop_ = Stop::overran;
          return 1;
        }
        overran_ = true;
      }
    }
    return 0;
  }

  // SQLite's own busy timeout, in steps short enough to notice a cancellation or the deadline.
  static int on_busy(void* self, int count) { return static_cast<StatementWatch*>(self)->busy(count); }
  int busy(int count) {
    if (inline_ || cancel_requested_.load(std::memory_order_relaxed)) return 0;
    const auto now = Clock::now();
    if (count == 0) busy_since_ = now;
    if (deadline_ && now >= *deadline_) {
      stop_ = Stop::timed_out;
      return 0;
    }
    const auto waited = now - busy_since_;
    if (waited >= busy_timeout_) return 0;
    // Short first waits: a lock is mostly held for a commit or a checkpoint, a millisecond or two.
    static constexpr int kDelaysUs[] = {50, 100, 200, 500, 1000, 2000, 5000, 10000};
    const auto delay = std::chrono::microseconds(kDelaysUs[std::min<std::size_t>(count, std::size(kDelaysUs) - 1)]);
    std::this_thread::sleep_for(std::min<Clock::duration>(delay, busy_timeout_ - waited));
    return 1;
  }

  sqlite3* db_;
  std::chrono::milliseconds busy_timeout_;
  std::chrono::microseconds inline_budget_;
  std::optional<std::chrono::milliseconds> command_timeout_;
  std::atomic<bool> cancel_requested_{false};  // the only member written from another thread
  Stop stop_ = Stop::none;
  std::optional<Clock::time_point> deadline_;
  bool inline_ = false;
  bool restartable_ = false;
  bool overran_ = false;
  std::size_t rows_ = 0;
  std::optional<Clock::time_point> inline_since_;
  Clock::time_point busy_since_{};
};

}  // namespace keel::sqlite_detail
