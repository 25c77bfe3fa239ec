// keel.writer: the bulk writer. It takes a stream of statements (SQL text or keel queries) and sends them in
// batches that stay under a byte and a bound-parameter limit, each batch in a transaction, with retries of
// transient failures, a circuit breaker, and a collector that records every batch.
//
// The library is this one module unit: each concept keeps its own file (a .inc beside this one), included
// below in an order where each comes after the ones it uses. One unit, not one per concept, so that an
// importer reads the standard library and Asio once per library rather than once per concept.
module;
#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
export module keel.writer;
export import keel.core;  // its values, rows and errors with it
import keel.engine;

#include "adapter.inc"
#include "batching.inc"
#include "circuit_breaker.inc"
#include "collector.inc"
#include "insert_merging.inc"
#include "engine_adapter.inc"
#include "retry.inc"
#include "bulk_writer.inc"
#include "function_adapter.inc"
