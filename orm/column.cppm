// What a table's member can be, and what it says about its column: the value type, NULL or NOT NULL, and the
// options declared in the type (primary key, generated, unique, indexed, default, foreign key).
//   keel::Id id;                                   generated 64-bit primary key
//   keel::Column<std::string, keel::unique> name;  NOT NULL text, unique
//   std::optional<std::string> country;            nullable text
//   keel::ForeignKey<Manager> manager;             references manager's primary key
module;
#include <algorithm>
#include <chrono>
#include <compare>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>
export module keel.orm:column;
import keel.engine;
import keel.reflection;

export namespace keel {

// ---- Column options, given as types: keel::Column<T, keel::unique, keel::indexed>.
/// this column is the table's primary key
struct primary_key {};
/// the database chooses the value on insert (with primary_key: an identity column)
struct generated {};
/// UNIQUE constraint
struct unique {};
/// an index on this column, made with the table
struct indexed {};

}  // namespace keel

namespace keel {
/// One object per enum type, whose address stands for the type in a DefaultLiteral: a template argument cannot
/// hold a type, and default_to must know which enum its enumerator is of.
template <class E>
inline constexpr char enum_type_tag = 0;
}  // namespace keel

export namespace keel {

/// A literal that can be a template argument: the DEFAULT of a column.
struct DefaultLiteral {
  /// What the literal is.
  enum class Kind { integer, real, boolean, text, enumerator } kind = Kind::integer;  ///< which fields hold it
  std::int64_t integer = 0;         ///< an integer, a boolean as 0 or 1, or an enumerator's underlying value
  double real = 0;                  ///< a floating-point number
  char text[64] = {};               ///< text, up to 63 characters
  std::size_t length = 0;           ///< the text's length
  const char* enum_type = nullptr;  ///< an enumerator's enum, as &enum_type_tag<E>

  /// An integer or a boolean.
  template <std::integral T>
  constexpr DefaultLiteral(T v)
      : kind(std::same_as<T, bool> ? Kind::boolean : Kind::integer), integer(static_cast<std::int64_t>(v)) {}
  /// A floating-point number.
  template <std::floating_point T>
  constexpr DefaultLiteral(T v) : kind(Kind::real), real(static_cast<double>(v)) {}
  /// Text, of at most 63 characters.
  template <std::size_t N>
  constexpr DefaultLiteral(const char (&s)[N]) : kind(Kind::text), length(N - 1) {
    static_assert(N <= sizeof(text), "keel::default_to: a text default has at most 63 characters");
    for (std::size_t i = 0; i + 1 < N; ++i) text[i] = s[i];
  }
  /// An enumerator, kept as its underlying value; the column's keel::SqlEnum<E> gives its label.
  template <class E>
    requires std::is_enum_v<E>
  constexpr DefaultLiteral(E v)
      : kind(Kind::enumerator), integer(static_cast<std::int64_t>(v)), enum_type(&enum_type_tag<E>) {}
  /// The text.
  constexpr std::string_view text_view() const { return {text, length}; }
};

/// `DEFAULT <literal>`: keel::Column<std::int64_t, keel::default_to<0>>, keel::Column<std::string,
/// keel::default_to<"new">>, keel::Column<Mood, keel::default_to<Mood::ok>> (DEFAULT 'ok', the enumerator's
/// label). The member starts with the same value in C++.
template <DefaultLiteral V>
struct default_to {
  static constexpr DefaultLiteral value = V;  ///< the literal
};

/// SQL text that can be a template argument: keel::default_sql<"...">'s expression.
template <std::size_t N>
struct SqlText {
  char text[N] = {};  ///< the text and its terminating NUL
  /// From a string literal.
  constexpr SqlText(const char (&s)[N]) {
    for (std::size_t i = 0; i < N; ++i) text[i] = s[i];
  }
  /// The text.
  constexpr std::string_view view() const { return {text, N - 1}; }
};

// ---- Database-side defaults: the database chooses the value of a member that an insert leaves unset (a
// member never given a value, still equal to T{}), and the insert gives back what it chose.
/// DEFAULT now: for keel::TimestampTz (an instant), keel::Timestamp (the session's wall clock) and
/// std::chrono::sys_days (today; in UTC on SQLite, in the session's time zone on PostgreSQL).
struct default_now {};
/// DEFAULT a random (version 4) UUID, for keel::Uuid.
struct default_uuid {};
/// DEFAULT an SQL expression of your own, written as given in CREATE TABLE and in inserts; it must suit every
/// engine the table runs on: keel::Column<keel::Json, keel::default_sql<"'{}'">>.
template <SqlText Expression>
struct default_sql {
  static constexpr std::string_view expression = Expression.view();  ///< the SQL
};

template <class T>
struct is_default_sql : std::false_type {};
template <SqlText E>
struct is_default_sql<default_sql<E>> : std::true_type {};
/// Whether an option leaves the value to the database.
template <class Option>
inline constexpr bool is_database_default =
    std::same_as<Option, default_now> || std::same_as<Option, default_uuid> || is_default_sql<Option>::value;

// Whether a value was given to a Column whose database may choose it; nothing for other columns.
template <bool Tracked>
struct GivenFlag {
  constexpr void mark() noexcept {}
  constexpr bool given() const noexcept { return true; }
};
template <>
struct GivenFlag<true> {
  bool is_given = false;
  constexpr void mark() noexcept { is_given = true; }
  constexpr bool given() const noexcept { return is_given; }
};

/// ReferentialAction for foreign keys: keel::ForeignKey<Band, keel::on_delete_cascade>.
///@{
struct on_delete_cascade {};
struct on_delete_set_null {};
struct on_delete_restrict {};
///@}

template <class... T>
struct type_list {};

template <class T, class List>
struct list_contains;
template <class T, class... U>
struct list_contains<T, type_list<U...>> : std::bool_constant<(std::same_as<T, U> || ...)> {};

template <class T>
struct is_default_option : std::false_type {};
template <DefaultLiteral V>
struct is_default_option<default_to<V>> : std::true_type {};

}  // namespace keel

