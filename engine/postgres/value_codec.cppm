// keel's engine values (keel::Value, keel::Cell) in PostgreSQL's formats, through the binary codecs: which type
// and format a value is sent as, its bytes, and the cell a result column's bytes make. The engine's rows and
// parameters go through here; the client's typed API uses the codecs directly.
module;
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>
export module keel.postgres:value_codec;
import keel.core;
import keel.postgres.protocol;
import :codecs;

namespace proto = keel::pg::protocol;

namespace keel::pg::value_codec_detail {

// The type an element of this kind is sent as inside an array (0: none).
constexpr std::uint32_t element_type(ValueKind kind) {
  switch (kind) {
    case ValueKind::boolean: return types::boolean;
    case ValueKind::integer: return types::int8;
    case ValueKind::real: return types::float8;
    case ValueKind::text: return types::text;
    case ValueKind::blob: return types::bytea;
    case ValueKind::date: return types::date;
    case ValueKind::time: return types::time;
    case ValueKind::timestamp: return types::timestamp;
    case ValueKind::timestamptz: return types::timestamptz;
    case ValueKind::interval: return types::interval;
    case ValueKind::uuid: return types::uuid;
    case ValueKind::json: return types::json;
    case ValueKind::numeric: return types::numeric;
    default: return 0;
  }
}

inline Date to_pg(std::chrono::sys_days d) {
  if (d == std::chrono::sys_days::max()) return Date{{}, 1};
  if (d == std::chrono::sys_days::min()) return Date{{}, -1};
  const auto days = d.time_since_epoch().count() - codec_detail::epoch_days;
  if (days >= std::numeric_limits<std::int32_t>::max() || days <= std::numeric_limits<std::int32_t>::min())
    throw ValueOutOfRangeError("date out of PostgreSQL's range");
  return Date{d, 0};
}

inline Timestamp to_pg(keel::Timestamp t) {
  if (t == keel::Timestamp::max()) return Timestamp{{}, 1};
  if (t == keel::Timestamp::min()) return Timestamp{{}, -1};
  return Timestamp{t, 0};
}

inline std::int64_t days_of(const Date& d) {
  if (d.infinity > 0) return std::chrono::sys_days::max().time_since_epoch().count();
  if (d.infinity < 0) return std::chrono::sys_days::min().time_since_epoch().count();
  return d.days.time_since_epoch().count();
}

inline std::int64_t microseconds_of(const Timestamp& t) {
  if (t.infinity > 0) return std::numeric_limits<std::int64_t>::max();
  if (t.infinity < 0) return std::numeric_limits<std::int64_t>::min();
  return t.time.time_since_epoch().count();
}

// Appends the binary form of a scalar value of one of the element kinds.
inline void encode_scalar(const Value& v, proto::ByteBuffer& out) {
  const auto& s = v.storage();
  switch (v.kind()) {
    case ValueKind::boolean: PgCodec<bool>::encode(std::get<bool>(s), out); break;
    case ValueKind::integer: PgCodec<std::int64_t>::encode(std::get<std::int64_t>(s), out); break;
    case ValueKind::real: PgCodec<double>::encode(std::get<double>(s), out); break;
    case ValueKind::text: PgCodec<std::string>::encode(std::get<std::string>(s), out); break;
    case ValueKind::blob: PgCodec<Blob>::encode(std::get<Blob>(s), out); break;
    case ValueKind::date: PgCodec<Date>::encode(to_pg(std::get<std::chrono::sys_days>(s)), out); break;
    case ValueKind::time: PgCodec<Time>::encode(std::get<TimeOfDay>(s), out); break;
    case ValueKind::timestamp: PgCodec<Timestamp>::encode(to_pg(std::get<keel::Timestamp>(s)), out); break;
    case ValueKind::timestamptz: PgCodec<TimestampTz>::encode(std::get<TimestampTz>(s), out); break;
    case ValueKind::interval: PgCodec<Interval>::encode(std::get<Interval>(s), out); break;
    case ValueKind::uuid: {
      const auto& u = std::get<keel::Uuid>(s);
      out.insert(out.end(), std::begin(u.data), std::end(u.data));
      break;
    }
    case ValueKind::json: {  // json's binary form is its text
      const std::string& text = std::get<Json>(s).text;
      out.insert(out.end(), text.begin(), text.end());
      break;
    }
    case ValueKind::numeric: PgCodec<Numeric>::encode(std::get<Numeric>(s), out); break;
    default:
      throw MisuseError("keel::pg: a value of kind " + std::string(to_string(v.kind())) + " has no binary form here");
  }
}

// The kind of value a column or element of this type decodes to.
constexpr ValueKind kind_of_type(std::uint32_t oid) {
  switch (oid) {
    case types::boolean: return ValueKind::boolean;
    case types::int2:
    case types::int4:
    case types::int8:
    case types::oid: return ValueKind::integer;
    case types::float4:
    case types::float8: return ValueKind::real;
    case types::bytea: return ValueKind::blob;
    case types::date: return ValueKind::date;
    case types::time: return ValueKind::time;
    case types::timestamp: return ValueKind::timestamp;
    case types::timestamptz: return ValueKind::timestamptz;
    case types::interval: return ValueKind::interval;
    case types::uuid: return ValueKind::uuid;
    case types::json:
    case types::jsonb: return ValueKind::json;
    case types::numeric: return ValueKind::numeric;
    default: return types::element_of(oid) != 0 ? ValueKind::array : ValueKind::text;
  }
}

inline void patch_length(proto::ByteBuffer& out, std::size_t at) {
  const std::size_t length = out.size() - at - 4;
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<std::uint8_t>(length >> (24 - 8 * i));
}

// A one-dimensional array: the elements must all be of its element kind (integers may fill a real array).
inline void encode_array(const ValueArray& array, proto::ByteBuffer& out) {
  const std::uint32_t element = element_type(array.element);
  bool has_null = false;
  for (const Value& item : array.items) {
    if (item.is_null())
      has_null = true;
    else if (item.kind() != array.element && !(array.element == ValueKind::real && item.kind() == ValueKind::integer))
      throw ValueError("an array of " + std::string(to_string(array.element)) + " holds a value of kind " +
                       std::string(to_string(item.kind())));
  }
  codec_detail::write_be(out, array.items.empty() ? 0 : 1, 4);
  codec_detail::write_be(out, has_null ? 1 : 0, 4);
  codec_detail::write_be(out, element, 4);
  if (!array.items.empty()) {
    codec_detail::write_be(out, array.items.size(), 4);
    codec_detail::write_be(out, 1, 4);  // lower bound
  }
  for (const Value& item : array.items) {
    if (item.is_null()) {
      codec_detail::write_be(out, 0xFFFFFFFFu, 4);
      continue;
    }
    const std::size_t at = out.size();
    codec_detail::write_be(out, 0, 4);
    if (item.kind() == ValueKind::integer && array.element == ValueKind::real)
      PgCodec<double>::encode(static_cast<double>(std::get<std::int64_t>(item.storage())), out);
    else
      encode_scalar(item, out);
    patch_length(out, at);
  }
}

inline std::string_view as_text(proto::Bytes b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

Value value_from_binary(std::uint32_t oid, proto::Bytes b);

// An array's binary form as nested ValueArrays (one level per dimension).
inline ValueArray decode_array(proto::Bytes b) {
  const codec_detail::ArrayLayout layout = codec_detail::read_array_layout(b);
  if (!layout.dimensions.empty() && kind_of_type(layout.element_oid) == ValueKind::array)
    codec_detail::bad("array", "an array as its element type");
  std::vector<Value> elements;
  elements.reserve(layout.count);
  codec_detail::for_each_array_element(b, layout, [&](std::optional<proto::Bytes> element) {
    if (element)
      elements.push_back(value_from_binary(layout.element_oid, *element));
    else
      elements.emplace_back();
  });
  ValueKind element_kind = kind_of_type(layout.element_oid);
  // Folds the flat elements into one ValueArray per dimension, innermost first.
  for (std::size_t d = layout.dimensions.size(); d > 1; --d) {
    std::vector<Value> folded;
    const auto width = static_cast<std::size_t>(layout.dimensions[d - 1]);
    for (std::size_t i = 0; i < elements.size(); i += width)
      folded.emplace_back(
          ValueArray{element_kind, std::vector<Value>(std::make_move_iterator(elements.begin() + i),
                                                      std::make_move_iterator(elements.begin() + i + width))});
    elements = std::move(folded);
    element_kind = ValueKind::array;
  }
  return ValueArray{element_kind, std::move(elements)};
}

}  // namespace keel::pg::value_codec_detail

export namespace keel::pg {

/// How a value is sent: its type OID (0: the server infers it) and format. JSON goes untyped as text, so that
/// it fills json and jsonb alike; numeric as its exact text.
struct ParameterType {
  std::uint32_t oid = 0;                       ///< the type OID; 0 lets the server infer it
  proto::Format format = proto::Format::text;  ///< the format its bytes are in
};
/// How `v` is sent (see ParameterType).
inline ParameterType parameter_type(const Value& v) {
  switch (v.kind()) {
    case ValueKind::null: return {0, proto::Format::text};
    case ValueKind::json: return {0, proto::Format::text};
    case ValueKind::numeric: return {types::numeric, proto::Format::text};
    case ValueKind::array: {
      const auto& array = std::get<ValueArray>(v.storage());
      const std::uint32_t element = value_codec_detail::element_type(array.element);
      if (array.element == ValueKind::null)
        return {0, proto::Format::text};  // '{}' or '{NULL,...}' fits any array type
      if (element == 0)
        throw MisuseError("keel::pg: an array of " + std::string(to_string(array.element)) +
                          " cannot be sent; arrays of arrays are not supported as parameters");
      return {types::array_of(element), proto::Format::binary};
    }
    default: return {value_codec_detail::element_type(v.kind()), proto::Format::binary};
  }
}

/// Appends a non-NULL value's bytes in the format parameter_type gives.
inline void encode_value(const Value& v, proto::ByteBuffer& out) {
  switch (v.kind()) {
    case ValueKind::json: {
      const std::string& text = std::get<Json>(v.storage()).text;
      out.insert(out.end(), text.begin(), text.end());
      return;
    }
    case ValueKind::numeric: {
      const std::string& text = std::get<Numeric>(v.storage()).text;
      out.insert(out.end(), text.begin(), text.end());
      return;
    }
    case ValueKind::array: {
      const auto& array = std::get<ValueArray>(v.storage());
      if (array.element == ValueKind::null) {
        std::string text = "{";
        for (std::size_t i = 0; i < array.items.size(); ++i) text += i ? ",NULL" : "NULL";
        text += "}";
        out.insert(out.end(), text.begin(), text.end());
        return;
      }
      value_codec_detail::encode_array(array, out);
      return;
    }
    default: value_codec_detail::encode_scalar(v, out);
  }
}

/// Whether keel's engine asks for a result column in binary (types whose binary form it decodes) or in text
/// (numeric and JSON, which it keeps as text, and every type it does not know).
constexpr proto::Format engine_result_format(std::uint32_t type_oid) {
  switch (type_oid) {
    case types::boolean:
    case types::bytea:
    case types::name:
    case types::int8:
    case types::int2:
    case types::int4:
    case types::text:
    case types::oid:
    case types::float4:
    case types::float8:
    case types::unknown:
    case types::bpchar:
    case types::varchar:
    case types::date:
    case types::time:
    case types::timestamp:
    case types::timestamptz:
    case types::interval:
    case types::uuid: return proto::Format::binary;
    default: {
      const std::uint32_t element = types::element_of(type_oid);
      if (element == 0 || element == types::timetz || element == types::inet || element == types::cidr)
        return proto::Format::text;
      return proto::Format::binary;
    }
  }
}

/// A value decoded from the binary form engine_result_format asks for (an array's element, or a whole column).
inline Value decode_value(std::uint32_t oid, proto::Bytes b) { return value_codec_detail::value_from_binary(oid, b); }

/// The cell of a result column, in place where it can be: an array is decoded into the ValueArray that
/// `array_storage()` gives, which must outlive the cell (asked for only when the column is an array).
template <class ArrayStorage>
Cell decode_cell(std::uint32_t oid, proto::Format format, proto::Bytes b, ArrayStorage&& array_storage) {
  Cell c;
  if (format == proto::Format::text) {
    c.kind = oid == types::numeric                         ? ValueKind::numeric
             : (oid == types::json || oid == types::jsonb) ? ValueKind::json
                                                           : ValueKind::text;
    c.text = value_codec_detail::as_text(b);
    return c;
  }
  switch (oid) {
    case types::boolean:
      c.kind = ValueKind::boolean;
      c.integer = PgCodec<bool>::decode(oid, b);
      break;
    case types::int2:
    case types::int4:
    case types::int8:
    case types::oid:
      c.kind = ValueKind::integer;
      c.integer = PgCodec<std::int64_t>::decode(oid, b);
      break;
    case types::float4:
    case types::float8:
      c.kind = ValueKind::real;
      c.real = PgCodec<double>::decode(oid, b);
      break;
    case types::bytea:
      c.kind = ValueKind::blob;
      c.blob = std::span(reinterpret_cast<const std::byte*>(b.data()), b.size());
      break;
    case types::text:
    case types::varchar:
    case types::bpchar:
    case types::name:
    case types::unknown:
      c.kind = ValueKind::text;  // the binary form is the text
      c.text = value_codec_detail::as_text(b);
      break;
    case types::date:
      c.kind = ValueKind::date;
      c.integer = value_codec_detail::days_of(PgCodec<Date>::decode(oid, b));
      break;
    case types::time:
      c.kind = ValueKind::time;
      c.integer = PgCodec<Time>::decode(oid, b).since_midnight.count();
      break;
    case types::timestamp:
      c.kind = ValueKind::timestamp;
      c.integer = value_codec_detail::microseconds_of(PgCodec<Timestamp>::decode(oid, b));
      break;
    case types::timestamptz:
      c.kind = ValueKind::timestamptz;
      c.integer = PgCodec<TimestampTz>::decode(oid, b).time_since_epoch().count();
      break;
    case types::interval: {
      const Interval v = PgCodec<Interval>::decode(oid, b);
      c.kind = ValueKind::interval;
      c.integer = v.time.count();
      c.months = v.months;
      c.days = v.days;
      break;
    }
    case types::uuid:
      codec_detail::need(b, 16, "uuid");
      c.kind = ValueKind::uuid;
      c.blob = std::span(reinterpret_cast<const std::byte*>(b.data()), b.size());
      break;
    default:
      if (types::element_of(oid) != 0) {
        ValueArray* storage = array_storage();
        *storage = value_codec_detail::decode_array(b);
        c.kind = ValueKind::array;
        c.array = storage;
        break;
      }
      c.kind = ValueKind::text;  // a type asked for in binary whose form keel does not know: kept as bytes of text
      c.text = value_codec_detail::as_text(b);
  }
  return c;
}

}  // namespace keel::pg

namespace keel::pg::value_codec_detail {

inline Value value_from_binary(std::uint32_t oid, proto::Bytes b) {
  switch (oid) {
    case types::numeric: return Value(PgCodec<Numeric>::decode(oid, b));
    case types::json: return Value(Json{std::string(as_text(b))});
    case types::jsonb:
      if (b.empty() || b[0] != 1) codec_detail::bad("jsonb", "an unknown format version");
      return Value(Json{std::string(as_text(b.subspan(1)))});
    case types::boolean: return Value(PgCodec<bool>::decode(oid, b));
    case types::int2:
    case types::int4:
    case types::int8:
    case types::oid: return Value(PgCodec<std::int64_t>::decode(oid, b));
    case types::float4:
    case types::float8: return Value(PgCodec<double>::decode(oid, b));
    case types::bytea: return Value(std::span(reinterpret_cast<const std::byte*>(b.data()), b.size()));
    case types::date: return Value(std::chrono::sys_days(std::chrono::days(days_of(PgCodec<Date>::decode(oid, b)))));
    case types::time: return Value(TimeOfDay(PgCodec<Time>::decode(oid, b)));
    case types::timestamp:
      return Value(keel::Timestamp(std::chrono::microseconds(microseconds_of(PgCodec<Timestamp>::decode(oid, b)))));
    case types::timestamptz: return Value(PgCodec<TimestampTz>::decode(oid, b));
    case types::interval: return Value(PgCodec<Interval>::decode(oid, b));
    case types::uuid: {
      codec_detail::need(b, 16, "uuid");
      keel::Uuid u{};
      std::memcpy(u.data, b.data(), 16);
      return Value(u);
    }
    default:
      if (types::element_of(oid) != 0) return Value(decode_array(b));
      return Value(std::string(as_text(b)));
  }
}

}  // namespace keel::pg::value_codec_detail
