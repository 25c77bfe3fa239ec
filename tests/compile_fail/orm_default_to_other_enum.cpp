// Must not compile: keel::default_to with an enumerator of another enum than the column's (its label would be
// no label of the column's SQL type).
#include <string_view>  // before the import: orm_enums_for_misuse.hpp includes it
import keel;
#include "orm_enums_for_misuse.hpp"

struct Diary {
  keel::Id id;
  keel::Column<Mood, keel::default_to<Weather::rain>> mood;
};
auto misuse() { return keel::create_table<Diary>().statements(keel::Dialect::sqlite); }
