// Must not compile: keel::SqlEnum gives two enumerators the same label, so a read could not tell them apart.
#include <string_view>
import keel;

enum class Mood { sad, glum, happy };
template <>
struct keel::SqlEnum<Mood> {
  static constexpr std::string_view name = "mood";
  static constexpr keel::EnumLabel<Mood> labels[] = {{Mood::sad, "sad"}, {Mood::glum, "sad"}, {Mood::happy, "happy"}};
};

keel::Value misuse() { return keel::Value(Mood::happy); }
