// Must not compile: an array of optional JSON documents as a column (on SQLite a NULL element and the document
// null would both be JSON null).
#include <boost/json/value.hpp>
#include <optional>
#include <vector>
import keel;

struct Notebook {
  keel::Id id;
  std::vector<std::optional<boost::json::value>> pages;
};
auto misuse() { return keel::create_table<Notebook>().statements(keel::Dialect::sqlite); }
