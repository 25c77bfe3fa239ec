// keel.engine: the pluggable engine interface that queries run on.
export module keel.engine;
export import :atomic;
export import :batch;
export import :connection;
export import :context;
export import :dialect;
export import :engine;
export import :error;
export import :query_log;
export import :raw_query;
export import :row;
export import :statement;
export import :sync;
export import :transaction;
export import :value;
