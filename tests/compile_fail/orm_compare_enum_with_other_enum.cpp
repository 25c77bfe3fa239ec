// Must not compile: an enum column compared with a value of another enum. Both are labels, but each enum is an
// SQL type of its own (PostgreSQL has no = between two enum types).
#include <string_view>  // before the import: orm_enums_for_misuse.hpp includes it
import keel;
#include "orm_enums_for_misuse.hpp"

struct Diary {
  keel::Id id;
  Mood mood = Mood::sad;
};

auto misuse() { return keel::select<Diary>().where(keel::c<&Diary::mood> == Weather::rain); }
