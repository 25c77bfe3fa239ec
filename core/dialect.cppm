// SQL dialects as descriptions: what an engine's SQL spells differently and what its statements can do. The ORM
// and the bulk writer ask the description of the engine they run on and never name a database, so a new engine
// brings its own description and the query builder stays as it is.
module;
#include <cstddef>
#include <string>
#include <string_view>
export module keel.core:dialect;
import :error;

export namespace keel {

/// How a statement marks its bound values.
enum class PlaceholderStyle {
  question_mark,  ///< ? for each value, in order (SQLite)
  dollar_number,  ///< $1, $2, ... (PostgreSQL)
};

/// How LIKE patterns match letters' case, and which operator matches the other way.
enum class PatternMatching {
  like_and_ilike,  ///< LIKE matches case, ILIKE ignores it (PostgreSQL)
  like_and_glob,   ///< LIKE ignores ASCII case (with ESCAPE for '\'), GLOB matches case with its own wildcards (SQLite)
};

/// The column type each C++ type is stored as by the ORM's CREATE TABLE.
struct ColumnTypeNames {
  std::string_view boolean;           ///< bool
  std::string_view small_integer;     ///< 8- and 16-bit integers
  std::string_view integer;           ///< 32-bit integers
  std::string_view big_integer;       ///< 64-bit integers
  std::string_view real;              ///< float
  std::string_view double_precision;  ///< double
  std::string_view text;              ///< std::string
  std::string_view blob;              ///< keel::Blob
  // Dates, times, UUIDs, JSON and exact numbers. An engine without such a type stores their text (keel's
  // text_form, which it reads back): the name must then give the column text affinity, or the database may
  // turn "1.50" or "5" into a number. Left empty, CREATE TABLE of such a column throws MisuseError.
  std::string_view date;         ///< std::chrono::sys_days
  std::string_view time;         ///< keel::TimeOfDay
  std::string_view timestamp;    ///< keel::Timestamp, a wall-clock reading
  std::string_view timestamptz;  ///< keel::TimestampTz, an instant
  std::string_view interval;     ///< keel::Interval
  std::string_view uuid;         ///< keel::Uuid
  std::string_view json;         ///< keel::Json
  std::string_view numeric;      ///< keel::Numeric, exact
  // std::vector<T>: an array of T's type (array_suffix appended to it), or, on an engine without arrays, a type
  // of its own that holds the array's JSON text (array).
  std::string_view array_suffix;  ///< appended to the element's type ("[]")
  std::string_view array;         ///< where array_suffix is empty: the type of any array
  // A C++ enum with keel::SqlEnum labels, on an engine without enum types: the type its labels are stored as,
  // with a CHECK that keeps the column to them. Empty where the engine has enum types: the column is of the
  // enum's own type (SqlEnum<E>::name), which create_table makes (DialectDescription::create_enum_type).
  std::string_view enumeration;
};

/// The SQL of the database-side defaults (keel::default_now, keel::default_uuid): each an expression that a
/// DEFAULT clause takes and an INSERT may write in place of a value. Empty where the engine has none.
struct DefaultExpressions {
  std::string_view current_instant;    ///< now, as keel::TimestampTz stores it
  std::string_view current_timestamp;  ///< now on the session's wall clock, as keel::Timestamp stores it
  std::string_view current_date;       ///< today, as std::chrono::sys_days stores it
  std::string_view random_uuid;        ///< a random (version 4) UUID, as keel::Uuid stores it
};

/// DialectDescription::bulk_insert_min_rows of an engine with no faster way to insert many rows.
inline constexpr std::size_t no_bulk_insert = static_cast<std::size_t>(-1);

/// What an engine's SQL dialect spells differently, and what its statements can do. Each engine supplies one
/// (Connection::dialect()); keel's are Dialect::sqlite and Dialect::postgres. A description must outlive every
/// use, and its address names the dialect (the ORM caches texts by it): define it as a constant with static
/// storage. Fields left out take the defaults below; max_bound_values must be given.
struct DialectDescription {
  std::string_view name;  ///< "sqlite", "postgres": for messages and logs

  // ---- How the SQL is spelled.
  PlaceholderStyle placeholders = PlaceholderStyle::question_mark;
  ColumnTypeNames types;
  std::string_view generated_key_column;  ///< an integer primary key the database assigns, as written after its name
  DefaultExpressions defaults;            ///< what keel::default_now and keel::default_uuid write
  /// The statement that makes an enum type unless one of that name exists: `{name}` stands for its quoted name,
  /// `{labels}` for its quoted labels, comma-separated, and `{quote}` for a dollar quote (`$keel$`, or `$keel1$`
  /// ...) that no label holds. Empty where enums are stored as types.enumeration.
  std::string_view create_enum_type;
  PatternMatching pattern_matching = PatternMatching::like_and_ilike;
  /// The LIMIT that lets OFFSET stand without a limit ("-1" on SQLite, which has no OFFSET alone); empty when
  /// OFFSET needs none.
  std::string_view limit_all;
  /// The type sum() of integers is cast to so that it reads as a 64-bit integer, and avg() so that it reads as a
  /// double (PostgreSQL gives numeric for both); empty where the database gives those already.
  std::string_view integer_sum_type;
  std::string_view average_type;

