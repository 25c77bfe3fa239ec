// SQLite's result codes mapped onto keel's errors: extended codes onto PostgreSQL's SQLSTATE meanings, so that
// a unique violation is a keel::UniqueViolation on either engine. Pure functions, unit-tested without a database.
module;
#include <sqlite3.h>
#include <string>
#include <string_view>
export module keel.sqlite:errors;
import keel.core;

namespace keel::sqlite_detail {

inline std::string sqlstate_for(int extended_code, std::string_view message) {
  switch (extended_code) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_ROWID: return "23505";
    case SQLITE_CONSTRAINT_NOTNULL: return "23502";
    case SQLITE_CONSTRAINT_FOREIGNKEY: return "23503";
    case SQLITE_CONSTRAINT_CHECK: return "23514";
    default: break;
  }
  switch (extended_code & 0xff) {
    case SQLITE_CONSTRAINT: return "23000";
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return "55P03";  // lock_not_available: still busy when the busy timeout ran out
    case SQLITE_INTERRUPT: return "57014";
    case SQLITE_READONLY: return "25006";
    case SQLITE_FULL: return "53100";
    case SQLITE_NOMEM: return "53200";
    case SQLITE_TOOBIG: return "54000";
    case SQLITE_MISMATCH: return "42804";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return "XX001";
    case SQLITE_IOERR: return "58030";
    case SQLITE_RANGE: return "22023";
    case SQLITE_ERROR: break;
    default: return "XX000";
  }
  // SQLITE_ERROR covers every SQL error; its message says which.
  if (message.starts_with("no such table")) return "42P01";
  if (message.starts_with("no such column")) return "42703";
  if (message.find("syntax error") != std::string_view::npos || message.starts_with("incomplete input")) return "42601";
  if (message.starts_with("table ") && message.ends_with(" already exists")) return "42P07";
  if (message.starts_with("no such savepoint")) return "3B001";
  return "42000";
}

// "UNIQUE constraint failed: band.name" names the table and column; "CHECK constraint failed: popular" the
// constraint. Composite keys list several columns ("t.a, t.b"): the first is kept.
inline void fill_constraint_names(ErrorFields& fields) {
  const std::string_view message = fields.message;
  const auto colon = message.find("constraint failed: ");
  if (colon == std::string_view::npos) return;
  std::string_view subject = message.substr(colon + std::string_view("constraint failed: ").size());
  if (fields.sqlstate == "23514") {
    fields.constraint = std::string(subject);
    return;
  }
  subject = subject.substr(0, subject.find(','));
  const auto dot = subject.find('.');
  if (dot == std::string_view::npos) return;
  fields.table = std::string(subject.substr(0, dot));
  fields.column = std::string(subject.substr(dot + 1));
}

inline ErrorFields error_fields(int extended_code, std::string_view message) {
  ErrorFields fields;
  fields.severity = "ERROR";
  fields.message = std::string(message);
  fields.sqlstate = sqlstate_for(extended_code, message);
  fields.native_code = extended_code;
  fill_constraint_names(fields);
  return fields;
}

[[noreturn]] inline void throw_error(int extended_code, std::string_view message) {
  throw_database_error(error_fields(extended_code, message));
}

}  // namespace keel::sqlite_detail
