// An alias: a table under another name, so that one select can read it twice (an employee and their manager)
// or read it inside a subquery of a query that reads it too.
//   using Boss = keel::Alias<Employee, "boss">;
//   keel::select(c<&Employee::name>, Boss::c<&Employee::name>).left_join<&Employee::manager, Boss>()
//   ... FROM "employee" LEFT JOIN "employee" AS "boss" ON "boss"."id" = "employee"."manager"
module;
#include <string_view>
export module keel.orm:alias;
import :column;
import :expression;
import :table;

export namespace keel {

/// Table T under the name `Name` in a select: its columns are Alias::c<&T::member>, and it comes into the
/// query through select(...), join and left_join like a table. Only selects (and their subqueries) read
/// aliases; insert, update and delete write the table itself.
template <class T, SqlText Name>
struct Alias {
  static_assert(!TableAlias<T>, "keel::Alias<T, \"name\"> takes a table struct, not another alias");
  static_assert(Table<T>, "keel::Alias<T, \"name\"> takes a table struct");
  static_assert(Name.view().size() > 0 && Name.view().size() <= 63,
                "keel::Alias: a name of 1 to 63 bytes, as PostgreSQL keeps no more of an identifier");
  using keel_alias_tag = void;
  /// The table.
  using table = T;
  /// The name the query gives it.
  static constexpr std::string_view name = Name.view();
  /// A column of the aliased table: Boss::c<&Employee::name>.
  template <auto Member>
  static constexpr ColumnRef<Member, Alias> c{};
};

}  // namespace keel
