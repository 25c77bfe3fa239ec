// keel.orm: tables as plain structs, typed expressions, and queries that render their SQL once per shape and
// dialect and decode rows straight into structs. It knows the engine interface only (keel.engine).
//
// The library is this one module unit: each concept keeps its own file (a .inc beside this one), included
// below in an order where each comes after the ones it uses. One unit, not one per concept, so that an
// importer reads the standard library and Asio once per library rather than once per concept.
module;
#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/conversion.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <compare>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>
export module keel.orm;
export import keel.reflection;
import keel.engine;

#include "misuse.inc"
#include "column.inc"
#include "json_column.inc"
#include "table.inc"
#include "sql_writer.inc"
#include "row_binding.inc"
#include "expression.inc"
#include "alias.inc"
#include "text_cache.inc"
#include "query_support.inc"
#include "runnable_query.inc"
#include "row_count_hint.inc"
#include "projection.inc"
#include "returning.inc"
#include "select.inc"
#include "subquery.inc"
#include "compound.inc"
#include "update.inc"
#include "conflict.inc"
#include "insert.inc"
#include "by_key.inc"
#include "get_or_create.inc"
#include "delete.inc"
#include "schema.inc"
