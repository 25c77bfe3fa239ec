// The engine the suite runs on, chosen by KEEL_TEST_ENGINE: sqlite-memory, sqlite-file, postgres, and
// postgres-pgbouncer (PostgreSQL behind PgBouncer in transaction pooling). Included after `import keel;`.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <optional>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace keel_test {

inline std::string engine_kind() {
  const char* kind = std::getenv("KEEL_TEST_ENGINE");
  return kind && *kind ? kind : "sqlite-memory";
}

// A value from a fixture's env file: variable names the fixture's directory, file is in it.
inline std::string env_file_value(const char* variable, const std::string& file, const std::string& key) {
  const char* dir = std::getenv(variable);
  if (!dir)
    throw std::runtime_error("KEEL_TEST_ENGINE=" + engine_kind() + " needs " + variable +
                             " (the CTest fixture sets it)");
  std::ifstream env(std::string(dir) + "/" + file);
  for (std::string line; std::getline(env, line);)
    if (line.starts_with(key + "=")) return line.substr(key.size() + 1);
  throw std::runtime_error(std::string(dir) + "/" + file + " does not say " + key);
}

// Options that every engine has, set the same way on each.
struct EngineTuning {
  std::optional<std::chrono::milliseconds> command_timeout;
  std::optional<std::size_t> max_connections;
};

// A fresh, empty database per call; a file database is deleted with its engine.
inline std::shared_ptr<keel::Engine> make_engine(const EngineTuning& tuning = {}) {
  const std::string kind = engine_kind();
  auto sqlite_options = [&](std::string path) {
    keel::SqliteOptions options{.path = std::move(path), .command_timeout = tuning.command_timeout};
    if (tuning.max_connections) options.max_connections = *tuning.max_connections;
    return options;
  };
  if (kind == "sqlite-memory") return std::make_shared<keel::SqliteEngine>(sqlite_options(":memory:"));
  if (kind == "sqlite-file") {
    static int next = 0;
    const auto path = std::filesystem::temp_directory_path() /
                      ("keel-engine-suite-" + std::to_string(::getpid()) + "-" + std::to_string(next++) + ".sqlite");
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
    auto* engine = new keel::SqliteEngine(sqlite_options(path.string()));
    return std::shared_ptr<keel::Engine>(engine, [path](keel::Engine* e) {
      delete e;
      for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
    });
  }
  if (kind == "postgres") {
    // The private cluster of the CTest fixture (tests/postgres/cluster); each engine gets a schema of its own,
    // dropped with it.
    const std::string port = env_file_value("KEEL_PG_CLUSTER", "cluster.env", "KEEL_PG_PORT");
    static int next = 0;
    const std::string schema = "suite_" + std::to_string(::getpid()) + "_" + std::to_string(next++);
    const std::string dsn = "host=127.0.0.1 port=" + port + " user=keel_trust dbname=keel_test sslmode=disable " +
                            "options='-c search_path=" + schema + " -c client_min_messages=warning'";
    keel::PostgresOptions options{.dsn = dsn};
    if (tuning.command_timeout) options.command_timeout = *tuning.command_timeout;
    if (tuning.max_connections) options.max_connections = *tuning.max_connections;
    auto* engine = new keel::PostgresEngine(std::move(options));
    engine->run_sync(keel::RawQuery("CREATE SCHEMA " + schema, {}));
    return std::shared_ptr<keel::Engine>(engine, [schema](keel::Engine* e) {
      try {
        e->run_sync(keel::RawQuery("DROP SCHEMA " + schema + " CASCADE", {}));
      } catch (...) {}
      delete e;
    });
  }
  if (kind == "postgres-pgbouncer") {
    // PgBouncer (tests/postgres/pgbouncer) in transaction pooling: a session's settings do not follow its
    // transactions from one server connection to the next, so each engine gets a database of its own (made on
    // the cluster itself) instead of a search_path; and named statements would not either, so none are made.
    const std::string cluster_port = env_file_value("KEEL_PG_CLUSTER", "cluster.env", "KEEL_PG_PORT");
    const std::string bouncer_port = env_file_value("KEEL_PGBOUNCER", "pgbouncer.env", "KEEL_PGBOUNCER_PORT");
    static auto* const cluster = new keel::PostgresEngine(keel::PostgresOptions{
        // kept to the end
        .dsn = "host=127.0.0.1 port=" + cluster_port + " user=keel_trust dbname=keel_test sslmode=disable",
        .max_connections = 1});
    static int next = 0;
    const std::string database = "suite_" + std::to_string(::getpid()) + "_" + std::to_string(next++);
    cluster->run_sync(keel::RawQuery("CREATE DATABASE " + database + " STRATEGY = FILE_COPY", {}));
    keel::PostgresOptions options{.dsn = "host=127.0.0.1 port=" + bouncer_port + " user=keel_trust dbname=" + database +
                                         " sslmode=disable"};
    options.connection.statement_cache_size = 0;  // unnamed statements only
    if (tuning.command_timeout) options.command_timeout = *tuning.command_timeout;
    if (tuning.max_connections) options.max_connections = *tuning.max_connections;
    auto* engine = new keel::PostgresEngine(std::move(options));
    return std::shared_ptr<keel::Engine>(engine, [database](keel::Engine* e) {
      delete e;
      try {  // FORCE: PgBouncer keeps its server connections to the database open
        cluster->run_sync(keel::RawQuery("DROP DATABASE " + database + " WITH (FORCE)", {}));
      } catch (...) {}
    });
  }
  throw std::runtime_error("unknown KEEL_TEST_ENGINE: " + kind);
}

}  // namespace keel_test
