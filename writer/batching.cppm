// Where a list of statements splits into batches: each batch as long as it can be while its SQL text stays
// within max_bytes and its bound values within max_parameters. A pure function, so the limits are tested
// exactly without a database.
module;
#include <cstddef>
#include <span>
#include <string>
#include <vector>
export module keel.writer:batching;
import keel.engine;

export namespace keel {

/// How big one batch may be.
struct BatchLimits {
  std::size_t max_bytes = 1'000'000;   ///< the SQL text of one batch, its statements' texts added up
  std::size_t max_parameters = 65535;  ///< the bound values of one batch
};

}  // namespace keel

namespace keel {

/// The bytes a statement counts for: its text.
inline std::size_t statement_bytes(const Statement& statement) noexcept { return statement.sql().size(); }

/// The end (one past the last index) of the first batch of a non-empty list. A statement over max_bytes on its
/// own goes in a batch of its own: a text is never cut. One with more values than max_parameters is refused
/// (MisuseError), as the database would refuse it.
inline std::size_t first_batch_end(std::span<const Statement> statements, const BatchLimits& limits) {
  std::size_t bytes = 0, parameters = 0, i = 0;
  for (; i < statements.size(); ++i) {
    const std::size_t b = statement_bytes(statements[i]);
    const std::size_t p = statements[i].params().size();
    if (p > limits.max_parameters)
      throw MisuseError("a statement binds " + std::to_string(p) + " values, more than the " +
                        std::to_string(limits.max_parameters) + " one statement may: split it");
    if (i > 0 && (bytes + b > limits.max_bytes || parameters + p > limits.max_parameters)) break;
    bytes += b;
    parameters += p;
  }
  return i;
}

}  // namespace keel

export namespace keel {

/// The end of each batch, in order.
inline std::vector<std::size_t> batch_ends(std::span<const Statement> statements, const BatchLimits& limits) {
  std::vector<std::size_t> ends;
  for (std::size_t start = 0; start < statements.size();)
    ends.push_back(start += first_batch_end(statements.subspan(start), limits));
  return ends;
}

}  // namespace keel
