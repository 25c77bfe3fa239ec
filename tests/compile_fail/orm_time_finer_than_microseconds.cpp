// Must not compile: a std::chrono::system_clock::time_point (nanoseconds) as a column, which PostgreSQL's
// microseconds would not give back as it went in.
#include <chrono>
import keel;

struct Visit {
  keel::Id id;
  std::chrono::system_clock::time_point at;
};
auto misuse() { return keel::create_table<Visit>().statements(keel::Dialect::sqlite); }
