// DDL from the structs themselves: CREATE TABLE (with the indexes its columns declare), DROP TABLE,
// CREATE INDEX. Column types, NOT NULL, keys, UNIQUE, DEFAULT and REFERENCES come from the member types.
//   co_await keel::create_table<Band>().if_not_exists().run();
module;
#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <concepts>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>
export module keel.orm:schema;
import keel.engine;
import keel.reflection;
import :column;
import :expression;
import :query_support;
import :sql_writer;
import :table;

namespace asio = boost::asio;

export namespace keel {

/// Runs a query made of several statements, one after the other, on the context's runner (the transaction in
/// scope, else the default engine) or on the one given. In a transaction they all commit or roll back together.
template <class Derived>
class ScriptRunnable {
public:
  /// Runs the statements on the transaction in scope, else on the default engine.
  asio::awaitable<void> run() const { return run_on_context(self()); }
  /// Runs the statements on `runner`, one after the other.
  asio::awaitable<void> run(StatementRunner& runner) const { return run_script(runner, self()); }
  /// run() to completion on the calling thread's private event loop.
  void run_sync() const { keel::run_sync(run()); }
  /// run(runner) to completion on the calling thread's private event loop.
  void run_sync(StatementRunner& runner) const { keel::run_sync(run(runner)); }

private:
  const Derived& self() const { return static_cast<const Derived&>(*this); }
  static asio::awaitable<void> run_on_context(Derived script) {
    auto runner = runner_for(co_await asio::this_coro::executor);
    co_await run_script(*runner, std::move(script));
  }
  static asio::awaitable<void> run_script(StatementRunner& runner, Derived script) {
    for (const Statement& statement : script.statements(runner.dialect())) co_await runner.execute(statement, nullptr);
  }
};

// A statement that returns nothing.
class NothingCollector final : public RowSink {
public:
  void on_row(const RowReader&) override {}
  void result(const ExecResult&) {}
};

template <class T, std::size_t I>
void write_column_definition(std::string& sql, Dialect dialect) {
  using Traits = table_traits<T>;
  using Member = typename Traits::template member_type<I>;
  using Column = column_traits<Member>;
  constexpr bool is_key = has_option<Member, primary_key>;
  constexpr bool is_generated = has_option<Member, generated>;
  static_assert(!is_generated || (is_key && std::integral<typename Column::value_type>),
                "keel::generated applies to an integer primary key (keel::Id)");
  static_assert(!(is_key && Column::nullable), "keel: a primary key cannot be std::optional");

  append_quoted_identifier(sql, Traits::column_names[I]);
  sql += ' ';
  if constexpr (is_generated) {
    sql += dialect->generated_key_column;
    return;
  } else if constexpr (Column::is_foreign_key) {
    using Target = table_traits<typename Column::target_table>;
    static_assert(Target::has_primary_key, "keel::ForeignKey<T>: the table T needs a primary key");
    using TargetKey = column_traits<typename Target::template member_type<Target::primary_key>>;
    static_assert(std::integral<typename TargetKey::value_type>,
                  "keel::ForeignKey<T>: T's primary key must be an integer (keel::Id)");
    sql += sql_type<typename TargetKey::value_type>(dialect);
  } else {
    sql += checked_column_sql_type<typename Column::value_type>(dialect, Traits::name, Traits::column_names[I]);
  }
  if constexpr (!Column::nullable) sql += " NOT NULL";
  if constexpr (is_key) sql += " PRIMARY KEY";
  if constexpr (has_option<Member, unique>) sql += " UNIQUE";
  using Default = find_default<typename Column::options>;
  using DatabaseDefault = typename database_default_option<typename Column::options>::type;
  static_assert(!(Default::found && !std::is_void_v<DatabaseDefault>),
                "keel: a column takes one default: default_to, default_now, default_uuid or default_sql");
  if constexpr (Default::found) {
    sql += " DEFAULT ";
    append_literal<typename Column::value_type, Default::value>(sql);
  } else if constexpr (!std::is_void_v<DatabaseDefault>) {
    sql += " DEFAULT ";
    sql += checked_database_default<typename Column::value_type, DatabaseDefault>(dialect, Traits::name,
                                                                                  Traits::column_names[I]);
  }
  if constexpr (LabelledEnum<typename Column::value_type>) {
    if (!dialect->types.enumeration.empty()) {  // stored as text: the CHECK keeps it to the labels
      sql += " CHECK (";
      append_quoted_identifier(sql, Traits::column_names[I]);
      sql += " IN (";
      append_enum_labels<typename Column::value_type>(sql);
      sql += "))";
    }
  }
  if constexpr (Column::is_foreign_key) {
    using Target = table_traits<typename Column::target_table>;
    sql += " REFERENCES ";
    append_quoted_identifier(sql, Target::name);
    sql += " (";
    append_quoted_identifier(sql, Target::column_names[Target::primary_key]);
    sql += ")";
    if constexpr (has_option<Member, on_delete_cascade>) sql += " ON DELETE CASCADE";
    if constexpr (has_option<Member, on_delete_set_null>) sql += " ON DELETE SET NULL";
    if constexpr (has_option<Member, on_delete_restrict>) sql += " ON DELETE RESTRICT";
  }
}

/// A dollar quote that none of E's labels holds: `$keel$`, else `$keel1$`, `$keel2$` ..., so that no label ends
/// the quoted block early.
template <LabelledEnum E>
std::string enum_dollar_quote() {
  for (int n = 0;; ++n) {
    std::string quote = n == 0 ? std::string("$keel$") : "$keel" + std::to_string(n) + "$";
    bool held = false;
    for (const EnumLabel<E>& entry : SqlEnum<E>::labels)
      held = held || entry.label.find(quote) != std::string_view::npos;
    if (!held) return quote;
  }
}

/// The dialect's create_enum_type statement for enum E: CREATE TYPE unless a type of its name exists.
template <LabelledEnum E>
std::string enum_type_statement(Dialect dialect) {
  std::string labels;
  append_enum_labels<E>(labels);
  std::string sql;
  const std::string_view pattern = dialect->create_enum_type;
  for (std::size_t i = 0; i < pattern.size();) {
    if (pattern.substr(i).starts_with("{name}")) {
      append_quoted_identifier(sql, SqlEnum<E>::name);
      i += 6;
    } else if (pattern.substr(i).starts_with("{labels}")) {
      sql += labels;
      i += 8;
    } else if (pattern.substr(i).starts_with("{quote}")) {
      sql += enum_dollar_quote<E>();
      i += 7;
    } else {
      sql += pattern[i++];
    }
  }
  return sql;
}

inline std::string index_statement(std::string_view table, const std::vector<std::string_view>& columns,
                                   bool unique_index, bool if_not_exists, std::string_view name) {
  std::string sql = unique_index ? "CREATE UNIQUE INDEX " : "CREATE INDEX ";
  if (if_not_exists) sql += "IF NOT EXISTS ";
  std::string generated_name;
  if (name.empty()) {
    generated_name = std::string(table);
    for (auto column : columns) generated_name += "_" + std::string(column);
    generated_name += unique_index ? "_key" : "_idx";
    name = generated_name;
  }
  append_quoted_identifier(sql, name);
  sql += " ON ";
  append_quoted_identifier(sql, table);
  sql += " (";
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (i) sql += ", ";
    append_quoted_identifier(sql, columns[i]);
  }
  sql += ")";
  return sql;
}

