// A connection's prepared statements by SQL text, the least recently used dropped beyond the cache's size. Each
// remembers whether its last run was fast, which decides where its next run starts (see max_inline_time).
module;
#include <sqlite3.h>
#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
export module keel.sqlite:statement_cache;

namespace keel::sqlite_detail {

struct PreparedStatement {
  sqlite3_stmt* stmt = nullptr;
  bool fast = false;  // its last run took less than max_inline_time
};

class StatementCache {
public:
  explicit StatementCache(std::size_t capacity) : capacity_(capacity) {}
  ~StatementCache() {
    for (auto& [sql, entry] : entries_) sqlite3_finalize(entry.prepared.stmt);
  }
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;

  bool enabled() const { return capacity_ > 0; }

  // The statement prepared for this text, now the most recently used; null when there is none.
  inline PreparedStatement* find(std::string_view sql) {
    const auto found = entries_.find(sql);
    if (found == entries_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, found->second.position);
    return &found->second.prepared;
  }

  // Takes ownership of stmt, prepared from sql; finalizes the least recently used beyond the capacity.
  PreparedStatement& add(std::string_view sql, sqlite3_stmt* stmt) {
    lru_.emplace_front(sql);
    auto [entry, added] = entries_.emplace(std::string_view(lru_.front()), Entry{{stmt, false}, lru_.begin()});
    if (entries_.size() > capacity_) {
      const auto oldest = entries_.find(std::string_view(lru_.back()));
      sqlite3_finalize(oldest->second.prepared.stmt);
      entries_.erase(oldest);
      lru_.pop_back();
    }
    return entry->second.prepared;
  }

private:
  struct Entry {
    PreparedStatement prepared;
    std::list<std::string>::iterator position;
  };
  std::size_t capacity_;
  std::list<std::string> lru_;  // most recently used first; the map's keys view these strings
  std::unordered_map<std::string_view, Entry> entries_;
};

}  // namespace keel::sqlite_detail
