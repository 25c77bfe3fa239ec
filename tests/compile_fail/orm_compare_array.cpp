// Must not compile: an array column compared with an operator (its meaning differs between engines).
#include <string>
#include <vector>
import keel;

struct Tagged {
  keel::Id id;
  std::vector<std::string> tags;
};
auto misuse() { return keel::select<Tagged>().where(keel::c<&Tagged::tags> == std::vector<std::string>{"a"}); }
