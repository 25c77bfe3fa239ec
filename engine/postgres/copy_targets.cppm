// Whether PostgresEngine may write a many-row insert by COPY: COPY stores what the INSERT would only into a plain
// or partitioned table without rules (COPY ignores them), without row-level security (which refuses COPY FROM),
// and where no listed column is GENERATED ALWAYS (an identity refuses an INSERT's value but takes COPY's; a
// generated column refuses both, with other errors); and only for values whose text COPY's column input reads
// as the INSERT's bound value is cast (copies_as_bound). Asked of the catalog in the insert's own session and
// transaction, each time: a rule or a type change made before it, or another session's temporary table of the
// same name, cannot mislead it. No lock is held between the question and the COPY (the lock an INSERT takes
// needs table-wide privileges that a column-wise INSERT does not): a rule or a trigger created by another
// session in those milliseconds is not seen.
//
// An insert that returns its generated key goes by COPY only where the engine can draw the keys first, as the
// INSERT's default would: the key is an identity, or a serial whose default is nextval() of the sequence it
// owns, counting up (so that its keys, drawn in row order, are the ones the INSERT's RETURNING gives, sorted),
// which the user may use; no BEFORE INSERT row trigger could change a key or drop a row, and no foreign table
// could run one of its own, anywhere in the table's partitions or children; and the user may insert into the key
// column and read it, as RETURNING does.
module;
#include <boost/asio/awaitable.hpp>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
export module keel.postgres:copy_targets;
import keel.engine;
import :calls;
import :connection;

namespace asio = boost::asio;

namespace keel::pg {

struct CopyTarget {
  std::vector<std::uint32_t> column_types;  // each listed column's type, in order
  std::uint32_t key_sequence = 0;           // the returned key's sequence; 0 when no key is asked
};

// None when COPY may not stand in for the INSERT into `target`.
asio::awaitable<std::optional<CopyTarget>> copy_target(PgConnection& connection, const InsertTarget& target);

// `count` keys drawn from `sequence` by nextval(), in the order the INSERT's defaults would draw them.
asio::awaitable<std::vector<std::int64_t>> draw_keys(PgConnection& connection, std::uint32_t sequence,
                                                     std::size_t count);

}  // namespace keel::pg

namespace keel::pg {
namespace {

int major_version(std::string_view server_version) {
  int major = 0;
  std::from_chars(server_version.data(), server_version.data() + server_version.size(), major);
  return major;
}

// A string as an SQL literal that reads the same whatever standard_conforming_strings says.
std::string string_literal(std::string_view text) {
  std::string out = "E'";
  for (const char c : text) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out += '\'';
}

// The key's sequence where the engine may draw its keys first; NULL otherwise.
std::string key_sequence_column(const std::string& key) {
  return "(SELECT s.oid::int8 FROM pg_attribute a"
         "  JOIN pg_class s ON s.oid = pg_get_serial_sequence(c.oid::regclass::text, a.attname)::regclass"
         "  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
         "  WHERE a.attrelid = c.oid AND a.attname = " +
         key +
         " AND a.attnum > 0 AND NOT a.attisdropped"
         "  AND (a.attidentity <> '' OR"
         "       pg_get_expr(d.adbin, d.adrelid) = 'nextval(' || quote_literal(s.oid::regclass::text) || '::regclass)')"
         "  AND (has_sequence_privilege(s.oid, 'USAGE') OR has_sequence_privilege(s.oid, 'UPDATE'))"
         "  AND (SELECT q.seqincrement > 0 FROM pg_sequence q WHERE q.seqrelid = s.oid)"
         "  AND has_column_privilege(c.oid, a.attnum, 'INSERT') AND has_column_privilege(c.oid, a.attnum, 'SELECT')"
         "  AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid IN (SELECT relid FROM tree)"
         "                  AND t.tgtype & 7 = 7 AND NOT t.tgisinternal AND t.tgenabled <> 'D')"
         "  AND NOT EXISTS (SELECT 1 FROM pg_class f WHERE f.oid IN (SELECT relid FROM tree) AND f.relkind = 'f'))";
}

// The target's names are written into the text as literals, not bound: a statement without parameters keeps
// one generic plan in the session, where bound names would be planned again on each insert (0.4 ms).
std::string copy_target_query(int server_major, const InsertTarget& target) {
  const std::string table = string_literal(target.table);
  std::string columns = "ARRAY[";
  for (std::size_t i = 0; i < target.columns.size(); ++i)
    columns += (i ? ", " : "") + string_literal(target.columns[i]);
  columns += "]::text[]";
  // attgenerated came with PostgreSQL 12; before it, no column is generated.
  const std::string generated = server_major >= 12 ? " OR a.attgenerated <> ''" : "";
  return "WITH RECURSIVE tree(relid) AS (SELECT to_regclass(" + table +
         ")::oid"
         " UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.relid)"
         " SELECT c.relkind IN ('r', 'p') AND NOT c.relhasrules AND NOT c.relrowsecurity AND NOT EXISTS ("
         "  SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = ANY(" +
         columns +
         ")"
         "  AND (a.attidentity = 'a'" +
         generated +
         ")),"
         " ARRAY(SELECT a.atttypid::int8 FROM unnest(" +
         columns +
         ") WITH ORDINALITY AS k(name, i)"
         "  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = k.name AND a.attnum > 0 AND NOT a.attisdropped"
         "  ORDER BY k.i), " +
         (target.returned_key.empty() ? std::string("NULL::int8")
                                      : key_sequence_column(string_literal(target.returned_key))) +
         " FROM pg_class c WHERE c.oid = to_regclass(" + table + ")";
}

}  // namespace

asio::awaitable<std::optional<CopyTarget>> copy_target(PgConnection& connection, const InsertTarget& target) {
  const auto row = co_await connection.fetchrow(copy_target_query(major_version(connection.server_version()), target));
  if (!row || !row->get<bool>(0))
    co_return std::nullopt;  // no such table (the INSERT will say so), or not one COPY suits
  const auto types = row->get<std::vector<std::int64_t>>(1);
  if (types.size() != target.columns.size()) co_return std::nullopt;  // a column it lacks: the INSERT will say so
  CopyTarget found{.column_types = std::vector<std::uint32_t>(types.begin(), types.end())};
  if (!target.returned_key.empty()) {
    const auto sequence = row->get<std::optional<std::int64_t>>(2);
    if (!sequence) co_return std::nullopt;
    found.key_sequence = static_cast<std::uint32_t>(*sequence);
  }
  co_return found;
}

asio::awaitable<std::vector<std::int64_t>> draw_keys(PgConnection& connection, std::uint32_t sequence,
                                                     std::size_t count) {
  const auto row =
      co_await connection.fetchrow("SELECT ARRAY(SELECT nextval($1::oid::regclass) FROM generate_series(1, $2))",
                                   static_cast<std::int64_t>(sequence), static_cast<std::int64_t>(count));
  auto keys = row ? row->get<std::vector<std::int64_t>>(0) : std::vector<std::int64_t>{};
  if (keys.size() != count)
    throw ProtocolError("the server drew " + std::to_string(keys.size()) + " keys for " + std::to_string(count) +
                        " rows");
  co_return keys;
}

}  // namespace keel::pg