// default_to's checks and an enumerator's label: not exported.
namespace keel {
/// The enumerator of enum E that a default_to literal holds.
template <class E>
constexpr E default_enumerator(const DefaultLiteral& literal) {
  return static_cast<E>(static_cast<std::underlying_type_t<E>>(literal.integer));
}

/// The label that keel::SqlEnum<E> gives the enumerator a default_to literal holds; empty when it gives none.
template <LabelledEnum E>
consteval std::string_view default_enumerator_label(const DefaultLiteral& literal) {
  for (const EnumLabel<E>& entry : SqlEnum<E>::labels)
    if (entry.value == default_enumerator<E>(literal)) return entry.label;
  return {};
}

/// Checks default_to<Literal> on a column of V where it is used, each misuse with its own message.
template <class V, DefaultLiteral Literal>
consteval bool check_default_to() {
  constexpr bool takes_literals = std::same_as<V, std::string> || std::is_arithmetic_v<V> || LabelledEnum<V>;
  static_assert(takes_literals,
                "keel::default_to<literal> applies to bool, number, text and keel::SqlEnum enum columns");
  if constexpr (takes_literals && Literal.kind == DefaultLiteral::Kind::enumerator) {
    constexpr bool same_enum = Literal.enum_type == &enum_type_tag<V>;
    static_assert(same_enum, "keel::default_to<enumerator> applies to a column of the enumerator's own enum");
    if constexpr (same_enum)
      static_assert(!default_enumerator_label<V>(Literal).empty(),
                    "keel: the enumerator of keel::default_to<enumerator> has no label in keel::SqlEnum<E>::labels");
  } else if constexpr (takes_literals) {
    static_assert(!LabelledEnum<V>,
                  "keel::default_to on an enum column takes one of its enumerators: keel::default_to<E::value>");
  }
  return true;
}
}  // namespace keel

export namespace keel {

/// A column whose type carries options. It converts to and from its value, so that a struct with
/// Column members is written and read like one with plain members.
template <class T, class... Options>
struct Column {
  /// The value's type.
  using value_type = T;
  /// The options, as a type list.
  using options = type_list<Options...>;

  /// Whether the database chooses the value when an insert leaves it unset (default_now, default_uuid,
  /// default_sql).
  static constexpr bool database_default = (is_database_default<Options> || ...);

