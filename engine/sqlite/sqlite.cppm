// keel.sqlite: the embedded SQLite engine.
export module keel.sqlite;
export import keel.engine;
export import :engine;
export import :options;
export import :errors;  // keel::sqlite_detail: the code mapping, exported for its unit tests
