// Must not compile: an array of keel::Json as a column (SQLite would keep it as one JSON document and respell
// each element's text).
#include <vector>
import keel;

struct Notebook {
  keel::Id id;
  std::vector<keel::Json> pages;
};
auto misuse() { return keel::create_table<Notebook>().statements(keel::Dialect::sqlite); }
