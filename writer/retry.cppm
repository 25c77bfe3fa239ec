// Retries of a failed batch: which failures are worth another attempt, and how long to wait before it
// (exponential backoff with jitter, a bounded number of attempts).
module;
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <random>
export module keel.writer:retry;
import keel.engine;

export namespace keel {

/// How a failed batch is retried: how many attempts, and the waits between them (exponential backoff).
struct RetryPolicy {
  std::size_t max_attempts = 3;               ///< 1: no retry
  std::chrono::milliseconds first_delay{50};  ///< the wait before the first retry
  double multiplier = 2.0;                    ///< each later wait is this many times the one before
  std::chrono::milliseconds max_delay{2000};  ///< the longest wait
  bool jitter = true;  ///< each wait drawn between half and all of its step, so that writers do not retry in step
};

}  // namespace keel

// What the writer decides with the policy; not exported.
namespace keel {

/// Whether a batch that failed with `failure` may run again without applying anything twice. Only a batch that
/// ran all or nothing in a transaction of its own (nothing of it was applied) is ever retried, and only for a
/// transient failure: a serialization failure or deadlock (40001, 40P01), a lock not available (SQLite's busy),
/// too many connections (53300), a server starting up or shutting down (57P03, 57P01), a lost connection. Never:
/// a constraint violation, a syntax error or any other error the same batch would meet again; and never a
/// COMMIT whose outcome is unknown (CommitOutcomeUnknown: it may have committed).
inline bool is_transient(std::exception_ptr failure, bool batch_in_own_transaction) {
  if (!batch_in_own_transaction) return false;
  try {
    std::rethrow_exception(failure);
  } catch (const CommitOutcomeUnknown&) {
    return false;
  } catch (const ConnectionError&) {
    return true;
  } catch (const SerializationFailure&) {
    return true;
  } catch (const DeadlockDetected&) {
    return true;
  } catch (const LockNotAvailable&) {
    return true;
  } catch (const DatabaseError& e) {
    return e.sqlstate() == "53300" || e.sqlstate() == "57P03" || e.sqlstate() == "57P01";
  } catch (...) {
    return false;
  }
}

/// Whether a failure says the target is in trouble (what the circuit breaker counts), rather than that this
/// batch is wrong (a constraint violation, a syntax error), which another batch would not meet.
inline bool is_target_failure(std::exception_ptr failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const ConnectionError&) {
    return true;
  } catch (const TimeoutError&) {
    return true;
  } catch (...) {
    return is_transient(failure, true);
  }
}

/// The wait before attempt `attempt` (2 for the first retry).
template <class Random>
std::chrono::milliseconds retry_delay(const RetryPolicy& policy, std::size_t attempt, Random& random) {
  double step = static_cast<double>(policy.first_delay.count());
  for (std::size_t i = 2; i < attempt; ++i) step *= policy.multiplier;
  step = std::min(step, static_cast<double>(policy.max_delay.count()));
  if (policy.jitter) step *= std::uniform_real_distribution<double>(0.5, 1.0)(random);
  return std::chrono::milliseconds(static_cast<long long>(step));
}

}  // namespace keel
