// Must not compile: an array of one enum given to an array column of another in set().
#include <string_view>  // before the import: orm_enums_for_misuse.hpp includes it
#include <vector>
import keel;
#include "orm_enums_for_misuse.hpp"

struct Diary {
  keel::Id id;
  std::vector<Mood> moods;
};
auto misuse() { return keel::update<Diary>().set(keel::c<&Diary::moods>, std::vector<Weather>{Weather::sun}).force(); }
