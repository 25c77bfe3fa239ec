// keel.sqlite: the embedded SQLite engine.
export module keel.sqlite;
export import keel.engine;
export import :engine;
export import :options;