/// CREATE TABLE for struct T, with the indexes its keel::indexed columns declare.
template <class T, bool IfNotExists>
class CreateTable : public ScriptRunnable<CreateTable<T, IfNotExists>> {
  using Traits = table_traits<T>;

public:
  /// CREATE TABLE IF NOT EXISTS, and CREATE INDEX IF NOT EXISTS.
  auto if_not_exists() const { return CreateTable<T, true>(); }

  /// The enum types its columns need, unless they exist (on an engine with enum types); CREATE TABLE; then
  /// CREATE INDEX for each keel::indexed column.
  std::vector<Statement> statements(Dialect dialect) const {
    std::vector<Statement> out;
    if (dialect->types.enumeration.empty() && !dialect->create_enum_type.empty()) {
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (add_enum_type<I>(out, dialect), ...);
      }(std::make_index_sequence<Traits::column_count>{});
    }
    out.emplace_back(table_sql(dialect));
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (add_index<I>(out), ...);
    }(std::make_index_sequence<Traits::column_count>{});
    return out;
  }

  /// The CREATE TABLE statement alone.
  std::string table_sql(Dialect dialect) const {
    std::string sql = IfNotExists ? "CREATE TABLE IF NOT EXISTS " : "CREATE TABLE ";
    append_quoted_identifier(sql, Traits::name);
    sql += " (";
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((sql += (I ? ", " : ""), write_column_definition<T, I>(sql, dialect)), ...);
    }(std::make_index_sequence<Traits::column_count>{});
    sql += ")";
    return sql;
  }