  // ---- What else a scanner of raw SQL text must know (the bulk writer's insert merging).
  bool backtick_and_bracket_identifiers = false;  ///< `name` and [name] quote identifiers (SQLite)
  bool named_parameters = false;                  ///< :name, @name and $name are parameters (SQLite)
  bool escape_strings = false;                    ///< E'...' takes backslash escapes (PostgreSQL)
  bool dollar_in_identifiers = false;             ///< a $ may follow an identifier's first character (PostgreSQL)

  // ---- What a statement can do, and how the engine runs many rows.
  std::size_t max_bound_values = 0;  ///< the most values one statement may bind: must be given, at least 1
  /// One statement inserts many rows from one array per column (PostgreSQL's unnest): a value bound per column
  /// rather than per cell, one text for any number of rows, and no limit on bound values to split by.
  bool inserts_rows_from_arrays = false;
  /// SELECT ... FOR UPDATE and FOR SHARE (with NOWAIT or SKIP LOCKED) lock the rows read until the transaction
  /// ends. Where false the ORM leaves the clause out: SQLite has none, and its write transactions hold the whole
  /// database (they begin IMMEDIATE), which no other writer can change meanwhile.
  bool locks_selected_rows = false;
  /// A one-row insert's generated key comes back as ExecResult::last_insert_id (SQLite's rowid), with no
  /// RETURNING clause: SQLite runs RETURNING through a temporary table, which costs more than the insert itself.
  bool reports_last_insert_id = false;
  /// A many-row insert runs its one-row statement once per row (execute_each) rather than one statement of all
  /// the rows: SQLite steps a short prepared statement per row faster than it runs a VALUES list of thousands of
  /// rows, and reports each row's key without RETURNING.
  bool inserts_rows_one_by_one = false;
  /// The rows from which a many-row insert goes through StatementRunner::insert_rows, where the engine has a
  /// faster way than the insert (PostgreSQL's COPY, which costs two more round trips: the catalog asked whether
  /// COPY suits the table, and the keys drawn from their sequence); no_bulk_insert where it has none.
  std::size_t bulk_insert_min_rows = no_bulk_insert;
};

/// The SQL dialect an engine speaks: a handle to its description, copied as a pointer and compared by identity.
/// `dialect->max_bound_values` reads the description.
class Dialect {
public:
  /// The dialect described by `description`, which must outlive the handle and its copies. A description that
  /// lets no value be bound is refused (MisuseError; at compile time for a constexpr Dialect).
  constexpr Dialect(const DialectDescription& description) : description_(&description) {
    if (description.max_bound_values == 0)
      throw MisuseError("keel::DialectDescription: max_bound_values must be at least 1 (dialect '" +
                        std::string(description.name) + "')");
  }
  Dialect(const DialectDescription&&) = delete;  // a temporary description would dangle

  static const Dialect sqlite;    ///< SQLite's (keel::SqliteEngine)
  static const Dialect postgres;  ///< PostgreSQL's (keel::PostgresEngine)

  constexpr const DialectDescription& description() const noexcept { return *description_; }
  constexpr const DialectDescription* operator->() const noexcept { return description_; }
  constexpr std::string_view name() const noexcept { return description_->name; }

