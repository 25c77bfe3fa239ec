// Must not compile: a column of a left-joined table can be NULL, but the struct's member is a plain std::string.
// The join comes after into(), so the check must hold for the query as it runs.
import keel;
#include "orm_tables_for_misuse.hpp"

struct BandAndManager {
  std::string band;
  std::string manager;
};

auto misuse() {
  using keel::c;
  return keel::select(c<&Band::name>, c<&Manager::name>)
      .into<BandAndManager>()  // no join yet: nothing can be NULL here
      .left_join<&Band::manager>()
      .statement(keel::Dialect::sqlite);
}
