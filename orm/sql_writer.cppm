// Where a query writes itself: SQL text in one dialect, and the values bound to its placeholders. The same
// write pass runs in two modes: the first run of a query shape writes both, later runs only collect values
// (the text is cached per shape and dialect), so text and values can never disagree on order.
// Nothing here is exported: users meet it only through the queries, as the parameter of their write().
module;
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
export module keel.orm:sql_writer;
import keel.engine;

namespace keel {

/// What the SQL text of an expression or query depends on besides its C++ type and the dialect. Everything
/// else that shapes the text (operators, functions, clause options) is in the type.
struct TextShape {
  /// false: the text follows the values (one placeholder per value of in()), so it is rendered on every run.
  bool fixed = true;
  /// Run-time choices between texts, such as `= $1` or `IS NULL` for an optional that may be empty. Each is
  /// one bit of the key the text is cached by (SqlWriter::choose).
  unsigned choices = 0;

  /// The shape of two parts together: fixed when both are, their choices added up.
  friend constexpr TextShape operator+(TextShape a, TextShape b) { return {a.fixed && b.fixed, a.choices + b.choices}; }
  /// Equal field by field.
  friend constexpr bool operator==(TextShape, TextShape) = default;
};

/// The shape of several parts together.
template <class... Parts>
inline constexpr TextShape shape_of = (TextShape{} + ... + Parts::shape);

/// Where a query writes itself: SQL text in one dialect, and the values bound to its placeholders. Without
/// text it only collects the values, for a text that is cached.
class SqlWriter {
public:
  /// A writer for `dialect`; with `write_text` false, it collects the values only.
  explicit SqlWriter(Dialect dialect, bool write_text = true) : dialect_(dialect), write_text_(write_text) {
    params_.reserve(4);  // most statements bind a few values: one allocation instead of growing
  }

  /// The dialect it writes.
  Dialect dialect() const noexcept { return dialect_; }
  /// Whether it writes the text (else it collects the values only).
  bool writes_text() const noexcept { return write_text_; }

  /// Appends SQL text.
  inline void sql(std::string_view text) {
    if (write_text_) text_ += text;
  }
  /// Appends a quoted identifier.
  inline void identifier(std::string_view name) {
    if (write_text_) append_quoted_identifier(text_, name);
  }
  /// "table"."column", or "column" where the statement has one table and the dialect wants it bare.
  inline void column(std::string_view table, std::string_view column) {
    if (!write_text_) return;
    if (qualify_columns_) {
      append_quoted_identifier(text_, table);
      text_ += '.';
    }
    append_quoted_identifier(text_, column);
  }
  /// Binds `value`, appending the dialect's next placeholder.
  inline void param(Value value) {
    params_.push_back(std::move(value));
    if (write_text_) append_placeholder(text_, dialect_, params_.size());
  }

  /// A run-time choice between two texts: records it in the key the text is cached by, and returns it. The
  /// node that chooses counts it in its TextShape::choices.
  inline bool choose(bool second) noexcept {
    if (second) choice_key_ |= std::uint64_t{1} << (choice_count_ % 64);
    ++choice_count_;
    return second;
  }
  /// The choices made so far, one bit each: part of the key the text is cached by.
  std::uint64_t choice_key() const noexcept { return choice_key_; }
  /// How many choices were made.
  unsigned choice_count() const noexcept { return choice_count_; }

  /// Whether column() writes the table's name too.
  void set_qualify_columns(bool qualify) noexcept { qualify_columns_ = qualify; }
  /// Whether column() writes the table's name too.
  bool qualify_columns() const noexcept { return qualify_columns_; }

  /// The text written, moved out.
  std::string take_text() { return std::move(text_); }
  /// The values bound, moved out.
  std::vector<Value> take_params() { return std::move(params_); }

private:
  Dialect dialect_;
  bool write_text_;
  bool qualify_columns_ = true;
  std::uint64_t choice_key_ = 0;
  unsigned choice_count_ = 0;
  std::string text_;
  std::vector<Value> params_;
};

}  // namespace keel
