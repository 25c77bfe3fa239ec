// The raw-query escape hatch: SQL with dialect-neutral {} placeholders, each bound to a value.
//   keel::raw("select * from band where popularity > {} and name <> {}", 1000, "Pythonistas")
// The text must have as many {} as there are values: with a literal text that is checked at compile time.
module;
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>
export module keel.engine:raw_query;
import keel.core;
import :runnable;

// Called only when a check fails, so that the compiler names the failure in its error message.
void keel_raw_sql_has_a_different_number_of_placeholders_than_arguments() {}
void keel_raw_sql_has_a_lone_brace_escape_it_as_double_braces() {}

export namespace keel {

/// A literal SQL text whose {} placeholders match the number of arguments, checked at compile time.
template <class... Args>
struct RawSql {
  /// From a literal text; a placeholder count other than the arguments' fails to compile.
  template <class Text>
    requires std::is_convertible_v<const Text&, std::string_view>
  consteval RawSql(const Text& text) : text(text) {
    const int count = count_placeholders(this->text);
    if (count < 0) keel_raw_sql_has_a_lone_brace_escape_it_as_double_braces();
    if (count != static_cast<int>(sizeof...(Args)))
      keel_raw_sql_has_a_different_number_of_placeholders_than_arguments();
  }
  std::string_view text;  ///< the text, with its {} placeholders
};

/// A raw query: SQL text with dialect-neutral {} placeholders and the values bound to them, giving Rows.
class RawQuery : public Runnable<RawQuery> {
public:
  /// Rows, with what the statement did.
  using result_type = Rows;

  /// A text built at run time: the placeholder count is checked here, and a mismatch throws MisuseError.
  RawQuery(std::string text, std::vector<Value> params) : text_(std::move(text)), params_(std::move(params)) {
    const int count = count_placeholders(text_);
    if (count < 0) throw MisuseError("raw SQL has a lone brace; write {{ or }} for a literal brace: " + text_);
    if (static_cast<std::size_t>(count) != params_.size())
      throw MisuseError("raw SQL has " + std::to_string(count) + " {} placeholders but " +
                        std::to_string(params_.size()) + " values were given: " + text_);
  }

  /// The statement in `dialect`: each {} becomes the dialect's next placeholder.
  Statement statement(Dialect dialect) const { return Statement(render_placeholders(text_, dialect), params_); }
  /// Collects the rows into Rows.
  RowsCollector collector() const { return {}; }
  /// The text with its {} placeholders.
  const std::string& text() const noexcept { return text_; }

private:
  RawQuery(std::string text, std::vector<Value> params, std::nullptr_t)
      : text_(std::move(text)), params_(std::move(params)) {}
  template <class... Args>
  friend RawQuery raw(RawSql<std::type_identity_t<Args>...> sql, Args&&... args);

  std::string text_;
  std::vector<Value> params_;
};

/// A raw query: `sql` with {} placeholders ({{ and }} for braces), each bound to the next argument in order.
template <class... Args>
RawQuery raw(RawSql<std::type_identity_t<Args>...> sql, Args&&... args) {
  static_assert((Bindable<Args> && ...),
                "keel::raw: every argument must be bindable as a SQL value (null, bool, integer, floating point, "
                "text, blob, or std::optional of one)");
  std::vector<Value> params;
  params.reserve(sizeof...(Args));
  (params.emplace_back(std::forward<Args>(args)), ...);
  return RawQuery(std::string(sql.text), std::move(params), nullptr);
}

}  // namespace keel
