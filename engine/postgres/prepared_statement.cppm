// PreparedStatement (asyncpg's PreparedStatement): a statement prepared once by PgConnection::prepare, run
// with values encoded for the types the server chose; its parameters' and columns' types; EXPLAIN.
module;
#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
export module keel.postgres:prepared_statement;
import keel.engine;
import keel.postgres.protocol;
import :call_options;
import :codecs;
import :connection;
import :parameter_encoding;
import :record;
import :row_collectors;

namespace asio = boost::asio;
namespace proto = keel::pg::protocol;

export namespace keel::pg {

/// A statement prepared by PgConnection::prepare. Its values are encoded for the types the server chose.
class PreparedStatement {
public:
  /// A parameter's or a column's type.
  struct Type {
    std::uint32_t oid = 0;  ///< its OID
    std::string name;       ///< its name (int4, _text...), or "oid N" for a type keel does not name
  };
  /// A result column.
  struct Attribute {
    std::string name;  ///< its name
    Type type;         ///< its type
  };

  /// The statement `prepared` on `connection`, of the text `sql`; PgConnection::prepare makes it.
  PreparedStatement(PgConnection& connection, PgConnection::Prepared prepared, std::string sql)
      : connection_(&connection), alive_(connection.alive_), prepared_(std::move(prepared)), sql_(std::move(sql)) {}
  PreparedStatement() = default;  ///< empty: for containers and Asio's result slots
  /// Takes over `other`'s statement, leaving it empty.
  PreparedStatement(PreparedStatement&& other) noexcept { *this = std::move(other); }
  /// Closes this statement (as the destructor does), then takes over `other`'s.
  PreparedStatement& operator=(PreparedStatement&& other) noexcept {
    if (this != &other) {
      release();
      connection_ = std::exchange(other.connection_, nullptr);
      alive_ = std::move(other.alive_);
      prepared_ = std::exchange(other.prepared_, {});
      sql_ = std::move(other.sql_);
      status_ = std::move(other.status_);
    }
    return *this;
  }
  /// Closes the statement on the server with the connection's next statement, if the connection is still there.
  ~PreparedStatement() { release(); }

  /// All rows of a run with these values (a keel::pg::timeout among them limits its time).
  template <class... Args>
  asio::awaitable<std::vector<Record>> fetch(const Args&... args) {
    if (!connection_ || alive_.expired())
      throw MisuseError("this prepared statement is empty, or its connection is gone");
    EncodedParameters encoded = encode(args...);
    RecordCollector records(connection_->custom_codecs_);
    PgConnection::ExclusiveHold none;
    const auto started = std::chrono::steady_clock::now();
    std::exception_ptr failure;
    try {
      co_await connection_->run_prepared(prepared_, {&encoded, 1}, nullptr, &records,
                                         connection_->deadline_for(encoded.timeout, started), none);
    } catch (...) {
      failure = std::current_exception();
    }
    connection_->log_query(sql_, &encoded, started, failure);
    if (failure) std::rethrow_exception(failure);
    status_ = connection_->last_status_;
    co_return std::move(records.records);
  }
  /// The first row, or nullopt.
  template <class... Args>
  asio::awaitable<std::optional<Record>> fetchrow(const Args&... args) {
    co_return first_record(co_await fetch(args...));
  }
  /// The first column of the first row. No row is a MisuseError, unless T is std::optional.
  template <class T, class... Args>
  asio::awaitable<T> fetchval(const Args&... args) {
    co_return first_value<T>(co_await fetchrow(args...));
  }
  /// EXPLAIN (FORMAT JSON) of the statement with these values; with analyze, it runs (in a transaction that
  /// is rolled back, so it changes nothing).
  template <class... Args>
  asio::awaitable<boost::json::value> explain(bool analyze, const Args&... args) {
    const std::string sql = std::string(analyze ? "EXPLAIN (ANALYZE, FORMAT JSON) " : "EXPLAIN (FORMAT JSON) ") + sql_;
    const bool own_transaction = analyze && !connection_->is_in_transaction();
    if (own_transaction) co_await connection_->begin();
    std::exception_ptr failure;
    boost::json::value plan;
    try {
      EncodedParameters encoded = encode(args...);
      co_await connection_->pipeline_->lock_exclusive();
      PgConnection::ExclusiveHold hold{connection_->pipeline_.get()};
      auto described = co_await connection_->parse_and_describe("", sql, encoded.types, std::nullopt, true);
      RecordCollector records;
      co_await connection_->run_prepared(described, {&encoded, 1}, nullptr, &records, std::nullopt, hold);
      plan = records.records.at(0).template get<boost::json::value>(0);
    } catch (...) {
      failure = std::current_exception();
    }
    if (own_transaction) {
      // Also after a cancellation of this coroutine (when every co_await would throw): the BEGIN is not left open.
      const bool throws = co_await asio::this_coro::throw_if_cancelled();
      if (throws) co_await asio::this_coro::throw_if_cancelled(false);
      std::exception_ptr rollback_failure;
      try {
        co_await connection_->rollback();
      } catch (...) {
        rollback_failure = std::current_exception();
      }
      if (throws) co_await asio::this_coro::throw_if_cancelled(true);
      if (rollback_failure && !failure) std::rethrow_exception(rollback_failure);
    }
    if (failure) std::rethrow_exception(failure);
    co_return plan;
  }

