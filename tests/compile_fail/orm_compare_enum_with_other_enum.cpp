// Must not compile: an enum column compared with a value of another enum. Both are labels, but each enum is an
// SQL type of its own (PostgreSQL has no = between two enum types).
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
  Mood mood = Mood::sad;
};

auto misuse() { return keel::select<Diary>().where(keel::c<&Diary::mood> == Weather::rain); }
