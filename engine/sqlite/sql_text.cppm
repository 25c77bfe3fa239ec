// What the SQLite engine reads in SQL text: whether a tail holds another statement, and a leading keyword.
module;
#include <cctype>
#include <cstddef>
#include <string_view>
export module keel.sqlite:sql_text;

namespace keel::sqlite_detail {

inline bool blank_sql(std::string_view text) {
  // Whitespace and semicolons only (SQLite leaves comments in the tail; a tail of comments runs as nothing).
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c)) || c == ';') continue;
    if (text.substr(i).starts_with("--")) {
      i = text.find('\n', i);
      if (i == std::string_view::npos) return true;
      continue;
    }
    return false;
  }
  return true;
}

inline bool starts_with_keyword(std::string_view sql, std::string_view keyword) {
  std::size_t i = 0;
  while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i]))) ++i;
  if (sql.size() - i < keyword.size()) return false;
  for (std::size_t k = 0; k < keyword.size(); ++k)
    if (std::tolower(static_cast<unsigned char>(sql[i + k])) != keyword[k]) return false;
  return true;
}

}  // namespace keel::sqlite_detail
