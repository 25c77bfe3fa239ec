// Must not compile: keel::default_to with an enumerator of another enum than the column's (its label would be
// no label of the column's SQL type).
#include <string_view>
import keel;

enum class Mood { sad, happy };
enum class Weather { sun, rain };
template <>
struct keel::SqlEnum<Mood> {
  static constexpr std::string_view name = "mood";
  static constexpr keel::EnumLabel<Mood> labels[] = {{Mood::sad, "sad"}, {Mood::happy, "happy"}};
};
template <>
struct keel::SqlEnum<Weather> {
  static constexpr std::string_view name = "weather";
  static constexpr keel::EnumLabel<Weather> labels[] = {{Weather::sun, "sun"}, {Weather::rain, "rain"}};
};
struct Diary {
  keel::Id id;
  keel::Column<Mood, keel::default_to<Weather::rain>> mood;
};
auto misuse() { return keel::create_table<Diary>().statements(keel::Dialect::sqlite); }
