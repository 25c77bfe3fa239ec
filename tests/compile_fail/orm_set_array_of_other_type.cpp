// Must not compile: an array of text given to an array of integers in set().
#include <cstdint>
#include <string>
#include <vector>
import keel;

struct Scores {
  keel::Id id;
  std::vector<std::int64_t> points;
};
auto misuse() { return keel::update<Scores>().set(keel::c<&Scores::points>, std::vector<std::string>{"x"}).force(); }
