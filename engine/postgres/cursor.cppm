// PgCursor (asyncpg's Cursor): a server-side cursor that PgConnection::cursor declares in a transaction (or
// WITH HOLD); PgConnection::cursor's definitions, since they make one.
module;
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
export module keel.postgres:cursor;
import keel.engine;
import keel.postgres.protocol;
import :call_options;
import :calls;
import :connection;
import :record;

namespace asio = boost::asio;
namespace proto = keel::pg::protocol;

export namespace keel::pg {

/// A server-side cursor (asyncpg's Connection.cursor), declared inside a transaction and closed by the
/// transaction's end at the latest (or WITH HOLD, until closed). fetch(n) and fetchrow read on; next() reads row
/// by row with a prefetch buffer; forward(n) skips. A scrollable cursor also moves back and to absolute positions.
class PgCursor {
public:
  /// The cursor `name`, declared on `connection`; PgConnection::cursor makes it.
  PgCursor(PgConnection& connection, std::string name, CursorOptions options)
      : connection_(&connection), name_(std::move(name)), options_(options) {}
  PgCursor() = default;  ///< empty: for Asio's result slots

  /// The next n rows (fewer at the end).
  asio::awaitable<std::vector<Record>> fetch(std::size_t n) {
    buffered_.clear();  // what next() prefetched is behind the cursor's position: fetch reads from there on
    co_return co_await connection().fetch("FETCH FORWARD " + std::to_string(n) + " FROM " + name_);
  }
  /// The next row, or nullopt at the end.
  asio::awaitable<std::optional<Record>> fetchrow() {
    auto rows = co_await fetch(1);
    if (rows.empty()) co_return std::nullopt;
    co_return std::move(rows.front());
  }
  /// Skips up to n rows; returns how many it skipped.
  asio::awaitable<std::uint64_t> forward(std::size_t n) {
    co_return co_await move("MOVE FORWARD " + std::to_string(n));
  }

  /// Row by row, `prefetch` rows per round trip; nullopt at the end.
  asio::awaitable<std::optional<Record>> next() {
    if (position_ == buffered_.size()) {
      if (exhausted_) co_return std::nullopt;
      auto rows = co_await connection().fetch("FETCH FORWARD " + std::to_string(options_.prefetch) + " FROM " + name_);
      exhausted_ = rows.size() < options_.prefetch;
      buffered_ = std::move(rows);
      position_ = 0;
      if (buffered_.empty()) co_return std::nullopt;
    }
    co_return std::move(buffered_[position_++]);
  }

  /// Scrollable cursors only: the previous n rows (nearest first), a step back, and a row by position (1 is the
  /// first, -1 the last).
  asio::awaitable<std::vector<Record>> fetch_backward(std::size_t n) {
    require_scroll("fetch_backward");
    buffered_.clear();
    co_return co_await connection().fetch("FETCH BACKWARD " + std::to_string(n) + " FROM " + name_);
  }
  /// Moves back up to n rows; returns how many it moved.
  asio::awaitable<std::uint64_t> backward(std::size_t n) {
    require_scroll("backward");
    co_return co_await move("MOVE BACKWARD " + std::to_string(n));
  }
  /// The row at `position`, or nullopt when there is none.
  asio::awaitable<std::optional<Record>> fetch_absolute(std::int64_t position) {
    require_scroll("fetch_absolute");
    buffered_.clear();
    auto rows = co_await connection().fetch("FETCH ABSOLUTE " + std::to_string(position) + " FROM " + name_);
    if (rows.empty()) co_return std::nullopt;
    co_return std::move(rows.front());
  }

  /// Closes the cursor on the server.
  asio::awaitable<void> close() { co_await connection().execute("CLOSE " + name_); }
  /// The cursor's name on the server.
  const std::string& name() const noexcept { return name_; }

private:
  asio::awaitable<std::uint64_t> move(std::string command) {
    buffered_.clear();
    const std::string tag = co_await connection().execute(command + " FROM " + name_);
    co_return proto::rows_in_command_tag(tag);
  }
  PgConnection& connection() const {
    if (!connection_) throw MisuseError("this cursor is empty");
    return *connection_;
  }
  void require_scroll(std::string_view what) const {
    if (!options_.scroll) throw MisuseError(std::string(what) + " needs a scrollable cursor (CursorOptions::scroll)");
  }

  PgConnection* connection_ = nullptr;
  std::string name_;
  CursorOptions options_;
  std::vector<Record> buffered_;
  std::size_t position_ = 0;
  bool exhausted_ = false;
};

// Doxygen takes these definitions for members other than their declarations, which carry the documentation.
/// \cond
template <class... Args>
asio::awaitable<PgCursor> PgConnection::cursor(CursorOptions options, std::string_view sql, const Args&... args) {
  if (!options.hold && !is_in_transaction())
    throw TransactionError("a cursor lives in a transaction: call begin() first (or ask for CursorOptions::hold)");
  if (options.prefetch == 0) throw MisuseError("a cursor's prefetch must be at least 1");
  const std::string name = "keel_cursor_" + std::to_string(++cursor_counter_);
  const std::string declare = "DECLARE " + name + (options.scroll ? " SCROLL" : " NO SCROLL") + " CURSOR" +
                              (options.hold ? " WITH HOLD" : "") + " FOR " + std::string(sql);
  co_await run_bound(declare, encode(args...), NoRows{}, nullptr, [](NoRows&, ExecResult r) { return r; });
  co_return PgCursor(*this, name, options);
}

template <class... Args>
asio::awaitable<PgCursor> PgConnection::cursor(std::string_view sql, const Args&... args) {
  return cursor(CursorOptions{}, sql, args...);
}
/// \endcond

}  // namespace keel::pg
