// The current row of a stepped SQLite statement, read in place as keel's cells.
module;
#include <sqlite3.h>
#include <cstddef>
#include <span>
#include <string_view>
export module keel.sqlite:row_reader;
import keel.core;

namespace keel::sqlite_detail {

class StatementRowReader final : public RowReader {
public:
  explicit StatementRowReader(sqlite3_stmt* stmt) : stmt_(stmt), columns_(sqlite3_column_count(stmt)) {}
  std::size_t size() const override { return static_cast<std::size_t>(columns_); }
  std::string_view name(std::size_t index) const override {
    return sqlite3_column_name(stmt_, static_cast<int>(index));
  }
  Cell cell(std::size_t index) const override {
    const int i = static_cast<int>(index);
    Cell cell;
    switch (sqlite3_column_type(stmt_, i)) {
      case SQLITE_INTEGER:
        cell.kind = ValueKind::integer;
        cell.integer = sqlite3_column_int64(stmt_, i);
        break;
      case SQLITE_FLOAT:
        cell.kind = ValueKind::real;
        cell.real = sqlite3_column_double(stmt_, i);
        break;
      case SQLITE_TEXT: {
        // Text first, then its size: the documented order that avoids a conversion.
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
        cell.kind = ValueKind::text;
        cell.text = std::string_view(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)));
        break;
      }
      case SQLITE_BLOB: {
        const auto* data = static_cast<const std::byte*>(sqlite3_column_blob(stmt_, i));
        cell.kind = ValueKind::blob;
        cell.blob = std::span<const std::byte>(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)));
        break;
      }
      default: cell.kind = ValueKind::null;
    }
    return cell;
  }

private:
  sqlite3_stmt* stmt_;
  int columns_;
};

}  // namespace keel::sqlite_detail
