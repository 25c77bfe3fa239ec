// What the client needs to know of a SQL text before sending it: whether it holds several statements, which
// only the simple protocol (Query) runs. Parse refuses them, and inside a transaction that refusal would abort
// it, so the client looks first instead of trying. A small lexer: quotes, quoted identifiers, dollar quotes
// and comments hide their semicolons.
module;
#include <cstddef>
#include <string_view>
export module keel.postgres.protocol:sql_text;

export namespace keel::pg::protocol {

/// Whether a statement follows a semicolon that is not inside a literal, an identifier or a comment.
constexpr bool holds_several_statements(std::string_view sql) noexcept {
  const std::size_t n = sql.size();
  bool after_semicolon = false;
  auto is_tag_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           static_cast<unsigned char>(c) >= 0x80;
  };
  for (std::size_t i = 0; i < n; ++i) {
    const char c = sql[i];
    const char next = i + 1 < n ? sql[i + 1] : '\0';
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') continue;
    if (c == '-' && next == '-') {  // a comment to the end of the line
      while (i < n && sql[i] != '\n') ++i;
      continue;
    }
    if (c == '/' && next == '*') {  // a block comment; they nest in PostgreSQL
      int depth = 1;
      for (i += 2; i < n && depth > 0; ++i) {
        if (sql[i] == '/' && i + 1 < n && sql[i + 1] == '*')
          ++depth, ++i;
        else if (sql[i] == '*' && i + 1 < n && sql[i + 1] == '/')
          --depth, ++i;
      }
      --i;
      continue;
    }
    if (after_semicolon && c != ';') return true;
    if (c == ';') {
      after_semicolon = true;
      continue;
    }
    if (c == '\'' || c == '"') {  // a literal or a quoted identifier; a doubled quote stays inside
      // E'...' strings take backslash escapes; standard ones do not (standard_conforming_strings).
      const bool escapes =
          c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && (i == 1 || !is_tag_char(sql[i - 2]));
      for (++i; i < n; ++i) {
        if (escapes && sql[i] == '\\')
          ++i;
        else if (sql[i] == c) {
          if (i + 1 < n && sql[i + 1] == c)
            ++i;
          else
            break;
        }
      }
      continue;
    }
    if (c == '$' && (i == 0 || !is_tag_char(sql[i - 1]))) {
      // $tag$ ... $tag$ quotes a body; $1 is a parameter. A tag does not start with a digit.
      std::size_t end = i + 1;
      if (end < n && sql[end] >= '0' && sql[end] <= '9') continue;
      while (end < n && is_tag_char(sql[end])) ++end;
      if (end < n && sql[end] == '$') {
        const std::string_view tag = sql.substr(i, end - i + 1);
        const std::size_t close = sql.find(tag, end + 1);
        if (close == std::string_view::npos) return false;  // unterminated: the server will say so
        i = close + tag.size() - 1;
      }
    }
  }
  return false;
}

}  // namespace keel::pg::protocol
