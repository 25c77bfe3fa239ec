// Values that travel between keel and an engine: bound parameters going in, cells coming out.
// One set of conversion rules serves both a materialized Value and a cell read in place from an engine's row.
module;
#include <boost/uuid/uuid.hpp>
#include <charconv>
#include <chrono>
#include <concepts>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>
export module keel.core:value;
import :error;
import :value_text;
import :value_types;

export namespace keel {

/// Binary data: a BLOB on SQLite, bytea on PostgreSQL.
using Blob = std::vector<std::byte>;

class Value;
struct ValueArray;

/// A cell seen in place: views into the engine's buffers, valid until the row advances.
struct Cell {
  ValueKind kind = ValueKind::null;  ///< what the cell holds, and so which of the fields below holds it
  /// integer; boolean as 0 or 1; date: days since 1970-01-01; time: microseconds since midnight; timestamp and
  /// timestamptz: microseconds since 1970-01-01 (the extremes of int64 for ±infinity); interval: its clock time.
  std::int64_t integer = 0;
  /// interval: its months
  std::int32_t months = 0, days = 0;  ///< interval: its days
  double real = 0;                    ///< real
  std::string_view text;              ///< text, json, numeric
  std::span<const std::byte> blob;    ///< blob, uuid (16 bytes)
  const ValueArray* array = nullptr;  ///< array
};

/// Names the cell in error messages: "column 'name' (index 2)".
struct CellOrigin {
  std::size_t index = 0;  ///< the column's index in its row
  std::string_view name;  ///< the column's name; empty for a value that is not in a row
  /// The cell's name for an error message.
  std::string describe() const {
    if (name.empty()) return "value";
    return "column '" + std::string(name) + "' (index " + std::to_string(index) + ")";
  }
};

struct ValueArray;
}  // namespace keel

namespace keel::value_detail {
std::string array_text(const ValueArray& array);  // a JSON array (value_json.cppm)
}  // namespace keel::value_detail

