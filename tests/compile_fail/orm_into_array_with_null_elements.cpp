// Must not compile: an array column whose elements may be NULL read into a std::vector of plain elements.
#include <cstdint>
#include <optional>
#include <vector>
import keel;

struct Readings {
  keel::Id id;
  std::vector<std::optional<std::int64_t>> counts;
};
struct Counts {
  std::vector<std::int64_t> counts;
};
auto misuse() { return keel::select(keel::c<&Readings::counts>).into<Counts>(); }