  /// The parameters' types, as the server resolved them.
  std::vector<Type> get_parameters() const {
    std::vector<Type> out;
    for (std::uint32_t oid : prepared_.parameter_types) out.push_back({oid, type_name(oid)});
    return out;
  }
  /// The result columns.
  std::vector<Attribute> get_attributes() const {
    std::vector<Attribute> out;
    for (const auto& f : prepared_.fields) out.push_back({f.name, {f.type_oid, type_name(f.type_oid)}});
    return out;
  }
  /// The statement's text.
  const std::string& get_query() const noexcept { return sql_; }
  /// The status of its last run ("SELECT 2").
  const std::string& get_statusmsg() const noexcept { return status_; }

private:
  // Closed on the server with the connection's next statement, if the connection is still there.
  void release() noexcept {
    if (connection_ && !prepared_.name.empty() && !alive_.expired()) {
      try {
        connection_->to_close_.emplace_back(proto::Target::statement, prepared_.name);
      } catch (...) {}
    }
    prepared_.name.clear();
  }

  template <class... Args>
  EncodedParameters encode(const Args&... args) const {
    if (value_count_v<Args...> != prepared_.parameter_types.size())
      throw MisuseError("the statement takes " + std::to_string(prepared_.parameter_types.size()) + " values; " +
                        std::to_string(value_count_v<Args...>) + " were given");
    EncodedParameters encoded{connection_->custom_codecs_.get()};
    std::size_t i = 0;
    auto add = [&](const auto& arg) {
      if constexpr (is_timeout_v<decltype(arg)>)
        encoded.add(arg);
      else {
        encoded.add_as(prepared_.parameter_types[i], arg, i + 1);
        ++i;
      }
    };
    (add(args), ...);
    return encoded;
  }
  static std::string type_name(std::uint32_t oid) {
    switch (oid) {
      case types::boolean: return "bool";
      case types::bytea: return "bytea";
      case types::name: return "name";
      case types::int8: return "int8";
      case types::int2: return "int2";
      case types::int4: return "int4";
      case types::text: return "text";
      case types::oid: return "oid";
      case types::json: return "json";
      case types::float4: return "float4";
      case types::float8: return "float8";
      case types::inet: return "inet";
      case types::cidr: return "cidr";
      case types::bpchar: return "bpchar";
      case types::varchar: return "varchar";
      case types::date: return "date";
      case types::time: return "time";
      case types::timestamp: return "timestamp";
      case types::timestamptz: return "timestamptz";
      case types::interval: return "interval";
      case types::timetz: return "timetz";
      case types::numeric: return "numeric";
      case types::uuid: return "uuid";
      case types::jsonb: return "jsonb";
      default: break;
    }
    if (const std::uint32_t element = types::element_of(oid)) return "_" + type_name(element);
    return "oid " + std::to_string(oid);
  }

  PgConnection* connection_ = nullptr;
  std::weak_ptr<int> alive_;
  PgConnection::Prepared prepared_;
  std::string sql_;
  std::string status_;
};

asio::awaitable<PreparedStatement> PgConnection::prepare(std::string_view sql) {
  ensure_open();
  Prepared prepared =
      co_await parse_and_describe("keel_p" + std::to_string(++statement_counter_), sql, {}, std::nullopt, false);
  co_return PreparedStatement(*this, std::move(prepared), std::string(sql));
}

}  // namespace keel::pg
