// Records (tuples, or plain structs) encoded as binary COPY's tuples, for PgConnection::copy_records_to_table: each
// value in its column's binary form, written into a chunk that grows without zero-filling. Not exported.
module;
#include <boost/pfr.hpp>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>
export module keel.postgres:copy_records;
import keel.core;
import keel.postgres.protocol;
import :codecs;
import :parameter_encoding;

namespace proto = keel::pg::protocol;

namespace keel::pg {

// A COPY chunk's bytes, written once from front to back: it grows without zero-filling what is written next, so
// that the codecs' resize-and-store (codec_detail::write_be) costs a comparison, not a call and a memset. The
// hot members say `inline`: in a module, a function defined in its class is not, and the record encoder that
// calls them is a template made in the caller's translation unit.
class CopyChunk {
public:
  inline std::size_t size() const noexcept { return size_; }
  inline std::uint8_t* data() noexcept { return data_.get(); }
  inline void resize(std::size_t n) {
    if (n > capacity_) grow(n);
    size_ = n;
  }
  inline void push_back(std::uint8_t b) {
    resize(size_ + 1);
    data_[size_ - 1] = b;
  }
  inline void append(std::span<const std::uint8_t> bytes) {
    const std::size_t at = size_;
    resize(at + bytes.size());
    if (!bytes.empty()) std::memcpy(data_.get() + at, bytes.data(), bytes.size());
  }
  void clear() noexcept { size_ = 0; }
  std::span<const std::uint8_t> bytes() const noexcept { return {data_.get(), size_}; }

private:
  void grow(std::size_t n) {
    const std::size_t capacity = std::max({n, capacity_ * 2, std::size_t{64 * 1024}});
    auto bigger = std::make_unique_for_overwrite<std::uint8_t[]>(capacity);
    if (size_ > 0) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = capacity;
  }
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t size_ = 0, capacity_ = 0;
};

// Binary COPY's header: its signature, no flags, no header extension.
inline void write_copy_header(CopyChunk& out) {
  static constexpr std::uint8_t signature[] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xFF, '\r', '\n', 0};
  out.append(signature);
  codec_detail::write_be(out, 0, 4);  // flags
  codec_detail::write_be(out, 0, 4);  // header extension length
}
// Binary COPY's trailer: a tuple of -1 fields.
inline void write_copy_trailer(CopyChunk& out) { codec_detail::write_be(out, 0xFFFF, 2); }

// One field: its length, then its binary form for the column's type.
template <class T>
void encode_copy_field(const T& value, std::uint32_t type, std::size_t number, const CodecRegistry* custom,
                       CopyChunk& out) {
  if constexpr (requires { PgCodec<T>::binary_size; }) {
    // A fixed-width value of the column's own type (signed, or an unsigned type that the codec checks): its
    // length is known.
    if (type == PgCodec<T>::oid) {
      codec_detail::write_be(out, PgCodec<T>::binary_size, 4);
      PgCodec<T>::encode(value, out);
      return;
    }
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    // Text for a text column: its binary form is the text itself.
    if (is_text_type(type)) {
      const std::string_view text(value);
      codec_detail::write_be(out, text.size(), 4);
      out.append({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
      return;
    }
  }
  // Anything else goes through encode_for_type, as bound values do, in a scratch buffer.
  thread_local proto::ByteBuffer field;
  field.clear();
  const auto format = EncodedParameters::encode_for_type(type, value, number, custom, field);
  if (!format) {
    codec_detail::write_be(out, 0xFFFFFFFFu, 4);  // NULL
    return;
  }
  bool jsonb_version = false;
  if (*format == proto::Format::text) {
    // Binary COPY takes the binary form: for the text types it is the text itself; jsonb adds a version byte.
    switch (type) {
      case types::text:
      case types::varchar:
      case types::bpchar:
      case types::name:
      case types::unknown:
      case types::json: break;
      case types::jsonb: jsonb_version = true; break;
      default:
        throw TypeMismatchError("copy_records_to_table: column " + std::to_string(number) +
                                " has PostgreSQL type OID " + std::to_string(type) +
                                ", which binary COPY cannot take as text; give a value of its C++ type");
    }
  }
  codec_detail::write_be(out, field.size() + (jsonb_version ? 1 : 0), 4);
  if (jsonb_version) out.push_back(1);
  out.append(field);
  if (field.capacity() > 64 * 1024) proto::ByteBuffer().swap(field);  // not kept for one large value
}

// One tuple of binary COPY: its field count, then each field's length (-1 for NULL) and bytes.
template <class Row>
void encode_copy_tuple(const Row& row, const std::vector<std::uint32_t>& column_types, const CodecRegistry* custom,
                       CopyChunk& out) {
  auto encode_all = [&](const auto&... values) {
    if (sizeof...(values) != column_types.size())
      throw MisuseError("copy_records_to_table: a record has " + std::to_string(sizeof...(values)) + " values for " +
                        std::to_string(column_types.size()) + " columns");
    codec_detail::write_be(out, column_types.size(), 2);
    std::size_t i = 0;
    ((encode_copy_field(values, column_types[i], i + 1, custom, out), ++i), ...);
  };
  if constexpr (requires { std::tuple_size<Row>::value; })
    std::apply(encode_all, row);
  else
    std::apply(encode_all, boost::pfr::structure_tie(row));
}

}  // namespace keel::pg
