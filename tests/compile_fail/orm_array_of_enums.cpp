// Must not compile, yet: an array of an enum as a column (PostgreSQL would take its labels as text[]).
#include <string_view>  // before the import: orm_enums_for_misuse.hpp includes it
#include <vector>
import keel;
#include "orm_enums_for_misuse.hpp"

struct Diary {
  keel::Id id;
  std::vector<Mood> moods;
};
auto misuse() { return keel::create_table<Diary>().statements(keel::Dialect::sqlite); }
