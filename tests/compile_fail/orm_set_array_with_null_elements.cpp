// Must not compile: an array whose elements may be NULL given to an array column of non-NULL elements in set().
#include <cstdint>
#include <optional>
#include <vector>
import keel;

struct Scores {
  keel::Id id;
  std::vector<std::int64_t> points;
};
auto misuse() {
  return keel::update<Scores>()
      .set(keel::c<&Scores::points>, std::vector<std::optional<std::int64_t>>{1, std::nullopt})
      .force();
}
