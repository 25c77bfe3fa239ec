// Must not compile: `== std::nullopt` would render `= NULL`, which matches no row; is_null() says it.
#include <optional>
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() { return keel::select<Band>().where(keel::c<&Band::country> == std::nullopt); }
