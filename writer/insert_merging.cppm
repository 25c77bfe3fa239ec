// Merging one-row inserts: consecutive `INSERT INTO t (...) VALUES (...)` statements that share everything up to
// VALUES become one multi-row insert, their placeholders renumbered in the dialect's style. One statement of n
// rows costs the server one parse and one execution instead of n, and the client one message instead of n.
// A pure function over texts, so it is tested exactly without a database.
//
// Only what is surely a plain VALUES list merges: a text with RETURNING, ON CONFLICT, a comment, a named or
// numbered SQLite parameter, or a dollar-quoted string is sent as it is.
module;
#include <algorithm>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
export module keel.writer:insert_merging;
import keel.engine;
import :batching;

export namespace keel {

/// An INSERT ... VALUES text split where rows can be added: `head` runs to the end of the VALUES keyword, `rows`
/// is its list of row tuples (trailing blanks and semicolon left out).
struct InsertValues {
  std::string_view head;         ///< the text up to the end of VALUES
  std::string_view rows;         ///< the row tuples
  std::size_t columns = 0;       ///< the values in the first row
  std::size_t placeholders = 0;  ///< $n: the highest n; ?: how many
};

/// The split of `sql` when it is an INSERT ... VALUES that can take more rows; none otherwise.
std::optional<InsertValues> split_insert_values(std::string_view sql, Dialect dialect);

/// A many-row insert that an engine may write its own way (Connection::insert_rows: PostgreSQL's COPY): INSERT
/// INTO a table and a list of plain column names, nothing else before VALUES; then rows of placeholders alone,
/// numbered in order.
struct RowsInsert {
  InsertTarget target;   ///< the table and its columns, laid out row after row
  std::size_t rows = 0;  ///< the number of rows
};
/// `statement` as a RowsInsert when it is one; none otherwise.
std::optional<RowsInsert> rows_insert(const Statement& statement, Dialect dialect);

/// The statements of `batch` with each run of consecutive mergeable inserts of one head folded into one
/// statement (a run of one is left as it was), each merged text within `limits` (max_bytes of text,
/// max_parameters values). The values stay bound, in order.
std::vector<Statement> merge_inserts(std::span<const Statement> batch, Dialect dialect, const BatchLimits& limits = {});

}  // namespace keel