  T value = initial_value();  ///< the value; a default_to option sets its start

  /// T's default value, or the default_to option's; with a database default, unset.
  Column() = default;
  /// From anything T is made from; with a database default, this value is inserted, even T{}.
  template <class U>
    requires(std::constructible_from<T, U &&> && !std::same_as<std::remove_cvref_t<U>, Column>)
  Column(U&& v) : value(std::forward<U>(v)) {
    given_.mark();
  }

  /// Whether an insert leaves the value to the database: it has a database default, and the member was never
  /// given a value (made, assigned or read from a row) and still holds T{}.
  bool left_to_database() const {
    if constexpr (database_default)
      return !given_.given() && value == T{};
    else
      return false;
  }
  /// Marks the value as given (read from a row, or set through `value`).
  void mark_given() noexcept { given_.mark(); }

  /// The value.
  operator const T&() const noexcept { return value; }
  /// The value.
  const T& operator*() const noexcept { return value; }
  /// The value.
  T& operator*() noexcept { return value; }
  /// The value's members.
  const T* operator->() const noexcept { return &value; }

  /// Compared as their values, with each other and with plain values.
  friend bool operator==(const Column& a, const Column& b) { return a.value == b.value; }
  /// Ordered as their values.
  friend auto operator<=>(const Column& a, const Column& b)
    requires std::three_way_comparable<T>
  {
    return a.value <=> b.value;
  }
  /// Compared as its value with a plain value.
  template <class U>
    requires(!std::same_as<U, Column> && std::equality_comparable_with<T, U>)
  friend bool operator==(const Column& a, const U& b) {
    return a.value == b;
  }
  /// Ordered as its value against a plain value.
  template <class U>
    requires(!std::same_as<U, Column> && std::three_way_comparable_with<T, U>)
  friend auto operator<=>(const Column& a, const U& b) {
    return a.value <=> b;
  }
  /// Prints the value.
  template <class Stream>
    requires requires(Stream& s, const T& v) { s << v; }
  friend Stream& operator<<(Stream& s, const Column& c) {
    s << c.value;
    return s;
  }

private:
  [[no_unique_address]] GivenFlag<database_default> given_;

  static constexpr T initial_value() {
    T result{};
    (assign_default<Options>(result), ...);
    return result;
  }
  template <class Option>
  static constexpr void assign_default(T& target) {
    if constexpr (is_default_option<Option>::value) {
      static_assert(check_default_to<T, Option::value>());
      constexpr DefaultLiteral v = Option::value;
      if constexpr (LabelledEnum<T>) {
        if constexpr (v.kind == DefaultLiteral::Kind::enumerator) target = default_enumerator<T>(v);
      } else if constexpr (std::same_as<T, std::string>) {
        if constexpr (v.kind == DefaultLiteral::Kind::text) target = std::string(v.text_view());
      } else if constexpr (std::floating_point<T>) {
        if constexpr (v.kind == DefaultLiteral::Kind::real)
          target = static_cast<T>(v.real);
        else if constexpr (v.kind == DefaultLiteral::Kind::integer)
          target = static_cast<T>(v.integer);
      } else if constexpr (std::integral<T>) {
        if constexpr (v.kind == DefaultLiteral::Kind::integer || v.kind == DefaultLiteral::Kind::boolean)
          target = static_cast<T>(v.integer);
      }
    }
  }
};

/// A 64-bit primary key that the database generates: SQLite's INTEGER PRIMARY KEY, PostgreSQL's identity.
using Id = Column<std::int64_t, primary_key, generated>;
/// A primary key that the application gives.
template <class T>
using PrimaryKey = Column<T, primary_key>;
/// A column with a UNIQUE constraint.
template <class T>
using Unique = Column<T, unique>;
/// A column with an index, made with the table.
template <class T>
using Indexed = Column<T, indexed>;

template <class T>
struct is_column_wrapper : std::false_type {};
template <class T, class... O>
struct is_column_wrapper<Column<T, O...>> : std::true_type {};

/// A column that holds the primary key of a row of table Target: REFERENCES target(primary key).
template <class Target, class... Options>
struct ForeignKey {
  /// The table it refers to.
  using target_table = Target;
  /// The options, as a type list.
  using options = type_list<Options...>;
  using value_type = std::int64_t;  ///< checked against Target's key type when the table is used