  friend constexpr bool operator==(Dialect, Dialect) noexcept = default;

private:
  const DialectDescription* description_;
};

/// SQLite's dialect.
inline constexpr DialectDescription sqlite_dialect{
    .name = "sqlite",
    .placeholders = PlaceholderStyle::question_mark,
    .types = {.boolean = "BOOLEAN",
              .small_integer = "INTEGER",
              .integer = "INTEGER",
              .big_integer = "INTEGER",
              .real = "REAL",
              .double_precision = "REAL",
              .text = "TEXT",
              .blob = "BLOB",
              // SQLite has none of these: each is stored as its ISO-8601 (or canonical) text, in a TEXT column,
              // which sorts dates, times and timestamps in time order. "DATE" would give NUMERIC affinity. An
              // array is its JSON text.
              .date = "TEXT",
              .time = "TEXT",
              .timestamp = "TEXT",
              .timestamptz = "TEXT",
              .interval = "TEXT",
              .uuid = "TEXT",
              .json = "TEXT",
              .numeric = "TEXT",
              .array_suffix = {},
              .array = "TEXT",
              .enumeration = "TEXT"},
    // INTEGER PRIMARY KEY is the rowid, which SQLite assigns.
    .generated_key_column = "INTEGER PRIMARY KEY",
    // keel's text forms (value_text): UTC with the fraction's trailing zeros dropped, so that the database's
    // values compare equal to the same instants bound by keel.
    .defaults = {.current_instant = "(rtrim(rtrim(strftime('%Y-%m-%d %H:%M:%f', 'now'), '0'), '.') || '+00:00')",
                 .current_timestamp = "(rtrim(rtrim(strftime('%Y-%m-%d %H:%M:%f', 'now', 'localtime'), '0'), '.'))",
                 .current_date = "(date('now'))",
                 .random_uuid =
                     "(lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || "
                     "substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + abs(random() % 4), 1) || "
                     "substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))))"},
    .pattern_matching = PatternMatching::like_and_glob,
    .limit_all = "-1",
    .integer_sum_type = {},
    .average_type = {},
    .backtick_and_bracket_identifiers = true,
    .named_parameters = true,
    .escape_strings = false,
    .dollar_in_identifiers = false,
    .max_bound_values = 32766,  // SQLITE_MAX_VARIABLE_NUMBER's default since 3.32
    .inserts_rows_from_arrays = false,
    .locks_selected_rows = false,
    .reports_last_insert_id = true,
    .inserts_rows_one_by_one = true,
    .bulk_insert_min_rows = no_bulk_insert,  // it steps one row at a time anyway
};

/// PostgreSQL's dialect.
inline constexpr DialectDescription postgres_dialect{
    .name = "postgres",
    .placeholders = PlaceholderStyle::dollar_number,
    .types = {.boolean = "BOOLEAN",
              .small_integer = "SMALLINT",
              .integer = "INTEGER",
              .big_integer = "BIGINT",
              .real = "REAL",
              .double_precision = "DOUBLE PRECISION",
              .text = "TEXT",
              .blob = "BYTEA",
              .date = "DATE",
              .time = "TIME",
              .timestamp = "TIMESTAMP",
              .timestamptz = "TIMESTAMPTZ",
              .interval = "INTERVAL",
              .uuid = "UUID",
              .json = "JSONB",
              .numeric = "NUMERIC",
              .array_suffix = "[]",
              .array = {},
              .enumeration = {}},
    .generated_key_column = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    .defaults = {.current_instant = "CURRENT_TIMESTAMP",
                 .current_timestamp = "LOCALTIMESTAMP",
                 .current_date = "CURRENT_DATE",
                 .random_uuid = "gen_random_uuid()"},  // PostgreSQL 13 and later
    // PostgreSQL has no CREATE TYPE IF NOT EXISTS. Two sessions creating the type at once may also meet in the
    // catalog's unique index.
    .create_enum_type =
        "DO {quote} BEGIN CREATE TYPE {name} AS ENUM ({labels}); "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END {quote}",
    .pattern_matching = PatternMatching::like_and_ilike,
    .limit_all = {},
    .integer_sum_type = "BIGINT",        // sum(bigint) is numeric
    .average_type = "DOUBLE PRECISION",  // avg(integer) is numeric
    .backtick_and_bracket_identifiers = false,
    .named_parameters = false,
    .escape_strings = true,
    .dollar_in_identifiers = true,
    .max_bound_values = 65535,  // the protocol's 16-bit parameter count
    .inserts_rows_from_arrays = true,
    .locks_selected_rows = true,
    .reports_last_insert_id = false,
    .inserts_rows_one_by_one = false,
    .bulk_insert_min_rows = 100,
};

inline constexpr Dialect Dialect::sqlite{sqlite_dialect};
inline constexpr Dialect Dialect::postgres{postgres_dialect};

/// The dialect's name: "sqlite", "postgres", or an engine's own.
constexpr std::string_view to_string(Dialect d) noexcept { return d.name(); }

/// Appends the placeholder of the 1-based parameter `number` in the dialect's style.
inline void append_placeholder(std::string& sql, Dialect d, std::size_t number) {
  if (d->placeholders == PlaceholderStyle::question_mark) {
    sql += '?';
  } else {
    sql += '$';
    sql += std::to_string(number);
  }
}

/// Appends `text` between two `quote` characters, doubling any quote inside it.
inline void append_quoted(std::string& sql, std::string_view text, char quote) {
  sql += quote;
  for (char c : text) {
    if (c == quote) sql += quote;
    sql += c;
  }
  sql += quote;
}

/// Appends an identifier in double quotes, doubling any quote inside it (standard SQL, as both keel dialects).
inline void append_quoted_identifier(std::string& sql, std::string_view name) { append_quoted(sql, name, '"'); }

/// Appends text as an SQL string literal, in single quotes, doubling any quote inside it. Only for text keel
/// writes into DDL itself (defaults, enum labels), which PostgreSQL's DDL cannot take as bound values.
inline void append_quoted_literal(std::string& sql, std::string_view text) { append_quoted(sql, text, '\''); }

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
    if (c == '{' && next == '}') {
      ++count;
      ++i;
    } else if (c == '{' && next == '{')
      ++i;
    else if (c == '}' && next == '}')
      ++i;
    else if (c == '{' || c == '}')
      return -1;
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
    if (c == '{' && next == '}') {
      append_placeholder(sql, d, ++number);
      ++i;
    } else if ((c == '{' && next == '{') || (c == '}' && next == '}')) {
      sql += c;
      ++i;
    } else
      sql += c;
  }
  return sql;
}

}  // namespace keel
