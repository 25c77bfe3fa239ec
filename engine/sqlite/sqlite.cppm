// keel.sqlite: the embedded SQLite engine. Its public API is SqliteEngine and SqliteOptions; the other
// partitions export nothing (keel::sqlite_detail stays inside the module). The standard wants every interface
// partition exported by the primary interface, which makes them reachable, not visible.
export module keel.sqlite;
export import keel.engine;
export import :engine;
export import :options;
export import :blocking;
export import :connection;
export import :errors;
export import :pool;
export import :row_reader;
export import :sql_text;
export import :statement_cache;
export import :watch;
