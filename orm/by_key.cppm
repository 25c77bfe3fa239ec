// A row by its primary key: get it, and save it (Piccolo's objects().get and save()).
//   std::optional<Band> band = co_await keel::get<Band>(id).run();
//   band->popularity = 2000;
//   co_await keel::save(*band).run();   // an UPDATE by its key; a new row (no key yet) is inserted
module;
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>
export module keel.orm:by_key;
import keel.engine;
import keel.reflection;
import :column;
import :expression;
import :insert;
import :query_support;
import :select;
import :sql_writer;
import :table;
import :text_cache;

export namespace keel {

/// The primary key column of table T, as an expression.
template <class T>
struct KeyColumn : ExpressionOps<KeyColumn<T>> {
  using Traits = table_traits<T>;
  static_assert(Traits::has_primary_key, "keel: this table has no primary key (keel::Id or keel::PrimaryKey<T>)");
  using keel_expression_tag = void;
  using value_type = typename Traits::template traits<Traits::primary_key>::value_type;
  static constexpr bool nullable = false;
  using tables = type_list<T>;
  static constexpr TextShape shape{};
  /// Writes "t"."key".
  void write(SqlWriter& w) const { w.column(Traits::name, Traits::column_names[Traits::primary_key]); }
};

/// The row of T whose primary key is `key`, or std::nullopt: select<T>().where(key column == key).first().
template <class T, class K>
auto get(const K& key) {
  return select<T>().where(KeyColumn<T>{} == key).first();
}

/// What saving a row gives: the row as stored, its key filled in when the database gave it one.
template <class T>
class SaveCollector final : public RowSink {
public:
  using result_type = T;
  /// Of `row`: inserted (its key comes back), or updated by its generated key (it must find the row), or
  /// upserted on a given key.
  SaveCollector(std::shared_ptr<const std::vector<T>> row, bool inserts)
      : inserted_(row), row_(row), inserts_(inserts) {}
  void on_row(const RowReader& row) override { inserted_.on_row(row); }
  T result(const ExecResult& outcome) {
    if (inserts_) return inserted_.result(outcome);
    // An upsert on a given key changed nothing only when the row was already as saved (a table of its key alone).
    if (table_traits<T>::has_generated_key && outcome.rows_affected == 0)
      throw MisuseError("keel::save: no " + std::string(table_traits<T>::name) + " row has key " +
                        text_form::of(to_value(reflection::get<table_traits<T>::primary_key>(row_->front()))) +
                        " (it was deleted, or the key was not one the database gave)");
    // The columns the database defaults came back as stored (RETURNING).
    if constexpr (Insert<T, false, NoReturning>::has_database_defaults)
      return inserted_.result(outcome);
    else
      return row_->front();
  }

private:
  InsertedRowsCollector<T, false> inserted_;
  std::shared_ptr<const std::vector<T>> row_;
  bool inserts_;
};

/// Saves a row: inserted when its generated key is not set yet (zero), the database giving it one; else
/// updated by its key, every other column set. A row whose key the application gives (keel::PrimaryKey) is
/// inserted or updated in one statement (ON CONFLICT on the key). Gives the row as stored.
template <class T>
class Save : public Runnable<Save<T>> {
  using Traits = table_traits<T>;
  static_assert(Traits::has_primary_key,
                "keel::save needs a table with a primary key (keel::Id or keel::PrimaryKey<T>)");
  static constexpr std::size_t key = Traits::primary_key;

public:
  /// The row as stored.
  using result_type = T;
  /// Two texts, chosen per run: the insert of a new row, and the update (or upsert) of a stored one.
  static constexpr TextShape shape{.fixed = true, .choices = 1};

  /// A save of `row`; keel::save makes one.
  explicit Save(T row) : row_(std::make_shared<const std::vector<T>>(1, std::move(row))) {}

  /// The statement in `dialect`.
  Statement statement(Dialect dialect) const { return make_statement(*this, dialect); }
  /// Gives the row, its key filled in by an insert; an update that found no row throws MisuseError.
  SaveCollector<T> collector() const { return SaveCollector<T>(row_, inserts()); }

  /// Writes the SQL text and binds the values.
  void write(SqlWriter& w) const {
    if (w.choose(inserts())) {
      RowInsert(row_).write(w);
      return;
    }
    const T& row = row_->front();
    w.set_qualify_columns(false);
    if constexpr (Traits::has_generated_key) {
      static_assert(Traits::column_count > 1, "keel::save: a table of its generated key alone has nothing to update");
      // UPDATE "t" SET "a" = ?, ... WHERE "key" = ?
      w.sql("UPDATE ");
      w.identifier(Traits::name);
      w.sql(" SET ");
      for_each_other_column([&]<std::size_t I>(bool first) {
        w.sql(first ? "" : ", ");
        w.identifier(Traits::column_names[I]);
        w.sql(" = ");
        if constexpr (is_database_defaulted<T, I>())
          write_kept_unless_given<I>(w, row, false);
        else
          w.param(to_value(reflection::get<I>(row)));
      });
      w.sql(" WHERE ");
      w.identifier(Traits::column_names[key]);
      w.sql(" = ");
      w.param(to_value(reflection::get<key>(row)));
    } else {
      // INSERT ... ON CONFLICT ("key") DO UPDATE SET "a" = excluded."a", ...
      RowInsert(row_).write_rows(w);
      w.sql(" ON CONFLICT (");
      w.identifier(Traits::column_names[key]);
      w.sql(")");
      if constexpr (Traits::column_count == 1) {
        w.sql(" DO NOTHING");
      } else {
        w.sql(" DO UPDATE SET ");
        for_each_other_column([&]<std::size_t I>(bool first) {
          w.sql(first ? "" : ", ");
          w.identifier(Traits::column_names[I]);
          if constexpr (is_database_defaulted<T, I>()) {
            w.sql(" = ");
            write_kept_unless_given<I>(w, row, true);
          } else {
            w.sql(" = excluded.");
            w.identifier(Traits::column_names[I]);
          }
        });
      }
    }
    if constexpr (RowInsert::has_database_defaults) RowInsert::write_returned_by_database(w);
  }

private:
  using RowInsert = Insert<T, false, NoReturning>;

  // coalesce(?, "a"): a column the database defaults keeps its stored value when the row leaves it unset. In
  // DO UPDATE the stored column is named with its table ("t"."a"): a bare name is ambiguous on PostgreSQL.
  template <std::size_t I>
  static void write_kept_unless_given(SqlWriter& w, const T& row, bool name_table) {
    w.sql("coalesce(");
    w.param(RowInsert::template inserted_value<I>(row));
    w.sql(", ");
    if (name_table) {
      w.identifier(Traits::name);
      w.sql(".");
    }
    w.identifier(Traits::column_names[I]);
    w.sql(")");
  }

  // Whether the row is new: its generated key is not set yet.
  bool inserts() const {
    if constexpr (Traits::has_generated_key)
      return stored_value_ref(reflection::get<key>(row_->front())) == 0;
    else
      return false;
  }
  // f.template operator()<I>(first) for every column but the key, in order.
  template <class F>
  static void for_each_other_column(F&& f) {
    bool first = true;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((I != key ? (f.template operator()<I>(first), first = false) : false), ...);
    }(std::make_index_sequence<Traits::column_count>{});
  }

  std::shared_ptr<const std::vector<T>> row_;
};

/// Saves `row` (see Save): co_await keel::save(band).run() gives the row as stored.
template <class T>
Save<T> save(T row) {
  (void)sizeof(table_traits<T>);
  return Save<T>(std::move(row));
}

}  // namespace keel
