// keel.orm: tables as plain structs, typed expressions, and queries that render their SQL once per shape and
// dialect and decode rows straight into structs. It knows the engine interface only (keel.engine).
export module keel.orm;
export import keel.reflection;
export import :column;
export import :json_column;
export import :table;
export import :alias;
export import :sql_writer;
export import :text_cache;
export import :expression;
export import :query_support;
export import :projection;
export import :returning;
export import :select;
export import :subquery;
export import :compound;
export import :insert;
export import :update;
export import :conflict;
export import :by_key;
export import :get_or_create;
export import :delete_query;
export import :schema;
