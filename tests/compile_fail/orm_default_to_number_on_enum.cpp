// Must not compile: keel::default_to with a number on an enum column (an enum's DEFAULT is one of its labels).
#include <string_view>  // before the import: orm_enums_for_misuse.hpp includes it
import keel;
#include "orm_enums_for_misuse.hpp"

struct Diary {
  keel::Id id;
  keel::Column<Mood, keel::default_to<0>> mood;
};
auto misuse() { return keel::create_table<Diary>().statements(keel::Dialect::sqlite); }
