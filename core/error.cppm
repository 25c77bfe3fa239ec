// keel's error hierarchy. Client errors are what keel itself detects; database errors carry the server's
// diagnostics and a SQLSTATE, so that a caller catches "unique violation" the same way on every engine.
module;
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
export module keel.core:error;

export namespace keel {

/// The base of every error keel throws.
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// ---- Client errors: detected by keel, not reported by a database.
/// An error that keel itself detects, not one a database reports.
class ClientError : public Error {
public:
  using Error::Error;
};
/// cannot connect, or the connection was lost
class ConnectionError : public ClientError {
public:
  using ClientError::ClientError;
};
/// A COMMIT was sent but its answer never came (the connection was lost, or the server fell silent past the
/// grace): the transaction may or may not have committed. Retrying blindly may apply it twice; look first.
class CommitOutcomeUnknown : public ConnectionError {
public:
  using ConnectionError::ConnectionError;
};
/// A time limit ran out: connecting, waiting for a pooled connection, or a statement's command timeout.
class TimeoutError : public ClientError {
public:
  using ClientError::ClientError;
};
/// The caller stopped waiting: an Asio cancellation (a cancellation slot's signal) reached a running statement,
/// a wait for a free connection, or a call of several statements between two of them. What was running was
/// stopped (on the server, or by interrupting SQLite), what had finished stands, and the connection is usable.
class CanceledError : public ClientError {
public:
  using ClientError::ClientError;
};
/// the peer broke the protocol
class ProtocolError : public ClientError {
public:
  using ClientError::ClientError;
};
/// the API was used in a way it does not allow
class MisuseError : public ClientError {
public:
  using ClientError::ClientError;
};
/// nesting refused, or a finished transaction used
class TransactionError : public MisuseError {
public:
  using MisuseError::MisuseError;
};
/// A name that keel would write into SQL (a savepoint's) is not a plain identifier.
class InvalidIdentifierError : public MisuseError {
public:
  using MisuseError::MisuseError;
};
/// A sync call was made on a thread that runs an event loop, which it would block.
class SyncCallInEventLoopError : public MisuseError {
public:
  using MisuseError::MisuseError;
};
/// Reading a value as a type it cannot be read as.
class ValueError : public ClientError {
public:
  using ClientError::ClientError;
};
/// NULL read into a type that cannot hold it
class NullValueError : public ValueError {
public:
  using ValueError::ValueError;
};
/// A cell holds a kind of value that the requested type cannot be read from.
class TypeMismatchError : public ValueError {
public:
  using ValueError::ValueError;
};
/// A value does not fit the type it is bound or read as (an integer out of range, say).
class ValueOutOfRangeError : public ValueError {
public:
  using ValueError::ValueError;
};
/// A row has no column of the name or index asked for.
class ColumnNotFoundError : public ValueError {
public:
  using ValueError::ValueError;
};
/// A batch refused because the bulk writer's circuit breaker is open: nothing was sent.
class CircuitOpenError : public ClientError {
public:
  using ClientError::ClientError;
};

}  // namespace keel

// ---- The PostgreSQL client's own client errors, in its namespaces.
export namespace keel::pg {
/// A connection string or option that libpq would refuse.
class DsnError : public MisuseError {
public:
  using MisuseError::MisuseError;
};
/// TLS could not be set up as the sslmode demands (the server refused it, or its certificate did not check out).
class TlsError : public ConnectionError {
public:
  using ConnectionError::ConnectionError;
};
}  // namespace keel::pg

export namespace keel::pg::protocol {
/// the server's side of an authentication exchange did not check out
class AuthenticationError : public ProtocolError {
public:
  using ProtocolError::ProtocolError;
};
}  // namespace keel::pg::protocol

