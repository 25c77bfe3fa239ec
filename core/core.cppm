// keel.core: what every layer shares and nothing in it runs: values and their text and JSON forms, rows and
// the sinks they are read into, errors, dialect descriptions, statements. No Asio, no I/O: the PostgreSQL
// protocol, its codecs and the transport import only this.
//
// The library is this one module unit: each concept keeps its own file (a .inc beside this one), included
// below in an order where each comes after the ones it uses. One unit, not one per concept, so that an
// importer reads the standard library and Asio once per library rather than once per concept.
module;
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/uuid/uuid.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>
export module keel.core;

#include "error.inc"
#include "dialect.inc"
#include "value_types.inc"
#include "value_text.inc"
#include "value.inc"
#include "row.inc"
#include "statement.inc"
#include "run_values.inc"
#include "value_decoders.inc"
#include "value_enum.inc"
#include "array_literal.inc"
#include "value_json.inc"
#include "version.inc"
