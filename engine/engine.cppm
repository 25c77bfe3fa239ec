// keel.engine: the pluggable engine interface that queries run on, over keel.core's values, rows, errors and
// dialects, which it passes on to its importers.
//
// The library is this one module unit: each concept keeps its own file (a .inc beside this one), included
// below in an order where each comes after the ones it uses. One unit, not one per concept, so that an
// importer reads the standard library and Asio once per library rather than once per concept.
module;
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detail/thread_context.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <boost/smart_ptr/intrusive_ref_counter.hpp>
#include <boost/system/system_error.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>
export module keel.engine;
export import keel.core;

#include "statement_runner.inc"
#include "atomic.inc"
#include "connection.inc"
#include "context.inc"
#include "sync.inc"
#include "query_log.inc"
#include "transaction.inc"
#include "batch.inc"
#include "runnable.inc"
#include "raw_query.inc"
#include "engine_interface.inc"
#include "recording_engine.inc"
