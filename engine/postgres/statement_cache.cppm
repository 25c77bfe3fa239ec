// A PgConnection's prepared statements, by text and parameter types (asyncpg's statement cache): the least
// recently used is dropped past the size limit, one older than its lifetime is prepared again, and a dropped
// statement's Close goes out with the next request, once nothing uses it. Sans-io: the connection prepares and
// sends; this keeps, decides and writes the Close messages. Not exported.
module;
#include <time.h>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>
export module keel.postgres:statement_cache;
import keel.postgres.protocol;
import :call_options;

namespace keel::pg {

/// steady_clock's time to within a few milliseconds, for checks on that scale (a cached statement's age) that
/// run with every query: a coarse clock is read without the cost of a precise one (a system call on some VMs).
inline std::chrono::steady_clock::time_point coarse_now() noexcept {
#if defined(CLOCK_MONOTONIC_COARSE)
  timespec now{};
  if (::clock_gettime(CLOCK_MONOTONIC_COARSE, &now) == 0)
    return std::chrono::steady_clock::time_point(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec)));
#endif
  return std::chrono::steady_clock::now();
}

// Statement: a statement the server parsed and described; the cache reads only its `name`.
template <class Statement>
class StatementCache {
public:
  using Clock = std::chrono::steady_clock;

  // Takes the cache's limits: statement_cache_size, max_cached_statement_lifetime, max_cacheable_statement_size.
  explicit StatementCache(const PgConnectionOptions& limits)
      : capacity_(limits.statement_cache_size),
        lifetime_(limits.max_cached_statement_lifetime),
        max_text_size_(limits.max_cacheable_statement_size) {}

  // How many statements it keeps at most; 0: none (every text is prepared unnamed).
  inline std::size_t capacity() const noexcept { return capacity_; }
  inline std::size_t size() const noexcept { return entries_.size(); }

  // Whether a text is kept at all: not when the cache holds none, nor when the text is over the size limit.
  inline bool caches(std::string_view sql) const noexcept {
    return capacity_ > 0 && (max_text_size_ == 0 || sql.size() <= max_text_size_);
  }

  // The statement kept for this text and these parameter types, if it is younger than its lifetime at `now`; it
  // becomes the most recently used. An expired one is dropped. A hit allocates nothing: the last statement
  // found is recognised in place (a loop of one query), any other by a key built in a reused buffer.
  std::shared_ptr<const Statement> find(std::string_view sql, std::span<const std::uint32_t> types,
                                        Clock::time_point now) {
    if (entries_.empty() || !caches(sql)) return nullptr;
    Entry* entry = last_hit_ && key_is(*last_hit_->position, sql, types) ? last_hit_ : nullptr;
    if (!entry) {
      const auto found = entries_.find(key(sql, types));
      if (found == entries_.end()) return nullptr;
      entry = &found->second;
    }
    if (lifetime_.count() > 0 && now - entry->prepared_at > lifetime_) {
      forget(*entry->position);
      return nullptr;
    }
    if (recently_used_.begin() != entry->position)
      recently_used_.splice(recently_used_.begin(), recently_used_, entry->position);
    last_hit_ = entry;
    return entry->statement;
  }

  // The key of a text and its parameter types: the text, a zero byte, the types' OIDs as raw bytes. Valid until
  // the next call; copy it to keep it.
  const std::string& key(std::string_view sql, std::span<const std::uint32_t> types) {
    key_buffer_.assign(sql);
    key_buffer_ += '\0';
    key_buffer_.append(reinterpret_cast<const char*>(types.data()), types.size() * sizeof(std::uint32_t));
    return key_buffer_;
  }

  // Keeps a statement just prepared (its key not kept yet), prepared at `now`, dropping the least recently used
  // when full.
  std::shared_ptr<const Statement> add(std::string key, Statement statement, Clock::time_point now) {
    if (entries_.size() >= capacity_ && !recently_used_.empty()) forget(recently_used_.back());
    recently_used_.push_front(std::move(key));
    auto shared = std::make_shared<const Statement>(std::move(statement));
    entries_.emplace(recently_used_.front(), Entry{shared, recently_used_.begin(), now});
    return shared;
  }

  // Drops the statement of this key, if kept; its Close is written by write_closes once nothing holds it.
  void forget(const std::string& key) {
    const auto found = entries_.find(key);
    if (found == entries_.end()) return;
    if (last_hit_ == &found->second) last_hit_ = nullptr;
    if (found->second.statement.use_count() > 1)
      closed_when_unused_.push_back(found->second.statement);
    else
      to_close_.push_back(found->second.statement->name);
    recently_used_.erase(found->second.position);  // `key` may be this element: not read after this line
    entries_.erase(found);
  }

  // Appends a Close for each dropped statement that nothing holds any more.
  void write_closes(protocol::ByteBuffer& out) {
    std::erase_if(closed_when_unused_, [&](const std::shared_ptr<const Statement>& statement) {
      if (statement.use_count() > 1) return false;
      to_close_.push_back(statement->name);
      return true;
    });
    for (const std::string& name : to_close_) protocol::write_close(out, protocol::Target::statement, name);
    to_close_.clear();
  }

private:
  struct Entry {
    std::shared_ptr<const Statement> statement;
    std::list<std::string>::iterator position;  // its key in recently_used_
    Clock::time_point prepared_at;
  };

  // Whether a key (key()'s form) is the one for this text and these parameter types, compared in place.
  static bool key_is(const std::string& key, std::string_view sql, std::span<const std::uint32_t> types) noexcept {
    const std::size_t type_bytes = types.size() * sizeof(std::uint32_t);
    return key.size() == sql.size() + 1 + type_bytes && key[sql.size()] == '\0' &&
           std::memcmp(key.data(), sql.data(), sql.size()) == 0 &&
           (type_bytes == 0 || std::memcmp(key.data() + sql.size() + 1, types.data(), type_bytes) == 0);
  }

  std::size_t capacity_;
  std::chrono::seconds lifetime_;  // zero: no limit
  std::size_t max_text_size_;      // zero: no limit
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> recently_used_;  // keys, the most recently used first
  Entry* last_hit_ = nullptr;             // the entry find found last (the map's elements never move)
  std::string key_buffer_;
  std::vector<std::string> to_close_;  // dropped statements' names, for the next write
  // Dropped while something (a portal, a pipelined batch) still held them: closed once it lets go, since closing
  // a statement closes the portals made from it.
  std::vector<std::shared_ptr<const Statement>> closed_when_unused_;
};

}  // namespace keel::pg
