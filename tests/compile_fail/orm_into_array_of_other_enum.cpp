// Must not compile: into<T>() of an array column of one enum into a vector of another.
#include <string_view>  // before the import: orm_enums_for_misuse.hpp includes it
#include <vector>
import keel;
#include "orm_enums_for_misuse.hpp"

struct Diary {
  keel::Id id;
  std::vector<Mood> moods;
};
struct Forecast {
  std::vector<Weather> days;
};
auto misuse() { return keel::select(keel::c<&Diary::moods>).into<Forecast>(); }
