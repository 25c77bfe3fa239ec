// import keel; gives the whole public API.
export module keel;
export import keel.engine;
export import keel.orm;
export import keel.writer;
export import keel.sqlite;
export import keel.postgres;
