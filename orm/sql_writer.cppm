// Where a query writes itself: SQL text in one dialect, and the values bound to its placeholders. The same
// write pass runs in two modes: the first run of a query shape writes both, later runs only collect values
// (the text is cached per shape and dialect), so text and values can never disagree on order.
module;
#include <string>
#include <string_view>
#include <utility>
#include <vector>
export module keel.orm:sql_writer;
import keel.engine;

export namespace keel {

class SqlWriter {
public:
  explicit SqlWriter(Dialect dialect, bool write_text = true) : dialect_(dialect), write_text_(write_text) {}

  Dialect dialect() const noexcept { return dialect_; }
  bool writes_text() const noexcept { return write_text_; }

  void sql(std::string_view text) {
    if (write_text_) text_ += text;
  }
  void identifier(std::string_view name) {
    if (write_text_) append_quoted_identifier(text_, name);
  }
  // "table"."column", or "column" where the statement has one table and the dialect wants it bare.
  void column(std::string_view table, std::string_view column) {
    if (!write_text_) return;
    if (qualify_columns_) {
      append_quoted_identifier(text_, table);
      text_ += '.';
    }
    append_quoted_identifier(text_, column);
  }
  void param(Value value) {
    params_.push_back(std::move(value));
    if (write_text_) append_placeholder(text_, dialect_, params_.size());
  }

  void set_qualify_columns(bool qualify) noexcept { qualify_columns_ = qualify; }
  bool qualify_columns() const noexcept { return qualify_columns_; }

  std::string take_text() { return std::move(text_); }
  std::vector<Value> take_params() { return std::move(params_); }

private:
  Dialect dialect_;
  bool write_text_;
  bool qualify_columns_ = true;
  std::string text_;
  std::vector<Value> params_;
};

}  // namespace keel
