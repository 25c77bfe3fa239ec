// Whether PostgresEngine may write a many-row insert by COPY, per target table and columns: COPY stores what the
// INSERT would only into a plain or partitioned table without rules (COPY ignores them), without row-level
// security (which refuses COPY FROM), and not into a GENERATED ALWAYS identity column (which refuses an
// INSERT's value but takes COPY's); and only for values whose text COPY's column input reads as the INSERT's
// bound value is cast (copies_as_bound). Asked of the catalog once per target and kept for the engine's life.
module;
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>
export module keel.postgres:copy_targets;
import keel.engine;
import :connection;

namespace asio = boost::asio;

namespace keel::pg {

// What the catalog says of one target: none when COPY may not stand in for the INSERT, else each column's type.
using CopyPlan = std::optional<std::vector<std::uint32_t>>;

class CopyTargets {
public:
  asio::awaitable<std::shared_ptr<const CopyPlan>> plan(PgConnection& connection, const InsertTarget& target) {
    std::string key = target.table;
    for (const std::string& column : target.columns) key += '\0' + column;
    {
      std::lock_guard lock(mutex_);
      if (auto found = plans_.find(key); found != plans_.end()) co_return found->second;
    }
    auto plan = std::make_shared<const CopyPlan>(co_await ask(connection, target));
    std::lock_guard lock(mutex_);
    co_return plans_.emplace(std::move(key), std::move(plan)).first->second;
  }

private:
  static asio::awaitable<CopyPlan> ask(PgConnection& connection, const InsertTarget& target) {
    const auto row = co_await connection.fetchrow(
        "SELECT c.relkind IN ('r', 'p') AND NOT c.relhasrules AND NOT c.relrowsecurity AND NOT EXISTS ("
        "  SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attidentity = 'a' AND a.attname = ANY($2)),"
        " ARRAY(SELECT a.atttypid::int8 FROM unnest($2::text[]) WITH ORDINALITY AS k(name, i)"
        "  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = k.name AND a.attnum > 0 AND NOT a.attisdropped"
        "  ORDER BY k.i)"
        " FROM pg_class c WHERE c.oid = to_regclass($1)",
        target.table, target.columns);
    if (!row || !row->get<bool>(0)) co_return std::nullopt;  // no such table (the INSERT will say so), or not one COPY suits
    const auto types = row->get<std::vector<std::int64_t>>(1);
    if (types.size() != target.columns.size()) co_return std::nullopt;
    co_return std::vector<std::uint32_t>(types.begin(), types.end());
  }

  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const CopyPlan>, std::less<>> plans_;
};

}  // namespace keel::pg
