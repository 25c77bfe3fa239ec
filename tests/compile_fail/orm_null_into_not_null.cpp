// Must not compile: NULL given to a NOT NULL column.
#include <optional>
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() { return keel::update<Band>().set(keel::c<&Band::name>, std::nullopt).force(); }
