// A call's values encoded for the extended protocol: type OIDs, formats and bytes in one buffer. Not exported:
// PgConnection, its prepared statements and portals encode with it.
module;
#include <boost/container/small_vector.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>
export module keel.postgres:parameter_encoding;
import keel.engine;
import keel.postgres.protocol;
import :call_options;
import :codecs;
import :value_codec;

namespace proto = keel::pg::protocol;

namespace keel::pg {

/// Bound values, encoded: their type OIDs (0 lets the server infer), formats and bytes. The bytes of all the
/// values share one buffer, and the small vectors keep a few values inline: a query with a handful of values
/// costs one allocation here, not several per value.
struct EncodedParameters {
  static constexpr std::size_t inline_values = 8;
  template <class T>
  using Small = boost::container::small_vector<T, inline_values>;

  EncodedParameters() = default;
  explicit EncodedParameters(const CodecRegistry* custom_codecs) : custom(custom_codecs) {}

  const CodecRegistry* custom = nullptr;  // set_type_codec's codecs, for C++ types without a built-in one
  Small<std::uint32_t> types;
  Small<proto::Format> formats;
  std::optional<std::chrono::steady_clock::duration> timeout;  // a Timeout among the call's arguments

  std::size_t size() const noexcept { return slices_.size(); }
  // The values as Bind sends them: views of the shared buffer (or NULL), made as they are read, so that a move
  // (into a coroutine's frame) relocates nothing that points into this object.
  auto values() const {
    return std::views::transform(slices_, [bytes = std::span<const std::uint8_t>(bytes_)](const Slice& s) {
      return s.size < 0 ? proto::ParameterValue()
                        : proto::ParameterValue(bytes.subspan(s.offset, static_cast<std::size_t>(s.size)));
    });
  }

  template <class T>
  void add(const T& value) {
    using U = std::remove_cvref_t<T>;
    if constexpr (std::is_same_v<U, Timeout>) {
      timeout = value.limit;
    } else if constexpr (std::is_same_v<U, std::nullptr_t> || std::is_same_v<U, std::nullopt_t>) {
      push_null(0, proto::Format::text);
    } else if constexpr (is_optional_v<U>) {
      if (value)
        add(*value);
      else
        push_null(PgCodec<typename U::value_type>::oid, proto::Format::binary);
    } else if constexpr (std::is_convertible_v<const U&, std::string_view>) {
      // Text goes untyped, so the server reads it as whatever the statement needs (a date, a number, json...).
      const std::size_t start = bytes_.size();
      const std::string_view text(value);
      bytes_.insert(bytes_.end(), text.begin(), text.end());
      push(0, proto::Format::text, start);
    } else if constexpr (std::is_same_v<U, Value>) {
      add_value(value);
    } else if constexpr (PgEncodable<U>) {
      if constexpr (requires { PgCodec<U>::encode(value, bytes_); }) {
        // A codec that writes to any byte container (the fixed-width ones) writes straight into the buffer.
        const std::size_t start = bytes_.size();
        PgCodec<U>::encode(value, bytes_);
        push(PgCodec<U>::oid, proto::Format::binary, start);
      } else {
        push(PgCodec<U>::oid, proto::Format::binary,
             append([&](proto::ByteBuffer& out) { PgCodec<U>::encode(value, out); }));
      }
    } else {
      add_custom(value);
    }
  }

  // A value of a type registered with set_type_codec.
  template <class U>
  void add_custom(const U& value) {
    const CodecRegistry::Entry* entry = custom ? custom->for_type(typeid(U)) : nullptr;
    if (!entry)
      throw MisuseError(std::string("keel::pg: no codec sends the C++ type ") + typeid(U).name() +
                        " to PostgreSQL; register one with set_type_codec, or specialize keel::pg::PgCodec<T>");
    push(entry->oid, entry->format, append([&](proto::ByteBuffer& out) { entry->encode(&value, out); }));
  }

