// C++ enums stored as their labels: a PostgreSQL enum type, or text on an engine without one. The program names
// each enumerator's label once, in a keel::SqlEnum<E> specialization; binding and reading go through it.
//   enum class Mood { sad, ok, happy };
//   template <> struct keel::SqlEnum<Mood> {
//     static constexpr std::string_view name = "mood";
//     static constexpr keel::EnumLabel<Mood> labels[] = {{Mood::sad, "sad"}, {Mood::ok, "ok"}, {Mood::happy, "happy"}};
//   };
module;
#include <concepts>
#include <cstddef>
#include <iterator>
#include <string>
#include <string_view>
#include <type_traits>
export module keel.core:value_enum;
import :dialect;
import :error;
import :value;

export namespace keel {

/// One enumerator of a C++ enum and the label it is stored as.
template <class E>
struct EnumLabel {
  E value;                 ///< the enumerator
  std::string_view label;  ///< its label in the database
};

/// Specialize for a C++ enum E to store it as its labels: `name`, the SQL enum type's name (a plain identifier,
/// which keel quotes), and `labels`, an array of keel::EnumLabel<E> in the type's order (PostgreSQL sorts an
/// enum by it). Then E binds as its label, reads back from it, and is an ORM column type.
template <class E>
struct SqlEnum;

/// Whether E is a C++ enum with a keel::SqlEnum specialization.
template <class E>
concept LabelledEnum = std::is_enum_v<E> && requires {
  { SqlEnum<E>::name } -> std::convertible_to<std::string_view>;
  { SqlEnum<E>::labels[0] } -> std::convertible_to<const EnumLabel<E>&>;
  std::size(SqlEnum<E>::labels);
};

/// Whether SqlEnum<E>'s labels are all different, as its enumerators are, and each is 1 to 63 bytes long
/// (PostgreSQL's limit on a label).
template <LabelledEnum E>
consteval bool enum_labels_are_distinct() {
  const auto& labels = SqlEnum<E>::labels;
  for (std::size_t i = 0; i < std::size(labels); ++i) {
    if (labels[i].label.empty() || labels[i].label.size() > 63) return false;
    for (std::size_t j = 0; j < i; ++j)
      if (labels[i].label == labels[j].label || labels[i].value == labels[j].value) return false;
  }
  return true;
}

/// Checks SqlEnum<E> where it is used, each misuse with its own message.
template <LabelledEnum E>
consteval bool check_sql_enum() {
  static_assert(is_plain_identifier(SqlEnum<E>::name),
                "keel::SqlEnum<E>::name must be a plain identifier: 1 to 63 letters, digits and underscores");
  static_assert(enum_labels_are_distinct<E>(),
                "keel::SqlEnum<E>::labels must give each enumerator once, each a different label of 1 to 63 bytes");
  return true;
}

/// The label of `value`; ValueOutOfRangeError for a value that SqlEnum<E> does not name (a cast integer).
template <LabelledEnum E>
std::string_view enum_label(E value) {
  static_assert(check_sql_enum<E>());
  for (const EnumLabel<E>& entry : SqlEnum<E>::labels)
    if (entry.value == value) return entry.label;
  throw ValueOutOfRangeError("the value " + std::to_string(static_cast<std::underlying_type_t<E>>(value)) +
                             " of enum '" + std::string(SqlEnum<E>::name) + "' has no label in keel::SqlEnum");
}

/// E binds as its label.
template <LabelledEnum E>
struct ToValue<E> {
  static Value encode(E value) { return Value(enum_label(value)); }
};

/// E reads from its label; a label that SqlEnum<E> does not name (one added to the database's type since) is
/// ValueOutOfRangeError.
template <LabelledEnum E>
struct FromCell<E> {
  static E decode(const Cell& cell, const CellOrigin& origin) {
    static_assert(check_sql_enum<E>());
    if (cell.kind != ValueKind::text) throw_mismatch(cell, origin, "the enum '" + std::string(SqlEnum<E>::name) + "'");
    for (const EnumLabel<E>& entry : SqlEnum<E>::labels)
      if (entry.label == cell.text) return entry.value;
    throw ValueOutOfRangeError(origin.describe() + " holds '" + std::string(cell.text) +
                               "', which is not a label of enum '" + std::string(SqlEnum<E>::name) +
                               "' in keel::SqlEnum");
  }
};

}  // namespace keel
