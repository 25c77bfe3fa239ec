// Values that travel between keel and an engine: bound parameters going in, cells coming out.
// One set of conversion rules serves both a materialized Value and a cell read in place from an engine's row.
module;
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>
export module keel.engine:value;
import :error;

export namespace keel {

using Blob = std::vector<std::byte>;

enum class ValueKind { null, boolean, integer, real, text, blob };

constexpr std::string_view to_string(ValueKind kind) noexcept {
  switch (kind) {
    case ValueKind::null: return "NULL";
    case ValueKind::boolean: return "boolean";
    case ValueKind::integer: return "integer";
    case ValueKind::real: return "real";
    case ValueKind::text: return "text";
    case ValueKind::blob: return "blob";
  }
  return "unknown";
}

// A cell seen in place: views into the engine's buffers, valid until the row advances.
struct Cell {
  ValueKind kind = ValueKind::null;
  std::int64_t integer = 0;  // integer, and boolean as 0 or 1
  double real = 0;
  std::string_view text;
  std::span<const std::byte> blob;
};

// Names the cell in error messages: "column 'name' (index 2)".
struct CellOrigin {
  std::size_t index = 0;
  std::string_view name;
  std::string describe() const {
    if (name.empty()) return "value";
    return "column '" + std::string(name) + "' (index " + std::to_string(index) + ")";
  }
};

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
inline constexpr bool is_optional_v = is_optional<T>::value;

class Value;

// Decoding a cell into T. Specialize keel::FromCell<T> to read your own types.
template <class T>
struct FromCell;

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

[[noreturn]] inline void throw_mismatch(const Cell& cell, const CellOrigin& origin, std::string_view wanted) {
  throw TypeMismatchError(origin.describe() + " holds " + std::string(to_string(cell.kind)) + ", which cannot be read as " +
                          std::string(wanted));
}

template <>
struct FromCell<bool> {
  static bool decode(const Cell& cell, const CellOrigin& origin) {
    // SQLite stores booleans as the integers 0 and 1.
    if (cell.kind == ValueKind::boolean || (cell.kind == ValueKind::integer && (cell.integer == 0 || cell.integer == 1)))
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
    throw_mismatch(cell, origin, "a floating-point number");
  }
};

template <>
struct FromCell<std::string> {
  static std::string decode(const Cell& cell, const CellOrigin& origin) {
    if (cell.kind != ValueKind::text) throw_mismatch(cell, origin, "text");
    return std::string(cell.text);
  }
};

template <>
struct FromCell<Blob> {
  static Blob decode(const Cell& cell, const CellOrigin& origin) {
    if (cell.kind != ValueKind::blob) throw_mismatch(cell, origin, "a blob");
    return Blob(cell.blob.begin(), cell.blob.end());
  }
};

// Encoding a type of your own as a bound value: specialize keel::ToValue<T> with
//   static keel::Value encode(const T&);
// and T binds wherever a value is taken (raw queries, the ORM's arguments). keel.orm does this for its column
// wrappers, so that keel::Id binds as its integer.
template <class T>
struct ToValue;

template <class T>
concept HasToValue = requires(const T& v) { ToValue<T>::encode(v); };

// An owned value: a bound parameter, or a cell of a materialized row.
class Value {
public:
  using Storage = std::variant<std::monostate, bool, std::int64_t, double, std::string, Blob>;

  Value() = default;
  Value(std::nullptr_t) {}
  Value(std::nullopt_t) {}
  // Exactly bool: a pointer, or a class that converts to bool or to a number, must not bind as a boolean.
  template <std::same_as<bool> B>
  Value(B v) : storage_(v) {}
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  Value(T v) : storage_(checked_integer(v)) {}
  template <std::floating_point T>
  Value(T v) : storage_(static_cast<double>(v)) {}
  Value(std::string v) : storage_(std::move(v)) {}
  Value(std::string_view v) : storage_(std::string(v)) {}
  Value(const char* v) : storage_(std::string(v)) {}
  Value(Blob v) : storage_(std::move(v)) {}
  Value(std::span<const std::byte> v) : storage_(Blob(v.begin(), v.end())) {}
  template <class T>
    requires std::constructible_from<Value, const T&>
  Value(const std::optional<T>& v) {
    if (v) *this = Value(*v);
  }
  template <HasToValue T>
  Value(const T& v) : Value(ToValue<T>::encode(v)) {}

  ValueKind kind() const noexcept { return static_cast<ValueKind>(storage_.index()); }
  bool is_null() const noexcept { return kind() == ValueKind::null; }
  const Storage& storage() const noexcept { return storage_; }

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
    }
    return c;
  }

  template <class T>
  T as() const {
    return decode_cell<T>(cell(), CellOrigin{});
  }

  friend bool operator==(const Value&, const Value&) = default;

  // Owned copy of a cell seen in place.
  static Value from_cell(const Cell& c) {
    switch (c.kind) {
      case ValueKind::null: return Value();
      case ValueKind::boolean: return Value(c.integer != 0);
      case ValueKind::integer: return Value(c.integer);
      case ValueKind::real: return Value(c.real);
      case ValueKind::text: return Value(std::string(c.text));
      case ValueKind::blob: return Value(Blob(c.blob.begin(), c.blob.end()));
    }
    return Value();
  }

private:
  template <class T>
  static std::int64_t checked_integer(T v) {
    if (!std::in_range<std::int64_t>(v))
      throw ValueOutOfRangeError("integer " + std::to_string(v) + " does not fit a 64-bit signed SQL integer");
    return static_cast<std::int64_t>(v);
  }
  Storage storage_;
};

template <>
struct FromCell<Value> {
  static Value decode(const Cell& cell, const CellOrigin&) { return Value::from_cell(cell); }
};

// Whether T can be bound as a parameter: everything Value accepts.
template <class T>
concept Bindable = std::constructible_from<Value, T>;

}  // namespace keel
