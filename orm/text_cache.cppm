// A query's SQL text is rendered once per query type, dialect and run-time choice, and shared by every later
// statement of that shape: later runs only collect the values. Everything else that shapes the text is in the
// query's type (see TextShape), so the cache key is the type, the dialect and the choices made this run.
// Nothing here is exported.
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

namespace keel {

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

// A query type's texts in one dialect, a slot per set of choices; `dialect` is claimed once, under the mutex.
template <std::size_t Choices>
struct DialectTexts {
  std::atomic<const DialectDescription*> dialect{nullptr};
  std::array<CachedText, Choices> texts;
};

// How many dialects a query type keeps texts for; a process that runs one query on more (engines of its own)
// renders the text on each run in the others.
inline constexpr std::size_t max_cached_dialects = 4;

// The slot of a query type for a dialect and a set of choices, or null when every dialect's place is taken.
// Constant-initialized, so a lookup is a scan of a few acquire loads, the first one the usual hit.
template <class Q>
CachedText* text_slot(Dialect dialect, std::uint64_t choices) {
  constexpr std::size_t per_dialect = std::size_t{1} << Q::shape.choices;
  static std::array<DialectTexts<per_dialect>, max_cached_dialects> slots;
  const DialectDescription* wanted = &dialect.description();
  for (DialectTexts<per_dialect>& slot : slots) {
    const DialectDescription* owner = slot.dialect.load(std::memory_order_acquire);
    if (owner == wanted) return &slot.texts[static_cast<std::size_t>(choices)];
    if (owner == nullptr) break;
  }
  std::lock_guard lock(text_cache_mutex());
  for (DialectTexts<per_dialect>& slot : slots) {
    const DialectDescription* owner = slot.dialect.load(std::memory_order_relaxed);
    if (owner == nullptr) slot.dialect.store(owner = wanted, std::memory_order_release);
    if (owner == wanted) return &slot.texts[static_cast<std::size_t>(choices)];
  }
  return nullptr;
}

}  // namespace keel

namespace keel {

/// The statement of `query` in `dialect`: the cached text, when there is one (rendered on the first run), and
/// the values written this run.
template <class Q>
Statement make_statement(const Q& query, Dialect dialect) {
  if constexpr (text_is_cached<Q>) {
    SqlWriter values(dialect, /*write_text=*/false);
    query.write(values);
    CachedText* slot = text_slot<Q>(dialect, values.choice_key());
    if (slot == nullptr) return Statement(render_text(query, dialect), values.take_params());
    if (!slot->ready.load(std::memory_order_acquire)) {
      std::lock_guard lock(text_cache_mutex());
      if (!slot->ready.load(std::memory_order_relaxed)) {
        slot->text = std::make_shared<const std::string>(render_text(query, dialect));
        slot->ready.store(true, std::memory_order_release);
      }
    }
    return Statement(slot->text, values.take_params());
  } else {
    SqlWriter writer(dialect);
    query.write(writer);
    return Statement(writer.take_text(), writer.take_params());
  }
}

}  // namespace keel
