// A row as asyncpg hands it out: by index or by name, typed get<T> through the binary codecs, std::optional<T>
// for NULL. A Record owns its bytes, so it outlives the message it came from.
module;
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <typeinfo>
#include <type_traits>
#include <utility>
#include <vector>
export module keel.postgres:record;
import keel.core;
import keel.postgres.protocol;
import :codecs;

namespace proto = keel::pg::protocol;

export namespace keel::pg {

/// The columns of a result: names, type OIDs, and the format each came in.
struct RecordDescription {
  std::vector<proto::FieldDescription> fields;         ///< the columns, as the server described them
  std::vector<proto::Format> formats;                  ///< the format each column came in
  std::shared_ptr<const CodecRegistry> custom_codecs;  ///< the connection's set_type_codec registrations
};

/// A cell of a result decoded as T: through the connection's custom codecs, the binary codecs, or as text for
/// the types keel reads only as text. NULL needs std::optional<T>.
template <class T>
T decode_cell(const RecordDescription& description, std::size_t index,
              std::optional<std::span<const std::uint8_t>> raw) {
  const auto& field = description.fields[index];
  auto origin = [&] { return "column '" + field.name + "' (index " + std::to_string(index) + ")"; };
  if constexpr (is_optional_v<T>) {
    if (!raw) return std::nullopt;
    return T(decode_cell<typename T::value_type>(description, index, raw));
  } else {
    if (!raw) throw NullValueError(origin() + " is NULL; read it as std::optional<T> to accept NULL");
    if (const auto& custom = description.custom_codecs) {
      if (const CodecRegistry::Entry* entry = custom->for_oid(field.type_oid); entry && entry->type == typeid(T)) {
        if constexpr (std::is_default_constructible_v<T>) {
          T value{};
          entry->decode(*raw, &value);
          return value;
        }
      }
    }
    if constexpr (!PgDecodable<T> && !std::is_same_v<T, std::string>) {
      throw TypeMismatchError(origin() + " (type OID " + std::to_string(field.type_oid) +
                              ") has no codec for the requested C++ type; register one with set_type_codec");
    } else if (description.formats.at(index) == proto::Format::text) {
      // A type keel has no binary codec for comes as text, and reads as text only.
      if constexpr (std::is_same_v<T, std::string>)
        return std::string(reinterpret_cast<const char*>(raw->data()), raw->size());
      else
        throw TypeMismatchError(origin() + " has a type (OID " + std::to_string(field.type_oid) +
                                ") keel reads as text only; read it as std::string or add a codec");
    } else {
      try {
        if constexpr (PgDecodable<T>)
          return PgCodec<T>::decode(field.type_oid, *raw);
        else
          throw TypeMismatchError("no codec");
      } catch (const TypeMismatchError& e) {
        throw TypeMismatchError(origin() + ": " + e.what());
      }
    }
  }
}

/// A row as asyncpg hands it out: cells by index or by name, get<T> through the binary codecs, std::optional<T>
/// for NULL. A Record owns its bytes, so it outlives the message it came from.
class Record {
public:
  /// A record of `cells` (copied), described by `description`.
  Record(std::shared_ptr<const RecordDescription> description, const std::vector<std::optional<proto::Bytes>>& cells)
      : description_(std::move(description)) {
    std::size_t total = 0;
    for (const auto& c : cells)
      if (c) total += c->size();
    data_.reserve(total);
    cells_.reserve(cells.size());
    for (const auto& c : cells) {
      if (!c) {
        cells_.push_back({0, -1});
        continue;
      }
      cells_.push_back({data_.size(), static_cast<std::int64_t>(c->size())});
      data_.insert(data_.end(), c->begin(), c->end());
    }
  }

  /// The number of columns.
  std::size_t size() const noexcept { return cells_.size(); }
  /// The name of column `index`.
  std::string_view name(std::size_t index) const { return description_->fields.at(index).name; }
  /// The type OID of column `index`.
  std::uint32_t type_oid(std::size_t index) const { return description_->fields.at(index).type_oid; }
  /// Whether column `index` is NULL.
  bool is_null(std::size_t index) const { return cells_.at(index).length < 0; }
  /// The format the cell came in: binary for the types keel has codecs for, text otherwise.
  proto::Format format(std::size_t index) const { return description_->formats.at(index); }

  /// The index of the column named `column`; throws ColumnNotFoundError when there is none.
  std::size_t index_of(std::string_view column) const {
    for (std::size_t i = 0; i < cells_.size(); ++i)
      if (description_->fields[i].name == column) return i;
    throw ColumnNotFoundError("the record has no column named '" + std::string(column) + "'");
  }

  /// Column `index` decoded as T (see decode_cell); throws ColumnNotFoundError past the last column.
  template <class T>
  T get(std::size_t index) const {
    if (index >= cells_.size())
      throw ColumnNotFoundError("column index " + std::to_string(index) + " is out of range: the record has " +
                                std::to_string(cells_.size()) + " columns");
    return decode<T>(index);
  }
  /// The column named `column` decoded as T.
  template <class T>
  T get(std::string_view column) const {
    return decode<T>(index_of(column));
  }
  /// The raw bytes of a cell, in the format it came in.
  std::optional<std::span<const std::uint8_t>> bytes(std::size_t index) const {
    const Slot& s = cells_.at(index);
    if (s.length < 0) return std::nullopt;
    return std::span<const std::uint8_t>(data_).subspan(s.offset, static_cast<std::size_t>(s.length));
  }

private:
  struct Slot {
    std::size_t offset;
    std::int64_t length;  // -1 for NULL
  };

  template <class T>
  T decode(std::size_t index) const {
    return decode_cell<T>(*description_, index, bytes(index));
  }

  std::shared_ptr<const RecordDescription> description_;
  std::vector<std::uint8_t> data_;
  std::vector<Slot> cells_;
};

}  // namespace keel::pg