export namespace keel {

// ---- Database errors: reported by the database, with its diagnostics.
/// A database's diagnostics, as PostgreSQL's ErrorResponse fields name them; SQLite fills what it has.
struct ErrorFields {
  std::string severity;         ///< ERROR, FATAL, PANIC (PostgreSQL); ERROR for SQLite
  std::string sqlstate;         ///< five characters; SQLite's codes are mapped onto PostgreSQL's meanings
  std::string message;          ///< the primary message
  std::string detail;           ///< more about the error, if the server gives it
  std::string hint;             ///< a suggestion, if the server gives one
  std::optional<int> position;  ///< where in the statement's text the error is (1-based, in characters)
  std::string where;            ///< the context the error arose in (a function's call stack, say)
  std::string schema;           ///< the schema of the object concerned
  std::string table;            ///< the table concerned
  std::string column;           ///< the column concerned
  std::string data_type;        ///< the data type concerned
  std::string constraint;       ///< the constraint concerned
  /// The server function that raised the error (PostgreSQL's R field). Never translated, unlike the message, so
  /// decisions that the SQLSTATE alone cannot make look here.
  std::string routine;
  int native_code = 0;  ///< the engine's own code (SQLite's extended result code); 0 when there is none
};

/// An error the database reported, with its diagnostics and SQLSTATE.
class DatabaseError : public Error {
public:
  /// An error with these diagnostics; its what() gives the message, SQLSTATE, detail and hint.
  explicit DatabaseError(ErrorFields fields) : Error(describe(fields)), fields_(std::move(fields)) {}
  /// All the diagnostics.
  const ErrorFields& fields() const noexcept { return fields_; }
  /// The five-character SQLSTATE.
  const std::string& sqlstate() const noexcept { return fields_.sqlstate; }
  /// The server's primary message, without the rest of what().
  const std::string& server_message() const noexcept { return fields_.message; }

private:
  static std::string describe(const ErrorFields& f) {
    std::string text = f.message;
    text += " (SQLSTATE " + f.sqlstate + ")";
    if (!f.detail.empty()) text += "\nDETAIL: " + f.detail;
    if (!f.hint.empty()) text += "\nHINT: " + f.hint;
    return text;
  }
  ErrorFields fields_;
};

// One class per SQLSTATE class that callers act on, and the conditions inside them that matter most.
#define KEEL_DATABASE_ERROR(Name, Base) \
  class Name : public Base {            \
  public:                               \
    using Base::Base;                   \
  }
KEEL_DATABASE_ERROR(IntegrityConstraintViolation, DatabaseError);              ///< class 23
KEEL_DATABASE_ERROR(UniqueViolation, IntegrityConstraintViolation);            ///< 23505
KEEL_DATABASE_ERROR(NotNullViolation, IntegrityConstraintViolation);           ///< 23502
KEEL_DATABASE_ERROR(ForeignKeyViolation, IntegrityConstraintViolation);        ///< 23503
KEEL_DATABASE_ERROR(CheckViolation, IntegrityConstraintViolation);             ///< 23514
KEEL_DATABASE_ERROR(TransactionRollbackError, DatabaseError);                  ///< class 40
KEEL_DATABASE_ERROR(SerializationFailure, TransactionRollbackError);           ///< 40001
KEEL_DATABASE_ERROR(DeadlockDetected, TransactionRollbackError);               ///< 40P01
KEEL_DATABASE_ERROR(SyntaxErrorOrAccessRuleViolation, DatabaseError);          ///< class 42
KEEL_DATABASE_ERROR(SyntaxError, SyntaxErrorOrAccessRuleViolation);            ///< 42601
KEEL_DATABASE_ERROR(UndefinedTable, SyntaxErrorOrAccessRuleViolation);         ///< 42P01
KEEL_DATABASE_ERROR(UndefinedColumn, SyntaxErrorOrAccessRuleViolation);        ///< 42703
KEEL_DATABASE_ERROR(InsufficientPrivilege, SyntaxErrorOrAccessRuleViolation);  ///< 42501
KEEL_DATABASE_ERROR(DuplicateTable, SyntaxErrorOrAccessRuleViolation);         ///< 42P07
KEEL_DATABASE_ERROR(DatatypeMismatch, SyntaxErrorOrAccessRuleViolation);       ///< 42804
KEEL_DATABASE_ERROR(InvalidAuthorization, DatabaseError);                      ///< class 28
KEEL_DATABASE_ERROR(InvalidPassword, InvalidAuthorization);                    ///< 28P01
KEEL_DATABASE_ERROR(ObjectNotInPrerequisiteState, DatabaseError);              ///< class 55
KEEL_DATABASE_ERROR(LockNotAvailable, ObjectNotInPrerequisiteState);           ///< 55P03: SQLite's busy/locked
KEEL_DATABASE_ERROR(OperatorIntervention, DatabaseError);                      ///< class 57
KEEL_DATABASE_ERROR(QueryCanceled, OperatorIntervention);                      ///< 57014
KEEL_DATABASE_ERROR(AdminShutdown, OperatorIntervention);     ///< 57P01: terminated by an administrator
KEEL_DATABASE_ERROR(DataException, DatabaseError);            ///< class 22
KEEL_DATABASE_ERROR(InvalidTransactionState, DatabaseError);  ///< class 25
/// 25P02: an earlier statement failed, so the database aborted the transaction; its COMMIT rolled back instead.
KEEL_DATABASE_ERROR(TransactionAborted, InvalidTransactionState);
KEEL_DATABASE_ERROR(ReadOnlySqlTransaction,
                    InvalidTransactionState);               ///< 25006: a write on a standby or read-only transaction
KEEL_DATABASE_ERROR(InvalidSavepoint, DatabaseError);       ///< class 3B: no such savepoint (3B001)
KEEL_DATABASE_ERROR(InsufficientResources, DatabaseError);  ///< class 53
KEEL_DATABASE_ERROR(ProgramLimitExceeded, DatabaseError);   ///< class 54
KEEL_DATABASE_ERROR(InternalError, DatabaseError);          ///< class XX
KEEL_DATABASE_ERROR(FeatureNotSupported, DatabaseError);    ///< class 0A
#undef KEEL_DATABASE_ERROR

/// Throws the most specific class for the fields' SQLSTATE: the exact condition, else its class, else DatabaseError.
[[noreturn]] inline void throw_database_error(ErrorFields fields) {
  const std::string_view state = fields.sqlstate;
  if (state == "23505") throw UniqueViolation(std::move(fields));
  if (state == "23502") throw NotNullViolation(std::move(fields));
  if (state == "23503") throw ForeignKeyViolation(std::move(fields));
  if (state == "23514") throw CheckViolation(std::move(fields));
  if (state == "40001") throw SerializationFailure(std::move(fields));
  if (state == "40P01") throw DeadlockDetected(std::move(fields));
  if (state == "42601") throw SyntaxError(std::move(fields));
  if (state == "42P01") throw UndefinedTable(std::move(fields));
  if (state == "42703") throw UndefinedColumn(std::move(fields));
  if (state == "42501") throw InsufficientPrivilege(std::move(fields));
  if (state == "42P07") throw DuplicateTable(std::move(fields));
  if (state == "42804") throw DatatypeMismatch(std::move(fields));
  if (state == "28P01") throw InvalidPassword(std::move(fields));
  if (state == "55P03") throw LockNotAvailable(std::move(fields));
  if (state == "57014") throw QueryCanceled(std::move(fields));
  if (state == "57P01") throw AdminShutdown(std::move(fields));
  if (state == "25P02") throw TransactionAborted(std::move(fields));
  if (state == "25006") throw ReadOnlySqlTransaction(std::move(fields));
  const std::string_view sqlclass = state.substr(0, 2);
  if (sqlclass == "23") throw IntegrityConstraintViolation(std::move(fields));
  if (sqlclass == "40") throw TransactionRollbackError(std::move(fields));
  if (sqlclass == "42") throw SyntaxErrorOrAccessRuleViolation(std::move(fields));
  if (sqlclass == "28") throw InvalidAuthorization(std::move(fields));
  if (sqlclass == "55") throw ObjectNotInPrerequisiteState(std::move(fields));
  if (sqlclass == "57") throw OperatorIntervention(std::move(fields));
  if (sqlclass == "22") throw DataException(std::move(fields));
  if (sqlclass == "25") throw InvalidTransactionState(std::move(fields));
  if (sqlclass == "3B") throw InvalidSavepoint(std::move(fields));
  if (sqlclass == "53") throw InsufficientResources(std::move(fields));
  if (sqlclass == "54") throw ProgramLimitExceeded(std::move(fields));
  if (sqlclass == "XX") throw InternalError(std::move(fields));
  if (sqlclass == "0A") throw FeatureNotSupported(std::move(fields));
  throw DatabaseError(std::move(fields));
}

/// A COMMIT that the database answered by rolling back (PostgreSQL's ROLLBACK reply, or SQLite's transaction
/// already ended by an error): nothing in the transaction was saved, and the caller must hear it.
[[noreturn]] inline void throw_commit_rolled_back() {
  ErrorFields fields;
  fields.severity = "ERROR";
  fields.sqlstate = "25P02";
  fields.message =
      "the transaction was rolled back, not committed: a statement in it failed, which aborted it on the database";
  throw TransactionAborted(std::move(fields));
}

/// What a failure says (its what()), for a log line or a message that carries it on: a future's or a completion
/// handler's std::exception_ptr, say. "unknown error" for an exception that is not a std::exception; empty for
/// no failure.
inline std::string message_of(std::exception_ptr failure) {
  if (!failure) return {};
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown error";
  }
}

}  // namespace keel
