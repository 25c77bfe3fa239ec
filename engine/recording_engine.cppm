// RecordingEngine: an Engine with no database behind it, for unit tests of code that runs queries. It records
// every statement it is given (text, values, and which connection ran it) and answers from a script: rows, a
// result, or an error for the statements whose text contains a given fragment. Transactions, savepoints,
// atomic runs and batches work on it as on any engine, and their BEGIN, SAVEPOINT, COMMIT... are recorded too.
//   keel::RecordingEngine db(keel::Dialect::postgres);
//   db.returns("FROM band", {"id", "name"}, {{1, "Pythonistas"}});
//   auto bands = co_await keel::select<Band>().run(db);
//   CHECK(db.sql() == std::vector<std::string>{R"(SELECT "id", "name" FROM "band")"});
module;
#include <boost/asio/awaitable.hpp>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
export module keel.engine:recording_engine;
import keel.core;
import :connection;
import :engine;
import :statement_runner;

namespace asio = boost::asio;

export namespace keel {

/// One statement as the engine was given it.
struct RecordedStatement {
  std::string sql;             ///< its text
  std::vector<Value> params;   ///< its bound values
  std::size_t connection = 0;  ///< the connection that ran it: 1, 2, ... in the order they were lent
};

/// What a scripted statement answers.
struct ScriptedAnswer {
  std::vector<std::string> columns;      ///< the names of the columns of `rows`
  std::vector<std::vector<Value>> rows;  ///< the rows returned, each with a value per column
  ExecResult result;                     ///< rows affected and the inserted key, as the engine would report them
  std::exception_ptr failure;            ///< thrown instead of answering, when set
};

/// An engine with no database behind it, for unit tests of code that runs queries: it records every statement
/// it is given and answers from a script (rules matched by a fragment of the statement's text).
class RecordingEngine final : public Engine {
public:
  /// A rule's number of times: it answers every statement it matches.
  static constexpr int unlimited = -1;

  /// An engine that renders as `dialect` and reports `version`.
  explicit RecordingEngine(Dialect dialect = Dialect::sqlite, std::string version = "0.0 (keel recording engine)")
      : dialect_(dialect), version_(std::move(version)) {}

  // ---- The script. A statement gets the answer of the latest rule whose fragment its text contains (an empty
  // fragment matches every statement); a rule given a number of times answers that many statements, then
  // steps aside. A statement no rule matches returns no rows and affects none.
  /// Adds a rule: statements whose text contains `fragment` get `answer` (`times` of them, or all).
  RecordingEngine& answers(std::string fragment, ScriptedAnswer answer, int times = unlimited) {
    for (const auto& row : answer.rows)
      if (row.size() != answer.columns.size())
        throw MisuseError("RecordingEngine: a scripted row has " + std::to_string(row.size()) + " values for " +
                          std::to_string(answer.columns.size()) + " columns");
    std::lock_guard lock(mutex_);
    rules_.push_back(Rule{std::move(fragment), std::move(answer), times});
    return *this;
  }
  /// Adds a rule: statements whose text contains `fragment` return `rows` of `columns`.
  RecordingEngine& returns(std::string fragment, std::vector<std::string> columns, std::vector<std::vector<Value>> rows,
                           int times = unlimited) {
    return answers(std::move(fragment), ScriptedAnswer{std::move(columns), std::move(rows), {}, nullptr}, times);
  }
  /// Adds a rule: statements whose text contains `fragment` affect `rows` rows, and report `last_insert_id`.
  RecordingEngine& affects(std::string fragment, std::uint64_t rows,
                           std::optional<std::int64_t> last_insert_id = std::nullopt, int times = unlimited) {
    return answers(std::move(fragment), ScriptedAnswer{{}, {}, ExecResult{rows, last_insert_id, {}}, nullptr}, times);
  }
  /// The statements that match throw `error` (a keel error, say keel::SerializationFailure, or any exception).
  template <class E>
  RecordingEngine& fails(std::string fragment, E error, int times = unlimited) {
    return answers(std::move(fragment), ScriptedAnswer{{}, {}, {}, std::make_exception_ptr(std::move(error))}, times);
  }

  /// The statements that match fail as the database would with this SQLSTATE: the same error class (40001 is
  /// keel::SerializationFailure, 23505 keel::UniqueViolation...).
  RecordingEngine& fails_with_sqlstate(std::string fragment, std::string sqlstate, std::string message,
                                       int times = unlimited) {
    ErrorFields fields;
    fields.severity = "ERROR";
    fields.sqlstate = std::move(sqlstate);
    fields.message = std::move(message);
    std::exception_ptr failure;
    try {
      throw_database_error(std::move(fields));
    } catch (...) {
      failure = std::current_exception();
    }
    return answers(std::move(fragment), ScriptedAnswer{{}, {}, {}, failure}, times);
  }

  // ---- The record.
  /// Every statement recorded, in the order they ran (copied).
  std::vector<RecordedStatement> statements() const {
    std::lock_guard lock(mutex_);
    return recorded_;
  }
  /// The texts alone, in the order they ran.
  std::vector<std::string> sql() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> texts;
    texts.reserve(recorded_.size());
    for (const auto& statement : recorded_) texts.push_back(statement.sql);
    return texts;
  }
  /// Forgets what was recorded (the script stays).
  void clear() {
    std::lock_guard lock(mutex_);
    recorded_.clear();
  }
  /// How many connections are lent out now: a test can check that every lease came back.
  std::size_t connections_in_use() const {
    std::lock_guard lock(mutex_);
    return in_use_;
  }