namespace keel {
namespace {

bool is_blank(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_word_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Whether `sql` at `at` holds the keyword `word` (lower case) as a whole word.
bool keyword_at(std::string_view sql, std::size_t at, std::string_view word) noexcept {
  if (at + word.size() > sql.size()) return false;
  if (at > 0 && is_word_char(sql[at - 1])) return false;
  for (std::size_t i = 0; i < word.size(); ++i)
    if (lower(sql[at + i]) != word[i]) return false;
  return at + word.size() == sql.size() || !is_word_char(sql[at + word.size()]);
}

// Walks a text a token at a time: skips quoted strings and identifiers whole, and reports what a merge must
// understand or refuse. Positions are byte offsets into the text.
class Scanner {
public:
  Scanner(std::string_view sql, Dialect dialect) : sql_(sql), dialect_(dialect) {}

  enum class Token { end, other, open, close, comma, placeholder, refused };

  // The next token from `at_`; a placeholder's number (or 0 for SQLite's ?) goes to `number`.
  Token next(std::size_t& number) {
    while (at_ < sql_.size()) {
      start_ = at_;
      const char c = sql_[at_];
      const char following = at_ + 1 < sql_.size() ? sql_[at_ + 1] : '\0';
      if (is_blank(c)) {
        ++at_;
        continue;
      }
      if ((c == '-' && following == '-') || (c == '/' && following == '*')) return Token::refused;  // comments
      if (c == '\'') return skip_quoted('\'', backslash_escapes_here()) ? Token::other : Token::refused;
      if (c == '"' || (c == '`' && dialect_->backtick_and_bracket_identifiers))
        return skip_quoted(c, false) ? Token::other : Token::refused;
      if (c == '[' && dialect_->backtick_and_bracket_identifiers) return Token::refused;  // [identifier]
      if (c == '(') {
        ++at_;
        return Token::open;
      }
      if (c == ')') {
        ++at_;
        return Token::close;
      }
      if (c == ',') {
        ++at_;
        return Token::comma;
      }
      if (c == '$') return dollar(number);
      if (dialect_->placeholders == PlaceholderStyle::question_mark && c == '?') {
        if (is_digit(following)) return Token::refused;  // ?NNN: numbered, not positional
        ++at_;
        number = 0;
        return Token::placeholder;
      }
      if (dialect_->named_parameters && (c == ':' || c == '@') && is_word_char(following)) return Token::refused;
      if (is_word_char(c)) {
        // PostgreSQL's identifiers may hold a $ after their first character (f$1 is one name, not f and $1).
        while (at_ < sql_.size() && (is_word_char(sql_[at_]) || (sql_[at_] == '$' && dialect_->dollar_in_identifiers)))
          ++at_;
        return Token::other;
      }
      ++at_;
      return Token::other;
    }
    return Token::end;
  }
  std::size_t at() const noexcept { return at_; }
  std::size_t start() const noexcept { return start_; }  // where the last token began
  void skip_to(std::size_t at) noexcept { at_ = at; }

private:
  // E'...' (PostgreSQL) takes backslash escapes: E'\'' is one quote.
  bool backslash_escapes_here() const noexcept {
    return dialect_->escape_strings && at_ > 0 && lower(sql_[at_ - 1]) == 'e' &&
           (at_ == 1 || !is_word_char(sql_[at_ - 2]));
  }
  bool skip_quoted(char quote, bool backslash_escapes) {
    for (std::size_t i = at_ + 1; i < sql_.size(); ++i) {
      if (backslash_escapes && sql_[i] == '\\') {
        ++i;
        continue;
      }
      if (sql_[i] != quote) continue;
      if (i + 1 < sql_.size() && sql_[i + 1] == quote) {
        ++i;
        continue;
      }  // a doubled quote stands for itself
      at_ = i + 1;
      return true;
    }
    return false;  // unterminated: let the server say so
  }
  Token dollar(std::size_t& number) {
    // PostgreSQL's $n; anything else after a $ (a dollar quote, SQLite's $name) is refused.
    std::size_t i = at_ + 1;
    if (dialect_->placeholders != PlaceholderStyle::dollar_number || i >= sql_.size() || !is_digit(sql_[i]))
      return Token::refused;
    number = 0;
    for (; i < sql_.size() && is_digit(sql_[i]); ++i) {
      number = number * 10 + static_cast<std::size_t>(sql_[i] - '0');
      if (number > 65535) return Token::refused;
    }
    if (number == 0 || (i < sql_.size() && is_word_char(sql_[i]))) return Token::refused;
    at_ = i;
    return Token::placeholder;
  }

  std::string_view sql_;
  Dialect dialect_;
  std::size_t at_ = 0, start_ = 0;
};

using Token = Scanner::Token;

// Where the rows end: a list of parenthesised tuples separated by commas, then only blanks and one optional
// semicolon. Counts the first row's values and the placeholders.
std::optional<std::size_t> rows_end(Scanner& scan, std::string_view sql, InsertValues& split) {
  std::size_t depth = 0, rows = 0, number = 0, last_close = 0;
  bool expect_row = true;
  for (;;) {
    const Token token = scan.next(number);
    if (token == Token::refused) return std::nullopt;
    if (token == Token::end) break;
    if (depth == 0) {
      if (expect_row && token == Token::open) {
        depth = 1;
        expect_row = false;
        if (++rows == 1) split.columns = 1;
      } else if (!expect_row && token == Token::comma) {
        expect_row = true;
      } else if (!expect_row && token == Token::other && sql[scan.start()] == ';') {
        if (sql.find_first_not_of(" \t\n\r\f\v", scan.at()) != std::string_view::npos) return std::nullopt;
        break;
      } else {
        return std::nullopt;  // RETURNING, ON CONFLICT, a SELECT...: not a plain list of rows
      }
      continue;
    }
    // A subquery in a row sees the rows inserted before it; merged, it would not: such rows stay apart.
    if (token == Token::other && (keyword_at(sql, scan.start(), "select") || keyword_at(sql, scan.start(), "with") ||
                                  keyword_at(sql, scan.start(), "values") || keyword_at(sql, scan.start(), "table")))
      return std::nullopt;
    if (token == Token::open) ++depth;
    if (token == Token::close && --depth == 0) last_close = scan.at();
    if (token == Token::comma && depth == 1 && rows == 1) ++split.columns;
    if (token == Token::placeholder)
      split.placeholders = number == 0 ? split.placeholders + 1 : std::max(split.placeholders, number);
  }
  if (expect_row || depth != 0) return std::nullopt;
  return last_close;
}

// Appends a row list with each $n moved up by `offset` (PostgreSQL); SQLite's ? are positional and stay.
void append_renumbered(std::string& out, std::string_view rows, Dialect dialect, std::size_t offset) {
  if (dialect->placeholders != PlaceholderStyle::dollar_number || offset == 0) {
    out += rows;
    return;
  }
  Scanner scan(rows, dialect);
  std::size_t copied = 0, number = 0;
  for (;;) {
    const Token token = scan.next(number);
    if (token == Token::end) break;
    if (token != Token::placeholder) continue;
    out += rows.substr(copied, scan.start() - copied);
    out += '$';
    out += std::to_string(number + offset);
    copied = scan.at();
  }
  out += rows.substr(copied);
}

}  // namespace

std::optional<InsertValues> split_insert_values(std::string_view sql, Dialect dialect) {
  const std::size_t start = sql.find_first_not_of(" \t\n\r\f\v");
  if (start == std::string_view::npos || !keyword_at(sql, start, "insert")) return std::nullopt;
  Scanner scan(sql, dialect);
  scan.skip_to(start);
  // The head: INSERT INTO, a table, perhaps a column list, and VALUES at the top level, with no placeholder.
  std::size_t depth = 0, number = 0;
  bool saw_into = false;
  for (;;) {
    const Token token = scan.next(number);
    if (token == Token::refused || token == Token::end || token == Token::placeholder) return std::nullopt;
    if (token == Token::open) ++depth;
    if (token == Token::close && depth-- == 0) return std::nullopt;
    if (token != Token::other || depth != 0) continue;
    const std::size_t word = scan.start();
    if (keyword_at(sql, word, "into")) saw_into = true;
    if (keyword_at(sql, word, "select") || keyword_at(sql, word, "default")) return std::nullopt;
    if (saw_into && keyword_at(sql, word, "values")) break;
  }
  InsertValues split;
  split.head = sql.substr(0, scan.at());
  const std::size_t rows_start = sql.find_first_not_of(" \t\n\r\f\v", scan.at());
  const std::optional<std::size_t> end = rows_end(scan, sql, split);
  if (!end || rows_start == std::string_view::npos) return std::nullopt;
  split.rows = sql.substr(rows_start, *end - rows_start);
  return split;
}

std::optional<RowsInsert> rows_insert(const Statement& statement, Dialect dialect) {
  const std::optional<InsertValues> split = split_insert_values(statement.sql(), dialect);
  if (!split || split->columns == 0) return std::nullopt;
  const std::string_view head = split->head;
  // The head: INSERT INTO, then names joined by dots, then a list of plain column names, then VALUES.
  Scanner scan(head, dialect);
  std::size_t number = 0, words = 0, table_start = 0, table_end = 0;
  bool name_due = true;
  RowsInsert insert;
  for (;;) {
    const Token token = scan.next(number);
    if (token == Token::end) return std::nullopt;
    const std::size_t at = scan.start();
    if (words < 2) {  // INSERT, INTO
      if (token != Token::other || !keyword_at(head, at, words == 0 ? "insert" : "into")) return std::nullopt;
      ++words;
      continue;
    }
    if (token == Token::open && !name_due) break;
    if (token == Token::other && head[at] == '.' && !name_due) {
      name_due = true;
    } else if (token == Token::other && name_due && head[at] != '.') {
      if (table_start == 0) table_start = at;
      name_due = false;
      table_end = scan.at();
    } else {
      return std::nullopt;  // an alias, OVERRIDING ..., no column list, or anything else COPY has no place for
    }
  }
  insert.target.table = std::string(head.substr(table_start, table_end - table_start));
  // The column list: names (quoted, or folded to lower case as the server folds them), then ) and VALUES.
  for (bool column_due = true;;) {
    const Token token = scan.next(number);
    const std::size_t at = scan.start();
    if (column_due && token == Token::other && (head[at] == '"' || is_word_char(head[at]))) {
      const std::string_view word = head.substr(at, scan.at() - at);
      std::string name;
      if (word.front() == '"') {
        for (std::size_t i = 1; i + 1 < word.size(); ++i) {
          name += word[i];
          if (word[i] == '"') ++i;  // a doubled quote stands for one
        }
      } else {
        for (const char c : word) name += lower(c);
      }
      insert.target.columns.push_back(std::move(name));
      column_due = false;
    } else if (!column_due && token == Token::comma) {
      column_due = true;
    } else if (!column_due && token == Token::close) {
      break;
    } else {
      return std::nullopt;  // arr[1], comp.f, or an empty list: not for COPY
    }
  }
  if (scan.next(number) != Token::other || !keyword_at(head, scan.start(), "values") || scan.next(number) != Token::end)
    return std::nullopt;
  if (insert.target.columns.size() != split->columns) return std::nullopt;
  // The rows: each ($k+1, ..., $k+n) for PostgreSQL, (?, ..., ?) for SQLite.
  Scanner rows(split->rows, dialect);
  std::size_t expected = 0, field = 0, count = 0;
  bool in_row = false, value_due = false;
  for (;;) {
    const Token token = rows.next(number);
    if (token == Token::end) break;
    if (!in_row) {
      if (token == Token::comma && count > 0 && !value_due) {
        value_due = true;
        continue;
      }
      if (token != Token::open || (count > 0 && !value_due)) return std::nullopt;
      in_row = true;
      value_due = true;
      field = 0;
      continue;
    }
    if (value_due) {
      if (token != Token::placeholder || (number != 0 && number != expected + 1)) return std::nullopt;
      ++expected;
      ++field;
      value_due = false;
    } else if (token == Token::comma) {
      value_due = true;
    } else if (token == Token::close && field == split->columns) {
      in_row = false;
      ++count;
    } else {
      return std::nullopt;
    }
  }
  if (in_row || count == 0 || expected != statement.params().size()) return std::nullopt;
  insert.rows = count;
  return insert;
}

std::vector<Statement> merge_inserts(std::span<const Statement> batch, Dialect dialect, const BatchLimits& limits) {
  // A text whose placeholders do not match its values is left alone, for the server to refuse as it is. A text
  // like the one before it splits as it did (a stream of one-row inserts repeats one text), without a scan.
  std::string_view last_text;
  std::optional<InsertValues> last_split;
  const auto mergeable = [&](const Statement& statement) {
    const std::string_view sql = statement.sql();
    if (sql != last_text) {
      last_text = sql;
      last_split = split_insert_values(sql, dialect);
    } else if (last_split) {
      last_split->head = sql.substr(0, last_split->head.size());
      last_split->rows =
          sql.substr(static_cast<std::size_t>(last_split->rows.data() - last_text.data()), last_split->rows.size());
      last_text = sql;
    }
    std::optional<InsertValues> split = last_split;
    if (split && split->placeholders != statement.params().size()) split.reset();
    return split;
  };
  std::vector<Statement> merged;
  merged.reserve(batch.size());
  std::vector<std::string_view> rows;
  for (std::size_t i = 0; i < batch.size();) {
    const std::optional<InsertValues> first = mergeable(batch[i]);
    rows.clear();
    if (first) {
      rows.push_back(first->rows);
      for (std::size_t k = i + 1; k < batch.size(); ++k) {
        const std::optional<InsertValues> next = mergeable(batch[k]);
        if (!next || next->head != first->head) break;
        rows.push_back(next->rows);
      }
    }
    if (rows.size() < 2) {
      merged.push_back(batch[i++]);
      continue;
    }
    // Rows go into one statement while its text stays within max_bytes and its values within the limits (the
    // renumbered placeholders may make it longer than the statements it replaces); then a new one starts.
    const std::size_t max_values = std::min(limits.max_parameters, dialect->max_bound_values);
    std::size_t first_row = 0;
    std::string sql;
    std::vector<Value> params;
    std::string row;
    const auto finish = [&](std::size_t end_row) {
      if (end_row - first_row == 1)
        merged.push_back(batch[i + first_row]);  // alone: as it was written
      else
        merged.emplace_back(std::move(sql), std::move(params));
      sql.clear();
      params.clear();
      first_row = end_row;
    };
    for (std::size_t k = 0; k < rows.size(); ++k) {
      const auto& values = batch[i + k].params();
      row.clear();
      append_renumbered(row, rows[k], dialect, params.size());
      if (k > first_row &&
          (sql.size() + 2 + row.size() > limits.max_bytes || params.size() + values.size() > max_values)) {
        finish(k);
        row.clear();
        append_renumbered(row, rows[k], dialect, 0);
      }
      if (k == first_row) {
        sql += first->head;
        sql += ' ';
      } else {
        sql += ", ";
      }
      sql += row;
      params.insert(params.end(), values.begin(), values.end());
    }
    finish(rows.size());
    i += rows.size();
  }
  return merged;
}

}  // namespace keel
