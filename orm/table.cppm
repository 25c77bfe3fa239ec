// A table is a plain aggregate struct. Its name is the type's name in snake case (BandMember -> band_member)
// unless the struct says otherwise with `static constexpr std::string_view table_name = "...";`; its columns
// are its members, in order, named after them.
module;
#include <array>
#include <concepts>
#include <cstddef>
#include <string_view>
#include <type_traits>
#include <utility>
export module keel.orm:table;
import keel.engine;
import keel.reflection;
import :column;

namespace keel::table_detail {

struct SnakeName {
  char text[128] = {};
  std::size_t length = 0;
  constexpr std::string_view view() const { return {text, length}; }
};

constexpr bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
constexpr bool is_lower_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// BandMember -> band_member, HTTPRequest -> http_request, Band2 -> band2.
consteval SnakeName snake_case(std::string_view name) {
  SnakeName out;
  for (std::size_t i = 0; i < name.size() && out.length + 2 < sizeof(out.text); ++i) {
    const char c = name[i];
    if (is_upper(c)) {
      const bool after_lower = i > 0 && is_lower_or_digit(name[i - 1]);
      const bool end_of_acronym =
          i > 0 && is_upper(name[i - 1]) && i + 1 < name.size() && is_lower_or_digit(name[i + 1]);
      if (after_lower || end_of_acronym) out.text[out.length++] = '_';
      out.text[out.length++] = static_cast<char>(c - 'A' + 'a');
    } else {
      out.text[out.length++] = c;
    }
  }
  return out;
}

template <class T>
inline constexpr SnakeName snake_name = snake_case(reflection::type_name<T>);

template <class T, std::size_t... I>
consteval bool all_columns_supported(std::index_sequence<I...>) {
  return (column_traits<reflection::field_type<T, I>>::supported && ...);
}

}  // namespace keel::table_detail

export namespace keel {

/// Whether T names its table: `static constexpr std::string_view table_name = "...";`.
template <class T>
concept HasTableName = requires {
  { T::table_name } -> std::convertible_to<std::string_view>;
};

/// An alias of a table (keel::Alias<T, "name">): the table under another name, inside one select.
template <class S>
concept TableAlias = requires { typename S::keel_alias_tag; };

/// A struct keel can use as a table.
template <class T>
concept Table = reflection::Reflectable<T> && std::default_initializable<T> && (reflection::field_count<T> > 0);

/// T's table name: its table_name member, else its type's name in snake case (BandMember -> band_member).
template <Table T>
consteval std::string_view table_name_of() {
  if constexpr (HasTableName<T>)
    return T::table_name;
  else
    return table_detail::snake_name<T>.view();
}

/// What keel knows of table T: its name, its columns and its primary key. A struct that cannot be a table
/// fails to compile here, with one message.
template <class T>
struct table_traits {
  static_assert(!TableAlias<T>,
                "keel: an alias (keel::Alias) names a table inside a select only; insert, update, delete and create "
                "the table itself");
  static_assert(Table<T>,
                "keel: a table must be a plain aggregate struct with at least one member and no user-declared "
                "constructors");
  static_assert(table_detail::all_columns_supported<T>(std::make_index_sequence<reflection::field_count<T>>{}),
                "keel: every member of a table must be a column: bool, an integer of up to 32 bits unsigned or 64 "
                "bits signed, float, double, std::string, keel::Blob, std::chrono::sys_days, keel::TimeOfDay, "
                "keel::Timestamp, keel::TimestampTz, keel::Interval, keel::Uuid, keel::Json, boost::json::value, "
                "keel::JsonOf<T>, keel::Numeric, "
                "std::vector of one of these (an array), keel::Column<...>, keel::ForeignKey<...>, or std::optional "
                "of one of these");

  static constexpr std::string_view name = table_name_of<T>();             ///< the table's name
  static constexpr std::size_t column_count = reflection::field_count<T>;  ///< the number of columns
  static constexpr auto column_names = reflection::field_names<T>;         ///< the columns' names, in order
  /// The primary key's column index; column_count when there is none.
  static constexpr std::size_t primary_key = primary_key_index<T>();
  static constexpr bool has_primary_key = primary_key < column_count;  ///< whether it has a primary key

  /// The type of member I.
  template <std::size_t I>
  using member_type = reflection::field_type<T, I>;
  /// What member I means as a column.
  template <std::size_t I>
  using traits = column_traits<member_type<I>>;

  /// Whether the database generates the primary key (keel::Id).
  static constexpr bool has_generated_key = [] {
    if constexpr (has_primary_key)
      return has_option<member_type<primary_key>, generated>;
    else
      return false;
  }();
};

/// The column of a member: &Band::name -> table Band, index 1, name "name".
template <auto Member>
struct member_column {
  using table = reflection::member_class_t<Member>;                               ///< the table: the member's class
  using member_type = reflection::member_type_t<Member>;                          ///< the member's type
  using traits = column_traits<member_type>;                                      ///< what the member means as a column
  static constexpr std::size_t index = reflection::member_index<Member>;          ///< the member's index in the table
  static constexpr std::string_view name = reflection::field_name<table, index>;  ///< the column's name
};

/// A table as a query names it: a table struct, under its own name, or an alias (keel::Alias), under the
/// alias's name.
template <class S>
struct query_table {
  using table = S;                                                 ///< the table struct
  static constexpr std::string_view name = table_traits<S>::name;  ///< the name the query gives it
  static constexpr bool aliased = false;                           ///< whether the name is an alias
};
template <TableAlias S>
struct query_table<S> {
  using table = typename S::table;
  static constexpr std::string_view name = S::name;
  static constexpr bool aliased = true;
};

/// T's table name (see table_name_of).
template <class T>
inline constexpr std::string_view table_name = table_traits<T>::name;

}  // namespace keel
