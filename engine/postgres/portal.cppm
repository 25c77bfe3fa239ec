// A portal: a statement's rows read a batch at a time through the extended protocol (Bind to a named portal,
// then Execute with a row limit), as asyncpg's cursors read them. The statement is the one the statement cache
// holds for that text, so no DECLARE or FETCH text is parsed or cached. A portal lives until its transaction
// ends (or it is closed), so it is read inside a transaction.
//   auto portal = co_await keel::pg::PgPortal::open(connection, "SELECT * FROM band WHERE popularity > $1", values);
//   while (std::size_t n = co_await portal.fetch(100, sink)) ...
module;
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
export module keel.postgres:portal;
import keel.engine;
import keel.postgres.protocol;
import :connection;
import :parameter_encoding;

namespace asio = boost::asio;
namespace proto = keel::pg::protocol;

export namespace keel::pg {

/// A portal: a statement's rows read a batch at a time (Bind to a named portal, then Execute with a row limit),
/// as asyncpg's cursors read them. It lives until its transaction ends, so it is read inside one.
class PgPortal {
public:
  PgPortal() = default;  ///< empty: for Asio's result slots
  /// Takes over `other`'s portal, leaving it empty.
  PgPortal(PgPortal&& other) noexcept { *this = std::move(other); }
  /// Lets this portal go, then takes over `other`'s.
  PgPortal& operator=(PgPortal&& other) noexcept {
    if (this != &other) {
      abandon();
      connection_ = std::exchange(other.connection_, nullptr);
      alive_ = std::move(other.alive_);
      prepared_ = std::move(other.prepared_);
      parameters_ = std::move(other.parameters_);
      name_ = std::move(other.name_);
      bound_ = other.bound_;
      exhausted_ = other.exhausted_;
    }
    return *this;
  }
  /// Lets the portal go: one left before its end is closed with the connection's next write.
  ~PgPortal() { abandon(); }

  /// Prepares the statement (or finds it in the cache) and keeps its values for the first fetch, which binds
  /// them: a portal read in one batch costs the round trips of a plain query.
  static asio::awaitable<PgPortal> open(PgConnection& connection, std::string_view sql, std::span<const Value> values) {
    PgPortal portal;
    portal.connection_ = &connection;
    portal.alive_ = connection.alive_;
    portal.name_ = "keel_p" + std::to_string(++connection.portal_counter_);
    portal.parameters_ = std::make_unique<EncodedParameters>();
    for (const Value& v : values) portal.parameters_->add_value(v);
    PgConnection::ExclusiveHold hold;
    portal.prepared_ = co_await connection.prepare(sql, portal.parameters_->types, std::nullopt, hold);
    portal.exhausted_ = false;
    if (hold.held()) {  // an uncached statement is the unnamed one, which the next Parse replaces: bound at once
      NoRowsSink none;
      co_await connection.run_portal(*portal.prepared_, portal.parameters_.get(), portal.name_, 0, none, hold);
      portal.bound_ = true;
    }
    co_return portal;
  }

  /// Hands at most max_rows of the next rows to the sink; returns how many, 0 once the rows have run out.
  asio::awaitable<std::size_t> fetch(std::size_t max_rows, RowSink& sink) {
    if (exhausted_ || max_rows == 0) co_return 0;
    if (!connection_ || alive_.expired()) throw MisuseError("this portal is empty, or its connection is gone");
    PgConnection::ExclusiveHold hold;
    const auto step =
        co_await connection_->run_portal(*prepared_, bound_ ? nullptr : parameters_.get(), name_, max_rows, sink, hold);
    bound_ = true;
    if (!step.suspended) {
      exhausted_ = true;
      close_on_server();
    }
    co_return step.rows;
  }

  /// Whether the rows have run out.
  bool exhausted() const noexcept { return exhausted_; }

private:
  class NoRowsSink final : public RowSink {
  public:
    void on_row(const RowReader&) override {}
  };

  // A portal left before its end is closed with the connection's next write; its transaction's end would
  // close it too.
  void abandon() noexcept {
    if (bound_ && !exhausted_) close_on_server();
    exhausted_ = true;
  }
  void close_on_server() noexcept {
    if (!connection_ || alive_.expired()) return;
    try {
      connection_->to_close_.emplace_back(proto::Target::portal, name_);
    } catch (...) {}
  }

  PgConnection* connection_ = nullptr;
  std::weak_ptr<int> alive_;
  std::shared_ptr<const PgConnection::Prepared> prepared_;  // kept: its statement is not closed under the portal
  std::unique_ptr<EncodedParameters> parameters_;
  std::string name_;
  bool bound_ = false;
  bool exhausted_ = true;
};

}  // namespace keel::pg
