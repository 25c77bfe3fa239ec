// A query's SQL text is rendered once per query type, dialect and run-time choice, and shared by every later
// statement of that shape: later runs only collect the values. Everything else that shapes the text is in the
// query's type (see TextShape), so the cache key is the type, the dialect and the choices made this run.
module;
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
export module keel.orm:text_cache;
import keel.engine;
import :sql_writer;

export namespace keel {

/// The text of a query, rendered now, with no cache: what the cache must always give back.
template <class Q>
std::string render_text(const Q& query, Dialect dialect) {
  SqlWriter writer(dialect);
  query.write(writer);
  return writer.take_text();
}

/// A query with more run-time choices than this renders its text on every run instead of caching 2^n texts.
inline constexpr unsigned max_cached_choices = 4;

/// Whether Q's text is rendered once per dialect and choice, and cached: its shape is fixed, with few choices.
template <class Q>
inline constexpr bool text_is_cached = Q::shape.fixed && Q::shape.choices <= max_cached_choices;

}  // namespace keel

namespace keel {

std::mutex& text_cache_mutex() {
  static std::mutex mutex;
  return mutex;
}

struct CachedText {
  std::atomic<bool> ready{false};
  std::shared_ptr<const std::string> text;
};

// The slot of a query type for a dialect and a set of choices; constant-initialized, so a lookup is an index
// and one acquire load.
template <class Q>
CachedText& text_slot(Dialect dialect, std::uint64_t choices) {
  constexpr std::size_t per_dialect = std::size_t{1} << Q::shape.choices;
  static std::array<CachedText, per_dialect * dialect_count> slots;
  return slots[static_cast<std::size_t>(dialect) * per_dialect + static_cast<std::size_t>(choices)];
}

}  // namespace keel

export namespace keel {

/// The statement of `query` in `dialect`: the cached text, when there is one (rendered on the first run), and
/// the values written this run.
template <class Q>
Statement make_statement(const Q& query, Dialect dialect) {
  if constexpr (text_is_cached<Q>) {
    SqlWriter values(dialect, /*write_text=*/false);
    query.write(values);
    CachedText& slot = text_slot<Q>(dialect, values.choice_key());
    if (!slot.ready.load(std::memory_order_acquire)) {
      std::lock_guard lock(text_cache_mutex());
      if (!slot.ready.load(std::memory_order_relaxed)) {
        slot.text = std::make_shared<const std::string>(render_text(query, dialect));
        slot.ready.store(true, std::memory_order_release);
      }
    }
    return Statement(slot.text, values.take_params());
  } else {
    SqlWriter writer(dialect);
    query.write(writer);
    return Statement(writer.take_text(), writer.take_params());
  }
}

}  // namespace keel
