// keel.sqlite: the embedded SQLite engine. Its public API is SqliteEngine, SqliteOptions and SqliteLockMode; the
// other partitions export no declaration, so keel::sqlite_detail is never visible to an importer. The standard
// wants every interface partition exported by the primary interface; exporting one that exports nothing only
// makes its declarations reachable (the engine's members have their types).
export module keel.sqlite;
export import keel.engine;
export import :engine;
export import :options;
export import :blocking;
export import :connection;
export import :errors;
export import :memory_vfs;
export import :pool;
export import :row_reader;
export import :sql_text;
export import :statement_cache;
export import :watch;
