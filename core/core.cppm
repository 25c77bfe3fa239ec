// keel.core: what every layer shares and nothing in it runs: values and their text and JSON forms, rows and
// the sinks they are read into, errors, dialect descriptions, statements. No Asio, no I/O: the PostgreSQL
// protocol, its codecs and the transport import only this.
export module keel.core;
export import :dialect;
export import :error;
export import :row;
export import :statement;
export import :value;
export import :value_decoders;
export import :value_enum;
export import :value_json;
export import :value_text;
export import :value_types;
export import :version;
