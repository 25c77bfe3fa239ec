// Must not compile: in() of text values on a number column.
import keel;
#include "orm_tables_for_misuse.hpp"
#include <vector>

auto misuse() {
  using keel::c;
  return keel::select<Band>().where(c<&Band::popularity>.in(std::vector<std::string>{"many"}));
}
