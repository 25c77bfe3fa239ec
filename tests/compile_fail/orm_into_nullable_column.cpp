// Must not compile: a column of a left-joined table can be NULL, but the struct's member is a plain std::string.
import keel;
#include "orm_tables_for_misuse.hpp"

struct BandAndManager {
  std::string band;
  std::string manager;
};

auto misuse() {
  using keel::c;
  return keel::select(c<&Band::name>, c<&Manager::name>).left_join<&Band::manager>().into<BandAndManager>();
}
