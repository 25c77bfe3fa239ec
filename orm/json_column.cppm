// JSON columns beyond keel::Json's text: a boost::json::value member is a JSON column as it is, and a
// keel::JsonOf<T> member stores struct T as a JSON object whose keys are T's member names (read by Boost.PFR, as
// a table's columns are). Nested structs, std::optional, std::vector, keel::Json and boost::json::value
// (nested as themselves), dates, times, UUIDs, keel::Numeric and labelled enums (as their text, as SQLite stores
// them), and anything Boost.JSON converts (a type with its own tag_invoke) may be members of T. JSON has no NaN
// or infinity: a member holding one is a ValueError when the document is written.
//   struct Settings { std::string theme; std::int64_t font_size = 12; std::vector<std::string> plugins; };
//   struct Account { keel::Id id; keel::JsonOf<Settings> settings; boost::json::value extra; };
// Reading a document back, a key T does not name is ignored, and a member the document lacks is an error, unless
// it is a std::optional (then empty).
module;
#include <boost/json/conversion.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>
export module keel.orm:json_column;
import keel.engine;
import keel.reflection;
import :column;

namespace keel::json_detail {

// A column value type that a document holds as its text, as SQLite stores it: dates, times, UUIDs, exact numbers
// (no double rounds them), enums as their labels.
template <class T>
concept TextualValue = (TypedColumnValue<T> && !is_json_document<T>) || LabelledEnum<T>;

// A struct keel maps member by member: an aggregate Boost.JSON has no conversion of its own for.
template <class T>
concept MappedStruct =
    reflection::Reflectable<T> && !boost::json::has_value_from<T>::value && !TextualValue<T> && !is_json_document<T>;

template <class T>
boost::json::value to_json(const T& value) {
  static_assert(!std::same_as<T, std::string_view> && !std::same_as<T, const char*>,
                "keel::JsonOf<T>: a member must own its text (std::string): a view would outlive the document");
  if constexpr (std::same_as<T, Json>) {  // a document inside the document, nested as itself
    std::error_code ec;
    auto nested = boost::json::parse(value.text, ec);
    if (ec) throw ValueError("keel::JsonOf: a keel::Json member is not valid JSON: " + ec.message());
    return nested;
  } else if constexpr (TextualValue<T>) {
    return boost::json::string(text_form::of(Value(value)));
  } else if constexpr (is_optional_v<T>) {
    if (!value) return nullptr;
    return to_json(*value);
  } else if constexpr (is_array_column_type<T>::value) {
    boost::json::array out;
    out.reserve(value.size());
    for (const auto& element : value) out.push_back(to_json(element));
    return out;
  } else if constexpr (MappedStruct<T>) {
    boost::json::object out;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((out[reflection::field_name<T, I>] = to_json(reflection::get<I>(value))), ...);
    }(std::make_index_sequence<reflection::field_count<T>>{});
    return out;
  } else {
    static_assert(boost::json::has_value_from<T>::value,
                  "keel::JsonOf<T>: every member of T must be a number, bool, std::string, std::optional, std::vector, "
                  "a struct of such members, keel::Json, boost::json::value, a date, time, UUID, keel::Numeric or "
                  "labelled enum, or a type Boost.JSON converts (tag_invoke); not a keel::JsonOf");
    return boost::json::value_from(value);
  }
}

// Throws ValueError for a NaN or infinite number anywhere in `json`, which JSON cannot spell (Boost.JSON would
// write NaN or Infinity, which PostgreSQL refuses and SQLite stores as text that no longer parses).
inline void check_finite(const boost::json::value& json) {
  if (json.is_double() && !std::isfinite(json.get_double()))
    throw ValueError("keel::JsonOf: JSON has no NaN or infinity, which a member holds");
  if (const auto* array = json.if_array())
    for (const auto& element : *array) check_finite(element);
  if (const auto* object = json.if_object())
    for (const auto& member : *object) check_finite(member.value());
}

template <class M>
M member_from_json(const boost::json::object& object, std::string_view name, const std::string& path);

