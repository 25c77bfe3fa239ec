// How PgConnection reads rows: in place through a RowReader (to a RowSink), or collected into Records, typed
// structs or a first value. Not exported: the connection and its prepared statements use them.
module;
#include <boost/pfr.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>
export module keel.postgres:row_collectors;
import keel.engine;
import keel.postgres.protocol;
import :codecs;
import :record;
import :value_codec;

namespace proto = keel::pg::protocol;

namespace keel::pg {

/// Reads the cells of one DataRow in place (value_codec), decoding the binary format of the types keel knows
/// and handing the others over as text; arrays are decoded into the reader.
class PgRowReader final : public RowReader {
public:
  PgRowReader(const std::vector<proto::FieldDescription>& fields, const std::vector<proto::Format>& formats,
              const std::vector<std::optional<proto::Bytes>>& cells)
      : fields_(fields), formats_(formats), cells_(cells) {}
  std::size_t size() const override { return cells_.size(); }
  std::string_view name(std::size_t index) const override { return fields_[index].name; }
  Cell cell(std::size_t index) const override {
    const auto& raw = cells_[index];
    if (!raw) return Cell{};
    // An array is decoded once per row, into storage of the reader that outlives the cells handed out.
    auto array_storage = [&]() -> ValueArray* {
      if (arrays_.empty()) arrays_.resize(cells_.size());
      arrays_[index] = std::make_unique<ValueArray>();
      return arrays_[index].get();
    };
    if (!arrays_.empty() && arrays_[index]) {
      Cell c;
      c.kind = ValueKind::array;
      c.array = arrays_[index].get();
      return c;
    }
    return decode_cell(fields_[index].type_oid, formats_[index], *raw, array_storage);
  }

private:
  const std::vector<proto::FieldDescription>& fields_;
  const std::vector<proto::Format>& formats_;
  const std::vector<std::optional<proto::Bytes>>& cells_;
  mutable std::vector<std::unique_ptr<ValueArray>> arrays_;  // the decoded arrays of this row, by column
};

/// Takes a result's rows as they arrive (Records, or typed rows), decoded through the binary codecs.
class RowCollector {
public:
  explicit RowCollector(std::shared_ptr<const CodecRegistry> custom) : custom_(std::move(custom)) {}
  virtual ~RowCollector() = default;
  virtual void add(std::shared_ptr<const RecordDescription>& description,
                   const std::vector<proto::FieldDescription>& fields, const std::vector<proto::Format>& formats,
                   const std::vector<std::optional<proto::Bytes>>& cells) = 0;
  const CodecRegistry* custom() const noexcept { return custom_.get(); }
  const std::shared_ptr<const CodecRegistry>& custom_registry() const noexcept { return custom_; }

protected:
  const std::shared_ptr<const RecordDescription>& describe(std::shared_ptr<const RecordDescription>& description,
                                                           const std::vector<proto::FieldDescription>& fields,
                                                           const std::vector<proto::Format>& formats) const {
    if (!description)
      description = std::make_shared<const RecordDescription>(RecordDescription{fields, formats, custom_});
    return description;
  }
  std::shared_ptr<const CodecRegistry> custom_;
};

/// Collects rows into Records (the asyncpg-style API).
class RecordCollector final : public RowCollector {
public:
  explicit RecordCollector(std::shared_ptr<const CodecRegistry> custom = nullptr) : RowCollector(std::move(custom)) {}
  void add(std::shared_ptr<const RecordDescription>& description, const std::vector<proto::FieldDescription>& fields,
           const std::vector<proto::Format>& formats, const std::vector<std::optional<proto::Bytes>>& cells) override {
    records.emplace_back(describe(description, fields, formats), cells);
  }
  std::vector<Record> records;
};

/// Whether fetch_as<T> reads a row as one value (a type with a codec), a tuple, or a struct's members.
template <class T>
concept TupleLike = requires { std::tuple_size<T>::value; };
template <class T>
inline constexpr bool is_single_value_v =
    PgDecodable<T> || std::is_same_v<T, std::string> || is_optional_v<T> || (!TupleLike<T> && !std::is_aggregate_v<T>);

/// Decodes each row straight into T, with no Record between.
template <class T>
class TypedCollector final : public RowCollector {
public:
  explicit TypedCollector(std::shared_ptr<const CodecRegistry> custom) : RowCollector(std::move(custom)) {}
  void add(std::shared_ptr<const RecordDescription>& description, const std::vector<proto::FieldDescription>& fields,
           const std::vector<proto::Format>& formats, const std::vector<std::optional<proto::Bytes>>& cells) override {
    const RecordDescription& d = *describe(description, fields, formats);
    if (cells.size() != width())
      throw MisuseError("fetch_as: the query returns " + std::to_string(cells.size()) +
                        " columns, and the row type has " + std::to_string(width()));
    if constexpr (TupleLike<T> && !is_single_value_v<T>) {
      rows.push_back([&]<std::size_t... I>(std::index_sequence<I...>) {
        return T{decode_cell<std::tuple_element_t<I, T>>(d, I, cells[I])...};
      }(std::make_index_sequence<std::tuple_size_v<T>>()));
    } else if constexpr (is_single_value_v<T>) {
      rows.push_back(decode_cell<T>(d, 0, cells[0]));
    } else {
      T& row = rows.emplace_back();
      boost::pfr::for_each_field(row, [&](auto& member, std::size_t i) {
        member = decode_cell<std::remove_cvref_t<decltype(member)>>(d, i, cells[i]);
      });
    }
  }
  static constexpr std::size_t width() {
    if constexpr (is_single_value_v<T>)
      return 1;
    else if constexpr (TupleLike<T>)
      return std::tuple_size_v<T>;
    else
      return boost::pfr::tuple_size_v<T>;
  }
  std::vector<T> rows;
};

/// Keeps the first column of the first row, decoded as T (fetchval), and nothing else.
template <class T>
class FirstValueCollector final : public RowCollector {
public:
  explicit FirstValueCollector(std::shared_ptr<const CodecRegistry> custom) : RowCollector(std::move(custom)) {}
  void add(std::shared_ptr<const RecordDescription>& description, const std::vector<proto::FieldDescription>& fields,
           const std::vector<proto::Format>& formats, const std::vector<std::optional<proto::Bytes>>& cells) override {
    if (value) return;
    if (cells.empty()) throw MisuseError("fetchval: the query returns no columns");
    value.emplace(decode_cell<T>(*describe(description, fields, formats), 0, cells[0]));
  }
  std::optional<T> value;  // empty: no row
};

/// fetchrow and fetchval from fetch's records, for connections and prepared statements alike.
inline std::optional<Record> first_record(std::vector<Record> records) {
  if (records.empty()) return std::nullopt;
  return std::move(records.front());
}
/// fetchval's value: the first column of the first row, if there was a row. No row is a MisuseError, unless
/// T is std::optional.
template <class T>
T value_of_first_row(std::optional<T> value) {
  if (value) return std::move(*value);
  if constexpr (is_optional_v<T>)
    return std::nullopt;
  else
    throw MisuseError("fetchval: the query returned no row; read it as std::optional<T> to accept none");
}
template <class T>
T first_value(const std::optional<Record>& row) {
  return value_of_first_row<T>(row ? std::optional<T>(row->template get<T>(0)) : std::nullopt);
}

}  // namespace keel::pg