  std::int64_t value = 0;  ///< the key

  /// A key of 0: no row yet.
  ForeignKey() = default;
  /// The key `key`.
  ForeignKey(std::int64_t key) : value(key) {}
  /// A row of the target table: its key.
  template <class Row>
    requires std::same_as<Row, Target>
  ForeignKey(const Row& row) : value(key_of(row)) {}

  /// The key.
  operator std::int64_t() const noexcept { return value; }
  /// Compared as their keys.
  friend bool operator==(const ForeignKey& a, const ForeignKey& b) { return a.value == b.value; }
  /// Ordered as their keys.
  friend auto operator<=>(const ForeignKey& a, const ForeignKey& b) { return a.value <=> b.value; }
  /// Compared as its key with an integer.
  template <std::integral U>
  friend bool operator==(const ForeignKey& a, U b) {
    return a.value == b;
  }
  /// Ordered as its key against an integer.
  template <std::integral U>
  friend auto operator<=>(const ForeignKey& a, U b) {
    return a.value <=> b;
  }

private:
  template <class Row>
  static std::int64_t key_of(const Row& row);
};

/// Column wrappers bind as their values wherever a value is taken: db.raw("... id = {}", band.id).
template <class T, class... O>
struct ToValue<Column<T, O...>> {
  static Value encode(const Column<T, O...>& column) { return Value(column.value); }
};
template <class T, class... O>
struct ToValue<ForeignKey<T, O...>> {
  static Value encode(const ForeignKey<T, O...>& key) { return Value(key.value); }
};

template <class M>
struct is_primary_key_member;

/// The index of T's primary-key member, or field_count<T> when it has none.
template <class T>
consteval std::size_t primary_key_index() {
  return []<std::size_t... I>(std::index_sequence<I...>) {
    std::size_t index = sizeof...(I);
    (void)((is_primary_key_member<reflection::field_type<T, I>>::value ? (index = I, true) : false) || ...);
    return index;
  }(std::make_index_sequence<reflection::field_count<T>>{});
}

template <class Target, class... Options>
template <class Row>
std::int64_t ForeignKey<Target, Options...>::key_of(const Row& row) {
  constexpr std::size_t index = primary_key_index<Row>();
  static_assert(index < reflection::field_count<Row>,
                "keel::ForeignKey<T>: the referenced table T has no primary key (keel::Id or keel::PrimaryKey<T>)");
  return reflection::get<index>(row).value;
}

template <class T>
struct is_foreign_key : std::false_type {};
template <class T, class... O>
struct is_foreign_key<ForeignKey<T, O...>> : std::true_type {};

// ---- What a member type means as a column.
enum class SqlCategory {
  boolean,
  integer,
  real,
  text,
  blob,
  date,
  time,
  timestamp,
  timestamptz,
  interval,
  uuid,
  json,
  numeric,
  enumeration,  // a C++ enum with keel::SqlEnum labels: each enum its own SQL type
  array,        // std::vector<T> of a column type
  null          // NULL, or a type that is no column's
};

/// Whether T is a JSON document column's type: keel::Json, boost::json::value, keel::JsonOf<T>.
template <class T>
inline constexpr bool is_json_document = std::same_as<T, Json> || requires { typename T::keel_json_document_tag; };

template <class T>
struct is_array_column_type : std::false_type {};
template <class E>
  requires(!std::same_as<E, std::byte>)  // std::vector<std::byte> is keel::Blob
struct is_array_column_type<std::vector<E>> : std::true_type {};

template <class T>
constexpr SqlCategory category_of() {
  using U = std::remove_cvref_t<T>;
  if constexpr (std::same_as<U, bool>)
    return SqlCategory::boolean;
  else if constexpr (std::integral<U>)
    return SqlCategory::integer;
  else if constexpr (std::floating_point<U>)
    return SqlCategory::real;
  else if constexpr (std::same_as<U, Blob>)
    return SqlCategory::blob;
  else if constexpr (std::same_as<U, std::nullptr_t> || std::same_as<U, std::nullopt_t>)
    return SqlCategory::null;
  else if constexpr (std::convertible_to<const U&, std::string_view>)
    return SqlCategory::text;
  else if constexpr (std::same_as<U, std::chrono::sys_days>)
    return SqlCategory::date;
  else if constexpr (std::same_as<U, TimeOfDay>)
    return SqlCategory::time;
  else if constexpr (std::same_as<U, Timestamp>)
    return SqlCategory::timestamp;
  else if constexpr (std::same_as<U, TimestampTz>)
    return SqlCategory::timestamptz;
  else if constexpr (std::same_as<U, Interval>)
    return SqlCategory::interval;
  else if constexpr (std::same_as<U, Uuid>)
    return SqlCategory::uuid;
  else if constexpr (is_json_document<U>)
    return SqlCategory::json;
  else if constexpr (std::same_as<U, Numeric>)
    return SqlCategory::numeric;
  else if constexpr (LabelledEnum<U>)
    return SqlCategory::enumeration;
  else if constexpr (is_array_column_type<U>::value)
    return SqlCategory::array;
  else
    return SqlCategory::null;
}

/// Column types beyond numbers, text and blobs: dates and times (at PostgreSQL's microsecond precision), UUIDs,
/// JSON and exact numbers. PostgreSQL stores each as its own type; SQLite as text (see sqlite_dialect).
template <class T>
concept TypedColumnValue = category_of<T>() >= SqlCategory::date && category_of<T>() <= SqlCategory::numeric;

/// Column types that are not arrays.
template <class T>
concept ScalarColumnValue =
    std::same_as<T, bool> || std::same_as<T, std::int8_t> || std::same_as<T, std::int16_t> ||
    std::same_as<T, std::int32_t> || std::same_as<T, std::int64_t> || std::same_as<T, long long> ||
    std::same_as<T, std::uint8_t> || std::same_as<T, std::uint16_t> || std::same_as<T, std::uint32_t> ||
    std::same_as<T, float> || std::same_as<T, double> || std::same_as<T, std::string> || std::same_as<T, Blob> ||
    TypedColumnValue<T> || LabelledEnum<T>;

/// An array column: std::vector of a scalar column type but keel::Json (a JSON array is one document) and enums
/// (PostgreSQL would take their labels as text[], which is no enum's array).
/// PostgreSQL stores an array of that type; an engine without arrays (SQLite) stores the array's JSON text.
template <class T>
concept ArrayColumnValue = is_array_column_type<T>::value && ScalarColumnValue<typename T::value_type> &&
                           !is_json_document<typename T::value_type> &&  // SQLite would respell each document
                           !LabelledEnum<typename T::value_type>;

/// Types a column can hold: they map onto a SQL type on every dialect.
template <class T>
concept ColumnValue = ScalarColumnValue<T> || ArrayColumnValue<T>;

template <class M>
struct column_traits_base {
  static constexpr bool supported = ColumnValue<M>;
  using value_type = M;
  using options = type_list<>;
  static constexpr bool is_foreign_key = false;
  using target_table = void;
};
template <class T, class... O>
struct column_traits_base<Column<T, O...>> {
  static constexpr bool supported = ColumnValue<T>;
  using value_type = T;
  using options = type_list<O...>;
  static constexpr bool is_foreign_key = false;
  using target_table = void;
};
template <class Target, class... O>
struct column_traits_base<ForeignKey<Target, O...>> {
  static constexpr bool supported = true;
  using value_type = std::int64_t;
  using options = type_list<O...>;
  static constexpr bool is_foreign_key = true;
  using target_table = Target;
};

template <class M>
struct column_traits : column_traits_base<M> {
  static constexpr bool nullable = false;
  using stored_type = M;  // the member without std::optional
};
template <class M>
struct column_traits<std::optional<M>> : column_traits_base<M> {
  static_assert(
      !requires { requires M::database_default; },
      "keel: a column whose database chooses its value is NOT NULL: leave out std::optional");
  static constexpr bool nullable = true;
  using stored_type = M;
};

template <class M>
struct is_primary_key_member : list_contains<primary_key, typename column_traits<M>::options> {};

template <class M, class Option>
inline constexpr bool has_option = list_contains<Option, typename column_traits<M>::options>::value;

template <class List>
struct find_default {
  static constexpr bool found = false;
};
template <class First, class... Rest>
struct find_default<type_list<First, Rest...>> {
  static constexpr bool found = is_default_option<First>::value || find_default<type_list<Rest...>>::found;
  static constexpr DefaultLiteral value = [] {
    if constexpr (is_default_option<First>::value)
      return First::value;
    else if constexpr (find_default<type_list<Rest...>>::found)
      return find_default<type_list<Rest...>>::value;
    else
      return DefaultLiteral(0);
  }();
};

// ---- Reading and writing a member as a SQL value.

template <class M>
Value to_value(const M& member) {
  return Value(member);  // wrappers through ToValue, std::optional as NULL or its value
}

template <class M>
auto& stored_value_ref(M& member) {
  if constexpr (is_column_wrapper<M>::value || is_foreign_key<M>::value)
    return member.value;
  else
    return member;
}

template <class M>
void assign_cell(M& member, const Cell& cell, const CellOrigin& origin) {
  using Traits = column_traits<M>;
  using V = typename Traits::value_type;
  if constexpr (Traits::nullable) {
    if (cell.kind == ValueKind::null) {
      member.reset();
      return;
    }
    typename Traits::stored_type stored{};
    stored_value_ref(stored) = decode_cell<V>(cell, origin);
    member = std::move(stored);
  } else {
    stored_value_ref(member) = decode_cell<V>(cell, origin);
    if constexpr (is_column_wrapper<M>::value) member.mark_given();
  }
}

/// database_default_sql, or MisuseError naming the column when the dialect has no such expression.
template <class V, class Option>
std::string_view checked_database_default(Dialect dialect, std::string_view table, std::string_view column) {
  const std::string_view sql = database_default_sql<V, Option>(dialect);
  if (sql.empty())
    throw MisuseError("keel: the dialect '" + std::string(dialect.name()) + "' has no expression for " +
                      std::string(table) + "." + std::string(column) + "'s default (DialectDescription::defaults)");
  return sql;
}

/// The database-default option among a column's options (default_now, default_uuid, default_sql), or void.
template <class List>
struct database_default_option {
  using type = void;
};
template <class First, class... Rest>
struct database_default_option<type_list<First, Rest...>> {
  using type =
      std::conditional_t<is_database_default<First>, First, typename database_default_option<type_list<Rest...>>::type>;
};

/// Whether an insert leaves this member to the database (Column::left_to_database).
template <class M>
bool left_to_database(const M& member) {
  if constexpr (is_column_wrapper<M>::value)
    return member.left_to_database();
  else
    return false;
}

/// The SQL of a column's database default on a dialect: the expression of its default_now, default_uuid or
/// default_sql option. Empty when the dialect has none.
template <class V, class Option>
constexpr std::string_view database_default_sql(Dialect dialect) {
  if constexpr (std::same_as<Option, default_now>) {
    static_assert(std::same_as<V, TimestampTz> || std::same_as<V, Timestamp> || std::same_as<V, std::chrono::sys_days>,
                  "keel::default_now applies to keel::TimestampTz, keel::Timestamp and std::chrono::sys_days columns");
    if constexpr (std::same_as<V, TimestampTz>)
      return dialect->defaults.current_instant;
    else if constexpr (std::same_as<V, Timestamp>)
      return dialect->defaults.current_timestamp;
    else
      return dialect->defaults.current_date;
  } else if constexpr (std::same_as<Option, default_uuid>) {
    static_assert(std::same_as<V, Uuid>, "keel::default_uuid applies to keel::Uuid columns");
    return dialect->defaults.random_uuid;
  } else {
    return Option::expression;
  }
}

// ---- SQL types per dialect.
template <class T>
constexpr std::string_view sql_type(Dialect dialect) {
  const ColumnTypeNames& types = dialect->types;
  if constexpr (std::same_as<T, bool>)
    return types.boolean;
  else if constexpr (std::same_as<T, std::int8_t> || std::same_as<T, std::int16_t> || std::same_as<T, std::uint8_t>)
    return types.small_integer;
  else if constexpr (std::same_as<T, std::int32_t> || std::same_as<T, std::uint16_t>)
    return types.integer;
  else if constexpr (std::integral<T>)
    return types.big_integer;
  else if constexpr (std::same_as<T, float>)
    return types.real;
  else if constexpr (std::same_as<T, double>)
    return types.double_precision;
  else if constexpr (std::same_as<T, std::string>)
    return types.text;
  else if constexpr (std::same_as<T, Blob>)
    return types.blob;
  else if constexpr (std::same_as<T, std::chrono::sys_days>)
    return types.date;
  else if constexpr (std::same_as<T, TimeOfDay>)
    return types.time;
  else if constexpr (std::same_as<T, Timestamp>)
    return types.timestamp;
  else if constexpr (std::same_as<T, TimestampTz>)
    return types.timestamptz;
  else if constexpr (std::same_as<T, Interval>)
    return types.interval;
  else if constexpr (std::same_as<T, Uuid>)
    return types.uuid;
  else if constexpr (is_json_document<T>)
    return types.json;
  else if constexpr (std::same_as<T, Numeric>)
    return types.numeric;
  else
    return "";
}

/// The SQL type of a column of V: sql_type, or for a std::vector the element's type with the dialect's array
/// suffix, or its one type for arrays. Empty when the dialect names none.
template <class V>
std::string column_sql_type(Dialect dialect) {
  if constexpr (LabelledEnum<V>) {
    static_assert(check_sql_enum<V>());
    if (!dialect->types.enumeration.empty()) return std::string(dialect->types.enumeration);
    return quote_identifier(SqlEnum<V>::name);
  } else if constexpr (ArrayColumnValue<V>) {
    if (dialect->types.array_suffix.empty()) return std::string(dialect->types.array);
    const std::string_view element = sql_type<typename V::value_type>(dialect);
    return element.empty() ? std::string() : std::string(element) + std::string(dialect->types.array_suffix);
  } else {
    return std::string(sql_type<V>(dialect));
  }
}

/// column_sql_type, or MisuseError naming the column when the dialect names no type for it.
template <class V>
std::string checked_column_sql_type(Dialect dialect, std::string_view table, std::string_view column) {
  std::string type = column_sql_type<V>(dialect);
  if (type.empty())
    throw MisuseError("keel: the dialect '" + std::string(dialect.name()) + "' names no column type for " +
                      std::string(table) + "." + std::string(column) + "'s values (DialectDescription::types)");
  return type;
}

/// Appends the labels of enum E as quoted literals, comma-separated: 'sad', 'ok', 'happy'. They are compile-time
/// constants, never user input.
template <LabelledEnum E>
void append_enum_labels(std::string& sql) {
  bool first = true;
  for (const EnumLabel<E>& entry : SqlEnum<E>::labels) {
    if (!first) sql += ", ";
    first = false;
    append_quoted_literal(sql, entry.label);
  }
}

/// Writes the DEFAULT literal of a column of V: an enumerator as its label in keel::SqlEnum<V>. Literals are
/// compile-time constants, never user input, so inlining them is safe; DDL cannot take bound parameters on
/// PostgreSQL. A label is written as an untyped literal, which PostgreSQL coerces to the column's enum type.
template <class V, DefaultLiteral Literal>
void append_literal(std::string& sql) {
  static_assert(check_default_to<V, Literal>());
  if constexpr (Literal.kind == DefaultLiteral::Kind::integer) {
    sql += std::to_string(Literal.integer);
  } else if constexpr (Literal.kind == DefaultLiteral::Kind::boolean) {
    sql += Literal.integer ? "TRUE" : "FALSE";
  } else if constexpr (Literal.kind == DefaultLiteral::Kind::real) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", Literal.real);
    sql += text;
  } else if constexpr (Literal.kind == DefaultLiteral::Kind::text) {
    append_quoted_literal(sql, Literal.text_view());
  } else if constexpr (LabelledEnum<V>) {  // an enumerator; on another column type, check_default_to refused it
    append_quoted_literal(sql, default_enumerator_label<V>(Literal));
  }
}

}  // namespace keel
