// Must not compile: keel::default_now on a text column (the database's now is a time, not text).
#include <string>
import keel;

struct Note {
  keel::Id id;
  keel::Column<std::string, keel::default_now> at;
};
auto misuse() { return keel::create_table<Note>().statements(keel::Dialect::sqlite); }
