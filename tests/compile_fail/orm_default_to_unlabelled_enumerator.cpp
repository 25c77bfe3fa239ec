// Must not compile: keel::default_to with an enumerator that keel::SqlEnum gives no label (the DEFAULT would have
// no text to write).
#include <string_view>
import keel;

enum class Level { low, high, secret };
template <>
struct keel::SqlEnum<Level> {
  static constexpr std::string_view name = "level";
  static constexpr keel::EnumLabel<Level> labels[] = {{Level::low, "low"}, {Level::high, "high"}};
};
struct Alarm {
  keel::Id id;
  keel::Column<Level, keel::default_to<Level::secret>> level;
};
auto misuse() { return keel::create_table<Alarm>().statements(keel::Dialect::sqlite); }