export namespace keel {

/// Whether T is a std::optional.
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
/// Whether T is a std::optional.
template <class T>
inline constexpr bool is_optional_v = is_optional<T>::value;

/// Decoding a cell into T. Specialize keel::FromCell<T> to read your own types.
/// keel reads bool, integers, floating point, std::string, Blob, Value, dates, times, timestamps, intervals,
/// std::chrono durations, Uuid, Numeric, Json, boost::json::value, and std::vector of these (arrays).
template <class T>
struct FromCell;

/// Reads a cell as a T by FromCell<T>. NULL reads as an empty std::optional; read into any other T but Value, it
/// throws NullValueError.
template <class T>
T decode_cell(const Cell& cell, const CellOrigin& origin) {
  if constexpr (is_optional_v<T>) {
    if (cell.kind == ValueKind::null) return std::nullopt;
    return T(FromCell<typename T::value_type>::decode(cell, origin));
  } else {
    if (cell.kind == ValueKind::null && !std::is_same_v<T, Value>)
      throw NullValueError(origin.describe() + " is NULL; read it as std::optional<T> to accept NULL");
    return FromCell<T>::decode(cell, origin);
  }
}

/// Throws TypeMismatchError: the cell at `origin` cannot be read as `wanted`.
[[noreturn]] inline void throw_mismatch(const Cell& cell, const CellOrigin& origin, std::string_view wanted) {
  throw TypeMismatchError(origin.describe() + " holds " + std::string(to_string(cell.kind)) +
                          ", which cannot be read as " + std::string(wanted));
}

template <>
struct FromCell<bool> {
  static bool decode(const Cell& cell, const CellOrigin& origin) {
    // SQLite stores booleans as the integers 0 and 1.
    if (cell.kind == ValueKind::boolean ||
        (cell.kind == ValueKind::integer && (cell.integer == 0 || cell.integer == 1)))
      return cell.integer != 0;
    throw_mismatch(cell, origin, "bool");
  }
};

template <std::integral T>
  requires(!std::same_as<T, bool>)
struct FromCell<T> {
  static T decode(const Cell& cell, const CellOrigin& origin) {
    if (cell.kind != ValueKind::integer && cell.kind != ValueKind::boolean) throw_mismatch(cell, origin, "an integer");
    if (!std::in_range<T>(cell.integer))
      throw ValueOutOfRangeError(origin.describe() + " holds " + std::to_string(cell.integer) +
                                 ", which does not fit the requested integer type");
    return static_cast<T>(cell.integer);
  }
};

template <std::floating_point T>
struct FromCell<T> {
  static T decode(const Cell& cell, const CellOrigin& origin) {
    if (cell.kind == ValueKind::real) return static_cast<T>(cell.real);
    if (cell.kind == ValueKind::integer) return static_cast<T>(cell.integer);
    if (cell.kind == ValueKind::numeric) {  // the nearest double, asked for
      double v = 0;
      const auto [end, ec] = std::from_chars(cell.text.data(), cell.text.data() + cell.text.size(), v);
      if (ec == std::errc() && end == cell.text.data() + cell.text.size()) return static_cast<T>(v);
    }
    throw_mismatch(cell, origin, "a floating-point number");
  }
};

template <>
struct FromCell<std::string> {
  static std::string decode(const Cell& cell, const CellOrigin& origin) {
    switch (cell.kind) {
      case ValueKind::text:
      case ValueKind::json:
      case ValueKind::numeric: return std::string(cell.text);
      // The text forms of the types that have one (text_form), as an engine without them stores them.
      case ValueKind::date: return text_form::date(std::chrono::sys_days(std::chrono::days(cell.integer)));
      case ValueKind::time: return text_form::time(TimeOfDay{std::chrono::microseconds(cell.integer)});
      case ValueKind::timestamp: return text_form::timestamp(Timestamp(std::chrono::microseconds(cell.integer)));
      case ValueKind::timestamptz: return text_form::timestamptz(TimestampTz(std::chrono::microseconds(cell.integer)));
      case ValueKind::interval:
        return text_form::interval(Interval{cell.months, cell.days, std::chrono::microseconds(cell.integer)});
      case ValueKind::uuid: {
        Uuid u{};
        std::memcpy(u.data, cell.blob.data(), 16);
        return text_form::uuid(u);
      }
      case ValueKind::array:
        if (cell.array) return value_detail::array_text(*cell.array);
        [[fallthrough]];
      default: throw_mismatch(cell, origin, "text");
    }
  }
};

template <>
struct FromCell<Blob> {
  static Blob decode(const Cell& cell, const CellOrigin& origin) {
    if (cell.kind != ValueKind::blob) throw_mismatch(cell, origin, "a blob");
    return Blob(cell.blob.begin(), cell.blob.end());
  }
};

/// Encoding a type of your own as a bound value. Specialize keel::ToValue<T> with
///
///     static keel::Value encode(const T&);
///
/// and T binds wherever a value is taken (raw queries, the ORM's arguments). keel.orm does this for its column
/// wrappers, so that keel::Id binds as its integer.
template <class T>
struct ToValue;

/// Whether T binds through a ToValue<T> specialization.
template <class T>
concept HasToValue = requires(const T& v) { ToValue<T>::encode(v); };

/// Whether T is a std::chrono::local_time.
template <class T>
struct is_local_time : std::false_type {};
template <class D>
struct is_local_time<std::chrono::local_time<D>> : std::true_type {};
/// Whether T is a std::chrono::sys_time.
template <class T>
struct is_sys_time : std::false_type {};
template <class D>
struct is_sys_time<std::chrono::sys_time<D>> : std::true_type {};
/// Whether T is a std::chrono::duration.
template <class T>
struct is_duration : std::false_type {};
template <class R, class P>
struct is_duration<std::chrono::duration<R, P>> : std::true_type {};

/// The kind a C++ type binds as, known without a value: it types an array whose elements are all NULL, or
/// that has none. Types bound through ToValue answer null (their elements decide).
template <class T>
constexpr ValueKind natural_kind() {
  using U = std::remove_cvref_t<T>;
  if constexpr (is_optional_v<U>)
    return natural_kind<typename U::value_type>();
  else if constexpr (std::same_as<U, bool>)
    return ValueKind::boolean;
  else if constexpr (std::integral<U>)
    return ValueKind::integer;
  else if constexpr (std::floating_point<U>)
    return ValueKind::real;
  else if constexpr (std::is_convertible_v<const U&, std::string_view>)
    return ValueKind::text;
  else if constexpr (std::same_as<U, Blob>)
    return ValueKind::blob;
  else if constexpr (std::same_as<U, std::chrono::sys_days> || std::same_as<U, std::chrono::year_month_day>)
    return ValueKind::date;
  else if constexpr (std::same_as<U, TimeOfDay>)
    return ValueKind::time;
  else if constexpr (is_local_time<U>::value)
    return ValueKind::timestamp;
  else if constexpr (is_sys_time<U>::value)
    return ValueKind::timestamptz;
  else if constexpr (std::same_as<U, Interval> || is_duration<U>::value)
    return ValueKind::interval;
  else if constexpr (std::same_as<U, Uuid>)
    return ValueKind::uuid;
  else if constexpr (std::same_as<U, Json>)
    return ValueKind::json;
  else if constexpr (std::same_as<U, Numeric>)
    return ValueKind::numeric;
  else
    return ValueKind::null;
}

/// A one-dimensional array: its elements, and the kind they have (an engine types the array by it).
struct ValueArray {
  ValueKind element = ValueKind::null;  ///< the kind of the elements that are not NULL
  std::vector<Value> items;             ///< the elements
  friend bool operator==(const ValueArray&, const ValueArray&);
};

/// An owned value: a bound parameter, or a cell of a materialized row.
class Value {
public:
  /// In the order of ValueKind.
  using Storage = std::variant<std::monostate, bool, std::int64_t, double, std::string, Blob, std::chrono::sys_days,
                               TimeOfDay, Timestamp, TimestampTz, Interval, Uuid, Json, Numeric, ValueArray>;

