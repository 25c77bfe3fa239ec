// A circuit breaker per write target: after failure_threshold batches in a row fail, it opens and new batches
// fail at once with CircuitOpenError, sparing a database that is down; after cool_down it lets one batch
// through (half-open), and closes again when that one succeeds, or opens for another cool_down when it fails.
module;
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
export module keel.writer:circuit_breaker;
import keel.engine;

export namespace keel {

/// When a CircuitBreaker opens, and for how long.
struct CircuitBreakerOptions {
  std::size_t failure_threshold = 5;  ///< 0: never opens
  /// How long it stays open before it lets a trial batch through.
  std::chrono::steady_clock::duration cool_down = std::chrono::seconds(30);
  /// The clock it reads; tests give a fake one.
  std::function<std::chrono::steady_clock::time_point()> clock = [] { return std::chrono::steady_clock::now(); };
};

/// A circuit breaker for one write target: after failure_threshold batches in a row fail, it opens and new
/// batches fail at once with CircuitOpenError; after cool_down it lets one batch through (half-open), and closes
/// again when that one succeeds, or opens for another cool_down when it fails.
class CircuitBreaker {
public:
  /// Closed: batches go through. Open: they fail at once. Half-open: one trial batch goes through.
  enum class State { closed, open, half_open };

  /// A closed breaker.
  explicit CircuitBreaker(CircuitBreakerOptions options = {}) : options_(std::move(options)) {}

  /// Before a batch: throws CircuitOpenError while open (or while the one half-open trial runs).
  void before_batch() {
    std::lock_guard lock(mutex_);
    if (state_ == State::open && options_.clock() - opened_at_ >= options_.cool_down) {
      state_ = State::half_open;
      trial_running_ = false;
    }
    if (state_ == State::closed) return;
    if (state_ == State::half_open && !trial_running_) {
      trial_running_ = true;
      return;
    }
    throw CircuitOpenError("the bulk writer's circuit breaker is open after " + std::to_string(failures_) +
                           " failed batches in a row; nothing was sent");
  }
  /// After a batch that succeeded: closes the breaker.
  void on_success() {
    std::lock_guard lock(mutex_);
    state_ = State::closed;
    failures_ = 0;
    trial_running_ = false;
  }
  /// After a batch that failed because of the target: counts it, and opens the breaker at failure_threshold
  /// failures in a row, or when the half-open trial failed.
  void on_failure() {
    std::lock_guard lock(mutex_);
    ++failures_;
    trial_running_ = false;
    if (state_ == State::half_open || (options_.failure_threshold > 0 && failures_ >= options_.failure_threshold)) {
      state_ = State::open;
      opened_at_ = options_.clock();
    }
  }
  /// A batch that failed for its own reasons (a constraint violation): it says nothing of the target, but ends a
  /// half-open trial, so that the next batch may try.
  void on_neutral() {
    std::lock_guard lock(mutex_);
    trial_running_ = false;
  }
  /// The breaker's state now. Open reads as half-open once its cool-down has passed: the next batch goes through.
  State state() const {
    std::lock_guard lock(mutex_);
    if (state_ == State::open && options_.clock() - opened_at_ >= options_.cool_down) return State::half_open;
    return state_;
  }

private:
  CircuitBreakerOptions options_;
  mutable std::mutex mutex_;
  State state_ = State::closed;
  std::size_t failures_ = 0;
  bool trial_running_ = false;
  std::chrono::steady_clock::time_point opened_at_{};
};

}  // namespace keel
