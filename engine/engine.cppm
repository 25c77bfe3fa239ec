// keel.engine: the pluggable engine interface that queries run on, over keel.core's values, rows, errors and
// dialects, which it passes on to its importers.
export module keel.engine;
export import keel.core;
export import :atomic;
export import :batch;
export import :connection;
export import :context;
export import :engine;
export import :query_log;
export import :raw_query;
export import :recording_engine;
export import :runnable;
export import :statement_runner;
export import :sync;
export import :transaction;
