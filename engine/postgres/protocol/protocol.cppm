// keel.postgres.protocol: the PostgreSQL v3 wire protocol as pure functions over bytes, with no I/O, as
// rust-postgres's protocol crate is apart from its client. The transport and the client build on it.
export module keel.postgres.protocol;
export import keel.core;  // its values and errors (AuthenticationError, ...) with it
export import :frontend;
export import :backend;
export import :authentication;
export import :saslprep;
export import :sql_text;