  /// NULL.
  Value() = default;
  /// NULL.
  Value(std::nullptr_t) {}
  /// NULL.
  Value(std::nullopt_t) {}
  /// Exactly bool: a pointer, or a class that converts to bool or to a number, must not bind as a boolean.
  template <std::same_as<bool> B>
  Value(B v) : storage_(v) {}
  /// An integer; throws ValueOutOfRangeError for one outside int64 (an unsigned value above INT64_MAX).
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  Value(T v) : storage_(checked_integer(v)) {}
  /// A floating-point number, as a double.
  template <std::floating_point T>
  Value(T v) : storage_(static_cast<double>(v)) {}
  /// Text.
  Value(std::string v) : storage_(std::move(v)) {}
  /// Text.
  Value(std::string_view v) : storage_(std::string(v)) {}
  /// Text.
  Value(const char* v) : storage_(std::string(v)) {}
  /// A blob.
  Value(Blob v) : storage_(std::move(v)) {}
  /// A blob of these bytes.
  Value(std::span<const std::byte> v) : storage_(Blob(v.begin(), v.end())) {}
  /// A date; a time point of any other precision is a timestamp (sys_time: an instant, local_time: a wall clock),
  /// kept to the microsecond (finer digits are dropped: PostgreSQL keeps no more).
  Value(std::chrono::sys_days v) : storage_(v) {}
  /// A date.
  Value(std::chrono::year_month_day v) : storage_(std::chrono::sys_days(v)) {}
  /// An instant (timestamptz), to the microsecond.
  template <class D>
    requires(!std::same_as<D, std::chrono::days>)
  Value(std::chrono::sys_time<D> v) : storage_(to_microseconds<TimestampTz>(v)) {}
  /// A wall-clock reading (timestamp), to the microsecond.
  template <class D>
  Value(std::chrono::local_time<D> v) : storage_(to_microseconds<Timestamp>(v)) {}
  /// A time of day.
  Value(TimeOfDay v) : storage_(v) {}
  /// An interval.
  Value(Interval v) : storage_(v) {}
  /// A duration binds as an interval of clock time.
  template <class R, class P>
  Value(std::chrono::duration<R, P> v) : storage_(Interval{0, 0, std::chrono::floor<std::chrono::microseconds>(v)}) {}
  /// A UUID.
  Value(const Uuid& v) : storage_(v) {}
  /// JSON, as its text.
  Value(Json v) : storage_(std::move(v)) {}
  /// An exact decimal, as its text.
  Value(Numeric v) : storage_(std::move(v)) {}
  /// An array.
  Value(ValueArray v) : storage_(std::move(v)) {}
  /// A vector is an array (a vector of bytes is a blob).
  template <class T>
    requires(!std::same_as<T, std::byte> && std::constructible_from<Value, const T&>)
  Value(const std::vector<T>& v) {
    ValueArray array{natural_kind<T>(), {}};
    array.items.reserve(v.size());
    for (const T& item : v) {
      array.items.emplace_back(item);
      if (array.element == ValueKind::null) array.element = array.items.back().kind();
    }
    storage_ = std::move(array);
  }
  /// The optional's value, or NULL when it is empty.
  template <class T>
    requires std::constructible_from<Value, const T&>
  Value(const std::optional<T>& v) {
    if (v) *this = Value(*v);
  }
  /// A value of a type of your own, through its ToValue<T> specialization.
  template <HasToValue T>
  Value(const T& v) : Value(ToValue<T>::encode(v)) {}

  /// What the value holds: the index of its alternative in Storage.
  inline ValueKind kind() const noexcept { return static_cast<ValueKind>(storage_.index()); }
  /// Whether the value is NULL.
  inline bool is_null() const noexcept { return kind() == ValueKind::null; }
  /// The value itself.
  inline const Storage& storage() const noexcept { return storage_; }

