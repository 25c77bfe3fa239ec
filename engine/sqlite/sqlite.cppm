// keel.sqlite: the embedded SQLite engine. Its public API is SqliteEngine, SqliteOptions and SqliteLockMode; the
// other concepts export no declaration, so keel::sqlite_detail is never visible to an importer, only reachable
// (the engine's members have its types).
//
// The library is this one module unit: each concept keeps its own file (a .inc beside this one), included
// below in an order where each comes after the ones it uses. One unit, not one per concept, so that an
// importer reads the standard library and Asio once per library rather than once per concept.
module;
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <sqlite3.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>
export module keel.sqlite;
export import keel.engine;
import keel.core;

#include "blocking.inc"
#include "errors.inc"
#include "binding.inc"
#include "options.inc"
#include "row_reader.inc"
#include "sql_text.inc"
#include "statement_cache.inc"
#include "watch.inc"
#include "connection.inc"
#include "memory_vfs.inc"
#include "pool.inc"
#include "sqlite_engine.inc"