  // A value for a parameter whose type the server chose (a prepared statement): binary when the C++ type
  // encodes that type, integers and floats converted to its width, text as text.
  template <class T>
  void add_as(std::uint32_t server_type, const T& value, std::size_t number) {
    if constexpr (std::is_same_v<std::remove_cvref_t<T>, Timeout>) {
      timeout = value.limit;
    } else {
      std::optional<proto::Format> format;
      const std::size_t start =
          append([&](proto::ByteBuffer& out) { format = encode_for_type(server_type, value, number, custom, out); });
      if (format)
        push(server_type, *format, start);
      else
        push_null(server_type, proto::Format::text);
    }
  }

  // Appends a value's bytes for a server-chosen type; returns their format, or nullopt for NULL.
  template <class T>
  static std::optional<proto::Format> encode_for_type(std::uint32_t server_type, const T& value, std::size_t number,
                                                      const CodecRegistry* custom, proto::ByteBuffer& out) {
    using U = std::remove_cvref_t<T>;
    auto binary = [&](auto&& encode) -> std::optional<proto::Format> {
      encode(out);
      return proto::Format::binary;
    };
    if constexpr (std::is_same_v<U, std::nullptr_t> || std::is_same_v<U, std::nullopt_t>) {
      return std::nullopt;
    } else if constexpr (is_optional_v<U>) {
      if (value) return encode_for_type(server_type, *value, number, custom, out);
      return std::nullopt;
    } else if constexpr (std::is_convertible_v<const U&, std::string_view>) {
      const std::string_view text(value);
      out.insert(out.end(), text.begin(), text.end());
      return proto::Format::text;
    } else if constexpr (std::integral<U> && !std::is_same_v<U, bool>) {
      switch (server_type) {
        case types::int2:
          return binary([&](auto& b) { PgCodec<std::int16_t>::encode(checked<std::int16_t>(value, number), b); });
        case types::int4:
          return binary([&](auto& b) { PgCodec<std::int32_t>::encode(checked<std::int32_t>(value, number), b); });
        case types::int8:
          return binary([&](auto& b) { PgCodec<std::int64_t>::encode(checked<std::int64_t>(value, number), b); });
        case types::float4: return binary([&](auto& b) { PgCodec<float>::encode(static_cast<float>(value), b); });
        case types::float8: return binary([&](auto& b) { PgCodec<double>::encode(static_cast<double>(value), b); });
        case types::numeric:
          return binary([&](auto& b) { PgCodec<Numeric>::encode(Numeric{std::to_string(value)}, b); });
        default: refuse(server_type, number, "an integer");
      }
    } else if constexpr (std::floating_point<U>) {
      switch (server_type) {
        case types::float4: return binary([&](auto& b) { PgCodec<float>::encode(static_cast<float>(value), b); });
        case types::float8: return binary([&](auto& b) { PgCodec<double>::encode(static_cast<double>(value), b); });
        default: refuse(server_type, number, "a floating-point number");
      }
    } else if constexpr (std::is_same_v<U, Value>) {
      switch (value.kind()) {
        case ValueKind::null: return std::nullopt;
        case ValueKind::boolean: return encode_for_type(server_type, value.template as<bool>(), number, custom, out);
        case ValueKind::integer:
          return encode_for_type(server_type, value.template as<std::int64_t>(), number, custom, out);
        case ValueKind::real: return encode_for_type(server_type, value.template as<double>(), number, custom, out);
        case ValueKind::text:
          return encode_for_type(server_type, std::get<std::string>(value.storage()), number, custom, out);
        case ValueKind::blob: return encode_for_type(server_type, std::get<Blob>(value.storage()), number, custom, out);
        default: {
          const ParameterType type = parameter_type(value);
          if (type.oid != 0 && type.oid != server_type)
            refuse(server_type, number, "a " + std::string(to_string(value.kind())));
          encode_value(value, out);
          return type.format;
        }
      }
    } else if constexpr (!PgEncodable<U>) {
      const CodecRegistry::Entry* entry = custom ? custom->for_type(typeid(U)) : nullptr;
      if (!entry)
        throw MisuseError(std::string("keel::pg: no codec sends the C++ type ") + typeid(U).name() +
                          " to PostgreSQL; register one with set_type_codec, or specialize keel::pg::PgCodec<T>");
      if (entry->oid != server_type) refuse(server_type, number, "this C++ type");
      entry->encode(&value, out);
      return entry->format;
    } else {
      const bool json_as_text = server_type == types::json && std::is_same_v<U, boost::json::value>;
      if (PgCodec<U>::oid != server_type && !json_as_text) refuse(server_type, number, "this C++ type");
      if constexpr (std::is_same_v<U, boost::json::value>) {
        if (json_as_text) {  // json takes text; only jsonb has a binary form with a version byte
          const std::string text = boost::json::serialize(value);
          out.insert(out.end(), text.begin(), text.end());
          return proto::Format::text;
        }
      }
      return binary([&](auto& b) { PgCodec<U>::encode(value, b); });
    }
  }

