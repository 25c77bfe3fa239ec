// keel.postgres: the PostgreSQL client, built on keel.postgres.protocol. So far: connection options (DSN,
// environment, password file). The transport, the connection and the engine build on them.
export module keel.postgres;
export import keel.core;  // its values and errors (DsnError, TlsError, ...) with it
export import :connect_options;
export import :transport;
export import :value_codec;
export import :pipeline;
export import :connection;
export import :portal;
export import :pool;
export import :codecs;
export import :record;
export import :text_format;
export import :copy_text;
export import :copy_targets;
export import :engine;