  /// The value as a cell; its views stay valid while the value lives unchanged.
  Cell cell() const noexcept {
    Cell c;
    c.kind = kind();
    switch (c.kind) {
      case ValueKind::null: break;
      case ValueKind::boolean: c.integer = std::get<bool>(storage_) ? 1 : 0; break;
      case ValueKind::integer: c.integer = std::get<std::int64_t>(storage_); break;
      case ValueKind::real: c.real = std::get<double>(storage_); break;
      case ValueKind::text: c.text = std::get<std::string>(storage_); break;
      case ValueKind::blob: c.blob = std::get<Blob>(storage_); break;
      case ValueKind::date: c.integer = std::get<std::chrono::sys_days>(storage_).time_since_epoch().count(); break;
      case ValueKind::time: c.integer = std::get<TimeOfDay>(storage_).since_midnight.count(); break;
      case ValueKind::timestamp: c.integer = std::get<Timestamp>(storage_).time_since_epoch().count(); break;
      case ValueKind::timestamptz: c.integer = std::get<TimestampTz>(storage_).time_since_epoch().count(); break;
      case ValueKind::interval: {
        const Interval& v = std::get<Interval>(storage_);
        c.integer = v.time.count();
        c.months = v.months;
        c.days = v.days;
        break;
      }
      case ValueKind::uuid: c.blob = std::as_bytes(std::span(std::get<Uuid>(storage_).data)); break;
      case ValueKind::json: c.text = std::get<Json>(storage_).text; break;
      case ValueKind::numeric: c.text = std::get<Numeric>(storage_).text; break;
      case ValueKind::array: c.array = &std::get<ValueArray>(storage_); break;
    }
    return c;
  }

  /// The value read as a T, by FromCell<T>'s rules.
  template <class T>
  T as() const {
    return decode_cell<T>(cell(), CellOrigin{});
  }

  /// Equal when the kinds and the contents are.
  friend bool operator==(const Value&, const Value&) = default;

  /// Owned copy of a cell seen in place.
  static Value from_cell(const Cell& c);

private:
  template <class T>
  static std::int64_t checked_integer(T v) {
    if (!std::in_range<std::int64_t>(v))
      throw ValueOutOfRangeError("integer " + std::to_string(v) + " does not fit a 64-bit signed SQL integer");
    return static_cast<std::int64_t>(v);
  }
  // ::max() and ::min() (±infinity) stay the extremes.
  template <class Target, class Source>
  static Target to_microseconds(Source v) {
    if (v == Source::max()) return Target::max();
    if (v == Source::min()) return Target::min();
    return std::chrono::floor<std::chrono::microseconds>(v);
  }
  Storage storage_;
};

/// Equal when both the element kinds and the elements are.
inline bool operator==(const ValueArray& a, const ValueArray& b) {
  return a.element == b.element && a.items == b.items;
}

inline Value Value::from_cell(const Cell& c) {
  switch (c.kind) {
    case ValueKind::null: return Value();
    case ValueKind::boolean: return Value(c.integer != 0);
    case ValueKind::integer: return Value(c.integer);
    case ValueKind::real: return Value(c.real);
    case ValueKind::text: return Value(std::string(c.text));
    case ValueKind::blob: return Value(Blob(c.blob.begin(), c.blob.end()));
    case ValueKind::date: return Value(std::chrono::sys_days(std::chrono::days(c.integer)));
    case ValueKind::time: return Value(TimeOfDay{std::chrono::microseconds(c.integer)});
    case ValueKind::timestamp: return Value(Timestamp(std::chrono::microseconds(c.integer)));
    case ValueKind::timestamptz: return Value(TimestampTz(std::chrono::microseconds(c.integer)));
    case ValueKind::interval: return Value(Interval{c.months, c.days, std::chrono::microseconds(c.integer)});
    case ValueKind::uuid: {
      Uuid u{};
      if (c.blob.size() == 16) std::memcpy(u.data, c.blob.data(), 16);
      return Value(u);
    }
    case ValueKind::json: return Value(Json{std::string(c.text)});
    case ValueKind::numeric: return Value(Numeric{std::string(c.text)});
    case ValueKind::array: return c.array ? Value(*c.array) : Value();
  }
  return Value();
}

template <>
struct FromCell<Value> {
  static Value decode(const Cell& cell, const CellOrigin&) { return Value::from_cell(cell); }
};

/// Whether T can be bound as a parameter: everything Value accepts.
template <class T>
concept Bindable = std::constructible_from<Value, T>;

}  // namespace keel
