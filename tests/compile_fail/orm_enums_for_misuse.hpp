// Two enums with labels for the ORM's compile-fail cases. Included after `import keel;`.
#pragma once
#include <string_view>

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
