// Must not compile: save() takes a row, not the std::optional that get() gives.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  std::optional<Band> band;
  return keel::save(band);
}