  // ---- Engine
  Dialect dialect() const override { return dialect_; }
  asio::awaitable<std::string> version() override { co_return version_; }
  asio::awaitable<void> close() override { co_return; }
  asio::awaitable<ConnectionLease> acquire() override { co_return lend(); }
  ConnectionLease try_acquire() override { return lend(); }

private:
  struct Rule {
    std::string fragment;
    ScriptedAnswer answer;
    int times;
  };

  class RecordingCursor final : public Cursor {
  public:
    explicit RecordingCursor(ScriptedAnswer answer) : answer_(std::move(answer)) {}
    asio::awaitable<std::size_t> fetch(std::size_t max_rows, RowSink& sink) override {
      const std::size_t count = std::min(max_rows, answer_.rows.size() - next_);
      feed(answer_, next_, count, sink);
      next_ += count;
      co_return count;
    }

  private:
    ScriptedAnswer answer_;
    std::size_t next_ = 0;
  };

  class RecordingConnection final : public Connection {
  public:
    RecordingConnection(RecordingEngine& engine, std::size_t number) : engine_(engine), number_(number) {}
    Dialect dialect() const override { return engine_.dialect_; }
    asio::awaitable<ExecResult> execute(const Statement& statement, RowSink* sink) override {
      const ScriptedAnswer answer = engine_.run(statement, number_);
      if (sink) feed(answer, 0, answer.rows.size(), *sink);
      co_return answer.result;
    }
    // As PostgresEngine writes many rows given row after row, with no keys asked, into a table that allows it:
    // recorded as "COPY <table> (<columns>) FROM STDIN" with the rows' values. Other inserts as themselves. A
    // dialect with a bulk path (bulk_insert_min_rows) is recorded this way: PostgreSQL's is the only one keel has.
    asio::awaitable<ExecResult> insert_rows(const Statement& insert, const InsertTarget& target,
                                            RowSink* sink) override {
      if (engine_.dialect_->bulk_insert_min_rows == no_bulk_insert || target.columns.empty() ||
          target.layout != InsertLayout::rows || !target.returned_key.empty())
        co_return co_await Connection::insert_rows(insert, target, sink);
      std::string sql = "COPY " + target.table + " (";
      for (std::size_t i = 0; i < target.columns.size(); ++i)
        sql += (i ? ", " : "") + quote_identifier(target.columns[i]);
      ExecResult result = engine_.run(Statement(sql + ") FROM STDIN", insert.params()), number_).result;
      if (result.rows_affected == 0) result.rows_affected = insert.params().size() / target.columns.size();
      co_return result;
    }
    asio::awaitable<void> begin(const TransactionOptions&) override {
      engine_.run(Statement("BEGIN"), number_);
      co_return;
    }
    asio::awaitable<void> commit() override {
      engine_.run(Statement("COMMIT"), number_);
      co_return;
    }
    asio::awaitable<void> rollback() override {
      engine_.run(Statement("ROLLBACK"), number_);
      co_return;
    }
    asio::awaitable<std::unique_ptr<Cursor>> open_cursor(Statement statement) override {
      co_return std::make_unique<RecordingCursor>(engine_.run(statement, number_));
    }

  private:
    RecordingEngine& engine_;
    std::size_t number_;
  };

  class Owner final : public ConnectionOwner {
  public:
    explicit Owner(RecordingEngine& engine) : engine_(engine) {}
    void release(Connection* connection) noexcept override {
      delete connection;
      std::lock_guard lock(engine_.mutex_);
      --engine_.in_use_;
    }
    bool gives_back_at_once() const noexcept override { return true; }

  private:
    RecordingEngine& engine_;
  };

  ConnectionLease lend() {
    std::lock_guard lock(mutex_);
    ++in_use_;
    return ConnectionLease(new RecordingConnection(*this, ++lent_), ReturnToOwner{&owner_});
  }

  // Records the statement and finds its answer; throws the scripted failure.
  ScriptedAnswer run(const Statement& statement, std::size_t connection) {
    std::lock_guard lock(mutex_);
    recorded_.push_back(RecordedStatement{std::string(statement.sql()), statement.params(), connection});
    for (auto rule = rules_.rbegin(); rule != rules_.rend(); ++rule) {
      if (rule->times == 0 || statement.sql().find(rule->fragment) == std::string_view::npos) continue;
      if (rule->times > 0) --rule->times;
      if (rule->answer.failure) std::rethrow_exception(rule->answer.failure);
      return rule->answer;
    }
    return {};
  }

  // Hands rows [first, first + count) of an answer to a sink.
  static void feed(const ScriptedAnswer& answer, std::size_t first, std::size_t count, RowSink& sink) {
    if (count == 0) return;
    auto names = std::make_shared<const std::vector<std::string>>(answer.columns);
    for (std::size_t i = first; i < first + count; ++i) sink.on_row(Row(names, answer.rows[i]));
  }

  Dialect dialect_;
  std::string version_;
  mutable std::mutex mutex_;
  std::vector<Rule> rules_;
  std::vector<RecordedStatement> recorded_;
  std::size_t lent_ = 0, in_use_ = 0;
  Owner owner_{*this};
};

}  // namespace keel
