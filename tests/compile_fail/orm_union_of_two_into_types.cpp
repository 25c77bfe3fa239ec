// Must not compile: a union of selects decoded into two different structs, though their columns match.
#include <chrono>
#include <string>
import keel;
#include "orm_tables_for_misuse.hpp"

struct BandName {
  std::string name;
};
struct ManagerName {
  std::string name;
};

auto misuse() {
  return keel::union_all(keel::select(keel::c<&Band::name>).into<BandName>(),
                         keel::select(keel::c<&Manager::name>).into<ManagerName>());
}
