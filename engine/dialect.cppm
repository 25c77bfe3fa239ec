// SQL dialects: how each engine spells placeholders, quotes identifiers and accepts names.
module;
#include <cstddef>
#include <string>
#include <string_view>
export module keel.engine:dialect;
import :error;

export namespace keel {

/// The SQL dialect an engine speaks.
enum class Dialect { sqlite, postgres };
inline constexpr std::size_t dialect_count = 2;  ///< the number of Dialect values, for tables indexed by one

/// The dialect's name: "sqlite" or "postgres".
constexpr std::string_view to_string(Dialect d) noexcept {
  return d == Dialect::sqlite ? "sqlite" : "postgres";
}

/// Whether one statement can insert many rows from one array per column (PostgreSQL's unnest): a value bound per
/// column rather than per cell, one text for any number of rows, and no limit on bound values to split by.
constexpr bool inserts_rows_from_arrays(Dialect d) noexcept { return d == Dialect::postgres; }

/// Whether a one-row insert's generated key comes back as the statement's ExecResult::last_insert_id (SQLite's
/// rowid), with no RETURNING clause: SQLite runs RETURNING through a temporary table, which costs more than the
/// insert itself.
constexpr bool reports_last_insert_id(Dialect d) noexcept { return d == Dialect::sqlite; }

/// Whether a many-row insert runs its one-row statement once per row (execute_each) rather than one statement
/// of all the rows: SQLite steps a short prepared statement per row faster than it runs a VALUES list of
/// thousands of rows, and reports each row's key without RETURNING.
constexpr bool inserts_rows_one_by_one(Dialect d) noexcept { return d == Dialect::sqlite; }

/// The rows from which a many-row insert goes through StatementRunner::insert_rows, where the engine has a faster
/// way than the insert (PostgreSQL's COPY, which costs two more round trips: the catalog asked whether COPY suits
/// the table, and the keys drawn from their sequence). None on SQLite, which steps one row at a time anyway.
constexpr std::size_t bulk_insert_min_rows(Dialect d) noexcept {
  return d == Dialect::postgres ? 100 : static_cast<std::size_t>(-1);
}

/// The most values one statement may bind: SQLite's SQLITE_MAX_VARIABLE_NUMBER default (3.32 and later) and
/// PostgreSQL's 16-bit parameter count.
constexpr std::size_t max_bound_values(Dialect d) noexcept { return d == Dialect::sqlite ? 32766 : 65535; }

/// Appends the placeholder of the 1-based parameter `number`: ? for SQLite, $n for PostgreSQL.
inline void append_placeholder(std::string& sql, Dialect d, std::size_t number) {
  if (d == Dialect::sqlite) {
    sql += '?';
  } else {
    sql += '$';
    sql += std::to_string(number);
  }
}

/// Appends an identifier in double quotes, doubling any quote inside it (both dialects).
inline void append_quoted_identifier(std::string& sql, std::string_view name) {
  sql += '"';
  for (char c : name) {
    if (c == '"') sql += '"';
    sql += c;
  }
  sql += '"';
}

/// The identifier in double quotes, as append_quoted_identifier writes it.
inline std::string quote_identifier(std::string_view name) {
  std::string out;
  append_quoted_identifier(out, name);
  return out;
}

/// Names that keel writes into SQL unquoted or builds itself (savepoints): a letter or underscore, then letters,
/// digits or underscores, at most 63 characters (PostgreSQL's NAMEDATALEN - 1).
constexpr bool is_plain_identifier(std::string_view name) noexcept {
  if (name.empty() || name.size() > 63) return false;
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!letter(name.front())) return false;
  for (char c : name)
    if (!letter(c) && !(c >= '0' && c <= '9')) return false;
  return true;
}

/// Throws InvalidIdentifierError, naming the `what` it is for, unless `name` is a plain identifier.
inline void validate_identifier(std::string_view name, std::string_view what) {
  if (!is_plain_identifier(name))
    throw InvalidIdentifierError(std::string(what) + " name '" + std::string(name) +
                                 "' is not a valid identifier: use 1 to 63 letters, digits and underscores, "
                                 "starting with a letter or underscore");
}

/// Counts the {} placeholders of a dialect-neutral SQL text; {{ and }} stand for literal braces.
/// Returns -1 for a lone brace, which the text must escape.
constexpr int count_placeholders(std::string_view text) noexcept {
  int count = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const char next = i + 1 < text.size() ? text[i + 1] : '\0';
    if (c == '{' && next == '}') { ++count; ++i; }
    else if (c == '{' && next == '{') ++i;
    else if (c == '}' && next == '}') ++i;
    else if (c == '{' || c == '}') return -1;
  }
  return count;
}

/// Renders a dialect-neutral text: each {} becomes the dialect's next placeholder, {{ and }} literal braces.
inline std::string render_placeholders(std::string_view text, Dialect d) {
  std::string sql;
  sql.reserve(text.size() + 8);
  std::size_t number = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const char next = i + 1 < text.size() ? text[i + 1] : '\0';
    if (c == '{' && next == '}') { append_placeholder(sql, d, ++number); ++i; }
    else if ((c == '{' && next == '{') || (c == '}' && next == '}')) { sql += c; ++i; }
    else sql += c;
  }
  return sql;
}

}  // namespace keel