private:
  template <std::size_t I>
  static void add_enum_type(std::vector<Statement>& out, Dialect dialect) {
    using V = typename column_traits<typename Traits::template member_type<I>>::value_type;
    if constexpr (LabelledEnum<V>) {
      std::string sql = enum_type_statement<V>(dialect);
      for (const Statement& made : out)  // two columns of one enum: one statement
        if (made.sql() == sql) return;
      out.emplace_back(std::move(sql));
    }
  }
  template <std::size_t I>
  void add_index(std::vector<Statement>& out) const {
    if constexpr (has_option<typename Traits::template member_type<I>, indexed>)
      out.emplace_back(index_statement(Traits::name, {Traits::column_names[I]}, false, IfNotExists, {}));
  }
};

/// CREATE TABLE T: column types, NOT NULL, keys, UNIQUE, DEFAULT and REFERENCES come from the member types.
template <class T>
auto create_table() {
  (void)sizeof(table_traits<T>);
  return CreateTable<T, false>();
}

/// DROP TABLE of struct T.
template <class T, bool IfExists>
class DropTable : public Runnable<DropTable<T, IfExists>> {
public:
  /// Nothing.
  using result_type = void;
  /// DROP TABLE IF EXISTS.
  auto if_exists() const { return DropTable<T, true>(); }
  /// The statement, the same in every dialect.
  Statement statement(Dialect) const {
    std::string sql = IfExists ? "DROP TABLE IF EXISTS " : "DROP TABLE ";
    append_quoted_identifier(sql, table_traits<T>::name);
    return Statement(std::move(sql));
  }
  /// Takes no rows.
  NothingCollector collector() const { return {}; }
};

/// DROP TABLE T.
template <class T>
auto drop_table() {
  (void)sizeof(table_traits<T>);
  return DropTable<T, false>();
}

/// CREATE [UNIQUE] INDEX on columns of one table; the name defaults to table_column..._idx (or _key).
template <class T>
class CreateIndex : public Runnable<CreateIndex<T>> {
public:
  /// Nothing.
  using result_type = void;
  /// An index on `columns`; keel::create_index makes one.
  explicit CreateIndex(std::vector<std::string_view> columns) : columns_(std::move(columns)) {}

  /// CREATE UNIQUE INDEX.
  CreateIndex unique() const {
    return with([](CreateIndex& i) { i.unique_ = true; });
  }
  /// CREATE INDEX IF NOT EXISTS.
  CreateIndex if_not_exists() const {
    return with([](CreateIndex& i) { i.if_not_exists_ = true; });
  }
  /// Names the index, instead of table_column..._idx.
  CreateIndex name(std::string index_name) const {
    return with([&](CreateIndex& i) { i.name_ = std::move(index_name); });
  }

  /// The statement, the same in every dialect.
  Statement statement(Dialect) const {
    return Statement(index_statement(table_traits<T>::name, columns_, unique_, if_not_exists_, name_));
  }
  /// Takes no rows.
  NothingCollector collector() const { return {}; }

private:
  template <class F>
  CreateIndex with(F&& change) const {
    CreateIndex copy = *this;
    change(copy);
    return copy;
  }
  std::vector<std::string_view> columns_;
  bool unique_ = false;
  bool if_not_exists_ = false;
  std::string name_;
};

/// CREATE INDEX on columns of one table: keel::create_index(c<&Band::name>, c<&Band::country>).
template <class C1, class... C>
auto create_index(const C1&, const C&...) {
  static_assert(
      requires { C1::member; } && (requires { C::member; } && ...),
      "keel::create_index takes columns: keel::c<&T::member>");
  using T = typename C1::table;
  static_assert((std::same_as<typename C::table, T> && ...), "keel::create_index takes columns of one table");
  return CreateIndex<T>({member_column<C1::member>::name, member_column<C::member>::name...});
}

}  // namespace keel
