// What PgConnection's calls take besides values, and what they give besides rows: the connection's options, a
// call's time limit, COPY's and a cursor's options, a script's results, notifications, logged queries.
module;
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>
export module keel.postgres:call_options;
import keel.core;

export namespace keel::pg {

/// A time limit for one call, given among its values: `fetch(sql, id, keel::pg::timeout(2s))`. When it passes,
/// the query is cancelled on the server and the call throws TimeoutError; the connection stays usable.
struct Timeout {
  std::chrono::steady_clock::duration limit;  ///< how long the call may take
};
/// A Timeout of `limit`, given among a call's values.
constexpr Timeout timeout(std::chrono::steady_clock::duration limit) { return Timeout{limit}; }

}  // namespace keel::pg

// Not exported: how the connection tells a call's values from its time limit.
namespace keel::pg {
template <class T>
inline constexpr bool is_timeout_v = std::is_same_v<std::remove_cvref_t<T>, Timeout>;
// How many of a call's arguments are values (a Timeout is not).
template <class... Args>
inline constexpr std::size_t value_count_v = (std::size_t{0} + ... + (is_timeout_v<Args> ? 0 : 1));
}  // namespace keel::pg

export namespace keel::pg {

/// How a PgConnection caches statements and limits its calls' time (asyncpg's connection options).
struct PgConnectionOptions {
  std::size_t statement_cache_size = 100;  ///< 0: unnamed statements only (PgBouncer in transaction mode)
  /// A cached statement older than this is prepared again (asyncpg's default: 300 s; zero: no limit).
  std::chrono::seconds max_cached_statement_lifetime{300};
  /// Texts longer than this are not cached (asyncpg's default: 15 KiB; zero: no limit).
  std::size_t max_cacheable_statement_size = 15 * 1024;
  /// The time limit of every call that gives none of its own (asyncpg's command_timeout); none by default.
  std::optional<std::chrono::steady_clock::duration> command_timeout;
  /// How long a call past its time limit (or cancelled) waits for the server to end its request: past it, the
  /// server is taken for silent (a stopped backend, a stalled network), the connection is closed since its
  /// state is unknown, and the call fails with TimeoutError.
  std::chrono::steady_clock::duration cancel_grace = std::chrono::seconds(5);
};

/// One statement's result in a script run on the simple protocol (PgConnection::run_script): its columns and its
/// rows in the server's text format (NULL as nullopt) when it returns rows, and its command status.
struct TextResult {
  bool returns_rows = false;         ///< a row description came: a query, even of no rows
  std::vector<std::string> columns;  ///< the columns' names
  /// the rows, each cell in the server's text format; NULL is nullopt
  std::vector<std::vector<std::optional<std::string>>> rows;
  std::string status;       ///< "SELECT 2", "CREATE TABLE", "COPY 3"
  bool copied_out = false;  ///< a COPY ... TO STDOUT, whose data went to run_script's copy_out
};

/// A notification from LISTEN/NOTIFY.
struct Notification {
  int process_id = 0;   ///< the notifying session's
  std::string channel;  ///< the channel it was sent on
  std::string payload;  ///< the payload; empty when none was given
};

/// COPY's options, as asyncpg names them. Unset ones take the server's defaults.
struct CopyOptions {
  std::vector<std::string> columns;  ///< all, in table order, when empty
  std::string schema_name;           ///< the table's schema; empty: the search path finds it
  std::string format;                ///< "text", "csv" or "binary"
  std::optional<char> delimiter;     ///< DELIMITER
  std::optional<std::string> null;   ///< the text that stands for NULL
  std::optional<bool> header;        ///< HEADER
  std::optional<char> quote;         ///< QUOTE (csv)
  std::optional<char> escape;        ///< ESCAPE (csv)
  ///@{
  /// FORCE_QUOTE, FORCE_NOT_NULL and FORCE_NULL: the columns they name (csv)
  std::vector<std::string> force_quote, force_not_null, force_null;
  ///@}
  std::string encoding;  ///< ENCODING
};

/// A server-side cursor's options (PgConnection::cursor).
struct CursorOptions {
  std::size_t prefetch = 50;  ///< rows fetched per round trip by next()
  bool scroll = false;        ///< SCROLL: fetch_backward, backward and fetch_absolute
  bool hold = false;          ///< WITH HOLD: usable after the transaction commits, until closed
};

/// What a query logger sees of each call, once it ended.
struct LoggedQuery {
  std::string_view sql;                               ///< the query's text
  std::vector<std::optional<std::string>> arguments;  ///< the values in PostgreSQL's text form; nullopt is NULL
  std::chrono::nanoseconds elapsed{};                 ///< how long it took
  std::exception_ptr error;                           ///< null when the query succeeded
  std::string error_message;                          ///< the error's message; empty on success
  std::string status;                                 ///< the command's status ("SELECT 3") when it succeeded
};

/// Names a listener or logger added to a connection, for its removal.
using ListenerId = std::uint64_t;

}  // namespace keel::pg