// Reads `json` into T; `path` names where in the document, for the error ("$.plugins[2]").
template <class T>
T from_json(const boost::json::value& json, const std::string& path) {
  static_assert(!std::same_as<T, std::string_view> && !std::same_as<T, const char*>,
                "keel::JsonOf<T>: a member must own its text (std::string): a view would outlive the document");
  if constexpr (std::same_as<T, Json>) {
    return Json{boost::json::serialize(json)};
  } else if constexpr (TextualValue<T>) {
    if (!json.is_string()) throw TypeMismatchError(path + " is not a JSON string");
    try {
      return decode_cell<T>(Value(std::string_view(json.get_string())).cell(), CellOrigin{});
    } catch (const ValueError& e) {
      throw TypeMismatchError(path + ": " + e.what());
    }
  } else if constexpr (is_optional_v<T>) {
    if (json.is_null()) return std::nullopt;
    return T(from_json<typename T::value_type>(json, path));
  } else if constexpr (is_array_column_type<T>::value) {
    if (!json.is_array()) throw TypeMismatchError(path + " is not a JSON array");
    T out;
    out.reserve(json.get_array().size());
    std::size_t index = 0;
    for (const auto& element : json.get_array())
      out.push_back(from_json<typename T::value_type>(element, path + "[" + std::to_string(index++) + "]"));
    return out;
  } else if constexpr (MappedStruct<T>) {
    if (!json.is_object()) throw TypeMismatchError(path + " is not a JSON object");
    const boost::json::object& object = json.get_object();
    T out{};
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((reflection::get<I>(out) =
            member_from_json<reflection::field_type<T, I>>(object, reflection::field_name<T, I>, path)),
       ...);
    }(std::make_index_sequence<reflection::field_count<T>>{});
    return out;
  } else {
    static_assert(boost::json::has_value_to<T>::value,
                  "keel::JsonOf<T>: every member of T must be a number, bool, std::string, std::optional, std::vector, "
                  "a struct of such members, keel::Json, boost::json::value, a date, time, UUID, keel::Numeric or "
                  "labelled enum, or a type Boost.JSON converts (tag_invoke); not a keel::JsonOf");
    auto converted = boost::json::try_value_to<T>(json);
    if (!converted)
      throw TypeMismatchError(path + " cannot be read as its member's type: " + converted.error().message());
    return std::move(*converted);
  }
}

template <class M>
M member_from_json(const boost::json::object& object, std::string_view name, const std::string& path) {
  const std::string where = path + "." + std::string(name);
  if (const boost::json::value* found = object.if_contains(name)) return from_json<M>(*found, where);
  if constexpr (is_optional_v<M>)
    return std::nullopt;
  else
    throw TypeMismatchError(where + " is missing from the JSON document");
}

}  // namespace keel::json_detail

export namespace keel {

/// Struct T stored as a JSON document (PostgreSQL's jsonb, text on SQLite): a member of a table, or a value
/// bound and read anywhere. Its keys are T's member names.
template <class T>
struct JsonOf {
  static_assert(reflection::Reflectable<T>, "keel::JsonOf<T> takes an aggregate struct");
  using keel_json_document_tag = void;
  T value{};  ///< the struct

  /// An empty struct T{}.
  JsonOf() = default;
  /// Holds `v`.
  JsonOf(T v) : value(std::move(v)) {}

  /// The struct.
  const T& operator*() const noexcept { return value; }
  /// The struct.
  T& operator*() noexcept { return value; }
  /// The struct's members.
  const T* operator->() const noexcept { return &value; }
  /// The struct's members.
  T* operator->() noexcept { return &value; }
  /// Equal when the structs are.
  friend bool operator==(const JsonOf& a, const JsonOf& b)
    requires std::equality_comparable<T>
  {
    return a.value == b.value;
  }
};

/// JsonOf<T> binds as its JSON text.
template <class T>
struct ToValue<JsonOf<T>> {
  static Value encode(const JsonOf<T>& v) {
    const boost::json::value document = json_detail::to_json(v.value);
    json_detail::check_finite(document);
    return Value(Json{boost::json::serialize(document)});
  }
};

/// JsonOf<T> reads from a JSON (or text) cell: TypeMismatchError when the document does not fit T.
template <class T>
struct FromCell<JsonOf<T>> {
  static JsonOf<T> decode(const Cell& cell, const CellOrigin& origin) {
    const boost::json::value document = FromCell<boost::json::value>::decode(cell, origin);
    try {
      return JsonOf<T>{json_detail::from_json<T>(document, "$")};
    } catch (const TypeMismatchError& e) {
      throw TypeMismatchError(origin.describe() + " holds a JSON document that does not fit its struct: " + e.what());
    }
  }
};

/// A boost::json::value is a JSON document column.
template <>
inline constexpr bool is_json_document<boost::json::value> = true;

}  // namespace keel
