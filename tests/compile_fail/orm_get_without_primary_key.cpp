// Must not compile: keel::get<T>(key) of a table without a primary key.
import keel;
#include "orm_tables_for_misuse.hpp"

struct Tag {
  std::string name;
};

auto misuse() { return keel::get<Tag>(1); }
