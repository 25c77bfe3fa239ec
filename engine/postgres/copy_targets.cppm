// Whether PostgresEngine may write a many-row insert by COPY: COPY stores what the INSERT would only into a plain
// or partitioned table without rules (COPY ignores them), without row-level security (which refuses COPY FROM),
// and where no listed column is GENERATED ALWAYS (an identity refuses an INSERT's value but takes COPY's; a
// generated column refuses both, with other errors); and only for values whose text COPY's column input reads
// as the INSERT's bound value is cast (copies_as_bound). Asked of the catalog in the insert's own session and
// transaction, each time: a rule or a type change made since, or another session's temporary table of the same
// name, cannot mislead it.
module;
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
export module keel.postgres:copy_targets;
import keel.engine;
import :connection;

namespace asio = boost::asio;

namespace keel::pg {

// None when COPY may not stand in for the INSERT into `target`; else each listed column's type.
asio::awaitable<std::optional<std::vector<std::uint32_t>>> copy_column_types(PgConnection& connection,
                                                                             const InsertTarget& target) {
  const auto row = co_await connection.fetchrow(
      "SELECT c.relkind IN ('r', 'p') AND NOT c.relhasrules AND NOT c.relrowsecurity AND NOT EXISTS ("
      "  SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = ANY($2)"
      "  AND (a.attidentity = 'a' OR a.attgenerated <> '')),"
      " ARRAY(SELECT a.atttypid::int8 FROM unnest($2::text[]) WITH ORDINALITY AS k(name, i)"
      "  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = k.name AND a.attnum > 0 AND NOT a.attisdropped"
      "  ORDER BY k.i)"
      " FROM pg_class c WHERE c.oid = to_regclass($1)",
      target.table, target.columns);
  if (!row || !row->get<bool>(0)) co_return std::nullopt;  // no such table (the INSERT will say so), or not one COPY suits
  const auto types = row->get<std::vector<std::int64_t>>(1);
  if (types.size() != target.columns.size()) co_return std::nullopt;  // a column it lacks: the INSERT will say so
  co_return std::vector<std::uint32_t>(types.begin(), types.end());
}

}  // namespace keel::pg
