// JSON through Boost.JSON, and arrays as JSON: boost::json::value binds and reads as a json value; an engine
// without arrays (SQLite) stores one as a JSON array, which std::vector<T> reads back. text_form::of gives
// any value's text, the form such an engine stores.
module;
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>
export module keel.core:value_json;
import :error;
import :value;
import :value_decoders;
import :value_text;
import :value_types;

namespace keel::value_detail {

// A JSON element of a stored array, as the Value it was written from (dates, UUIDs and the like come back as
// their text, which their decoders read).
inline Value from_json(const boost::json::value& j) {
  switch (j.kind()) {
    case boost::json::kind::null: return Value();
    case boost::json::kind::bool_: return Value(j.get_bool());
    case boost::json::kind::int64: return Value(j.get_int64());
    case boost::json::kind::uint64: return Value(j.get_uint64());
    case boost::json::kind::double_: return Value(j.get_double());
    case boost::json::kind::string: return Value(std::string_view(j.get_string()));
    default: return Value(Json{boost::json::serialize(j)});
  }
}

}  // namespace keel::value_detail

namespace keel::value_detail {

// An element of a stored JSON array as T, where T's own reading of the element's Value would lose it: JSON
// elements stay JSON, blobs come back from their "\x" hexadecimal.
template <class T>
T element_from_json(const boost::json::value& element, const CellOrigin& origin) {
  if constexpr (is_optional_v<T>) {
    if (element.is_null()) return std::nullopt;
    return T(element_from_json<typename T::value_type>(element, origin));
  } else if constexpr (std::is_same_v<T, boost::json::value>) {
    return element;
  } else if constexpr (std::is_same_v<T, Json>) {
    return Json{boost::json::serialize(element)};
  } else if constexpr (std::is_same_v<T, Blob>) {
    if (element.is_string()) {
      const std::string_view text = element.get_string();
      if (text.size() % 2 == 0 && text.starts_with("\\x")) {
        Blob bytes;
        auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
        for (std::size_t i = 2; i + 1 < text.size(); i += 2)
          bytes.push_back(static_cast<std::byte>(nibble(text[i]) << 4 | nibble(text[i + 1])));
        return bytes;
      }
    }
    throw TypeMismatchError(origin.describe() + " holds an array element that is not a blob's \\x hexadecimal");
  } else {
    return decode_cell<T>(from_json(element).cell(), origin);
  }
}

}  // namespace keel::value_detail

export namespace keel {

template <>
struct ToValue<boost::json::value> {
  static Value encode(const boost::json::value& v) { return Value(Json{boost::json::serialize(v)}); }
};

template <>
struct FromCell<boost::json::value> {
  static boost::json::value decode(const Cell& cell, const CellOrigin& origin) {
    if (cell.kind != ValueKind::json && cell.kind != ValueKind::text) throw_mismatch(cell, origin, "JSON");
    std::error_code ec;
    auto v = boost::json::parse(cell.text, ec);
    if (ec) throw TypeMismatchError(origin.describe() + " is not valid JSON: " + ec.message());
    return v;
  }
};

/// An array, from the engine's array or from a JSON array's text.
template <class T>
  requires(!std::is_same_v<T, std::byte>)
struct FromCell<std::vector<T>> {
  static std::vector<T> decode(const Cell& cell, const CellOrigin& origin) {
    std::vector<T> out;
    if (cell.kind == ValueKind::array && cell.array) {
      out.reserve(cell.array->items.size());
      for (const Value& item : cell.array->items) out.push_back(decode_cell<T>(item.cell(), origin));
      return out;
    }
    if (cell.kind == ValueKind::text || cell.kind == ValueKind::json) {
      std::error_code ec;
      const auto parsed = boost::json::parse(cell.text, ec);
      if (!ec && parsed.is_array()) {
        for (const auto& element : parsed.get_array())
          out.push_back(value_detail::element_from_json<T>(element, origin));
        return out;
      }
    }
    throw_mismatch(cell, origin, "an array");
  }
};

}  // namespace keel

export namespace keel::text_form {

/// The text of any value: what an engine without its type stores (ISO 8601 for times, the canonical UUID, a
/// JSON array for an array, "\x" and hexadecimal for bytes).
inline std::string of(const Value& value);

}  // namespace keel::text_form

namespace keel::value_detail {

inline std::string hex(const Blob& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out = "\\x";
  for (std::byte b : bytes) {
    out += digits[static_cast<unsigned>(b) >> 4];
    out += digits[static_cast<unsigned>(b) & 15];
  }
  return out;
}

inline boost::json::value to_json(const Value& v) {
  switch (v.kind()) {
    case ValueKind::null: return nullptr;
    case ValueKind::boolean: return std::get<bool>(v.storage());
    case ValueKind::integer: return std::get<std::int64_t>(v.storage());
    case ValueKind::real: return std::get<double>(v.storage());
    case ValueKind::json: {
      std::error_code ec;
      auto parsed = boost::json::parse(std::get<Json>(v.storage()).text, ec);
      if (ec) throw ValueError("a json value of an array is not valid JSON: " + ec.message());
      return parsed;
    }
    case ValueKind::array: {
      boost::json::array out;
      for (const Value& item : std::get<ValueArray>(v.storage()).items) out.push_back(to_json(item));
      return out;
    }
    default: return boost::json::string(text_form::of(v));
  }
}

}  // namespace keel::value_detail

namespace keel::value_detail {

std::string array_text(const ValueArray& array) { return boost::json::serialize(to_json(Value(array))); }

}  // namespace keel::value_detail

namespace keel::text_form {

inline std::string of(const Value& value) {
  switch (value.kind()) {
    case ValueKind::null: return "";
    case ValueKind::boolean: return std::get<bool>(value.storage()) ? "true" : "false";
    case ValueKind::integer: return std::to_string(std::get<std::int64_t>(value.storage()));
    case ValueKind::real: {
      char text[32];
      std::snprintf(text, sizeof text, "%.17g", std::get<double>(value.storage()));
      return text;
    }
    case ValueKind::blob: return value_detail::hex(std::get<Blob>(value.storage()));
    case ValueKind::array: return boost::json::serialize(value_detail::to_json(value));
    default: return value.as<std::string>();
  }
}

}  // namespace keel::text_form