  void add_value(const Value& v) {
    switch (v.kind()) {
      case ValueKind::null: push_null(0, proto::Format::text); break;
      case ValueKind::boolean: add(std::get<bool>(v.storage())); break;
      case ValueKind::integer: add(std::get<std::int64_t>(v.storage())); break;
      case ValueKind::real: add(std::get<double>(v.storage())); break;
      case ValueKind::text: add(std::get<std::string>(v.storage())); break;
      case ValueKind::blob: add(std::get<Blob>(v.storage())); break;
      default: {
        const ParameterType type = parameter_type(v);
        push(type.oid, type.format, append([&](proto::ByteBuffer& out) { encode_value(v, out); }));
      }
    }
  }

private:
  template <class Target, class Source>
  static Target checked(Source v, std::size_t number) {
    if (!std::in_range<Target>(v))
      throw ValueOutOfRangeError("parameter $" + std::to_string(number) + ": " + std::to_string(v) +
                                 " does not fit the parameter's integer type");
    return static_cast<Target>(v);
  }
  [[noreturn]] static void refuse(std::uint32_t server_type, std::size_t number, std::string_view what) {
    throw TypeMismatchError("parameter $" + std::to_string(number) + " has PostgreSQL type OID " +
                            std::to_string(server_type) + ", which " + std::string(what) + " cannot be sent as");
  }
  // Appends what `encode` writes (the codecs write to a ByteBuffer) through a scratch buffer that keeps its
  // capacity, so that the values' bytes stay inline. Returns where they start.
  template <class Encode>
  std::size_t append(Encode&& encode) {
    thread_local proto::ByteBuffer scratch;
    scratch.clear();
    encode(scratch);
    const std::size_t start = bytes_.size();
    bytes_.insert(bytes_.end(), scratch.begin(), scratch.end());
    if (scratch.capacity() > 64 * 1024) proto::ByteBuffer().swap(scratch);  // not kept for one large value
    return start;
  }
  // A value whose bytes were appended to the buffer from `start` on.
  void push(std::uint32_t type, proto::Format format, std::size_t start) {
    const std::size_t size = bytes_.size() - start;
    // PostgreSQL takes at most 1 GB in one message: a Bind's values fit 32-bit offsets, and a larger one is refused
    // here rather than wrapped.
    if (bytes_.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
      throw MisuseError("a query's values are larger than PostgreSQL's 1 GB message limit");
    types.push_back(type);
    formats.push_back(format);
    slices_.push_back(Slice{static_cast<std::uint32_t>(start), static_cast<std::int32_t>(size)});
  }
  void push_null(std::uint32_t type, proto::Format format) {
    types.push_back(type);
    formats.push_back(format);
    slices_.push_back(Slice{0, -1});
  }

  // Where a value's bytes are in bytes_; a size of -1 is NULL. Small, as a query's values live in its coroutine's
  // frame.
  struct Slice {
    std::uint32_t offset = 0;
    std::int32_t size = -1;
  };
  boost::container::small_vector<std::uint8_t, 128> bytes_;
  Small<Slice> slices_;
};

}  // namespace keel::pg
