// keel.postgres: the PostgreSQL client on keel.postgres.protocol (connection options, transport, PgConnection,
// its pool, codecs, COPY) and PostgresEngine on top. The pipeline, the replies, parameter encoding and row
// collectors are declared without export: reachable through the classes that use them, never named by a user.
export module keel.postgres;
export import keel.core;  // its values and errors (DsnError, TlsError, ...) with it
export import :connect_options;
export import :transport;
export import :value_codec;
export import :pipeline;
export import :replies;
export import :call_options;
export import :row_collectors;
export import :statement_cache;
export import :parameter_encoding;
export import :connection;
export import :copy_records;
export import :calls;
export import :prepared_statement;
export import :cursor;
export import :portal;
export import :pool;
export import :codecs;
export import :record;
export import :text_format;
export import :copy_text;
export import :copy_targets;
export import :engine;
