// The engine the suite runs on, chosen by KEEL_TEST_ENGINE: sqlite-memory, sqlite-file (and, with the
// PostgreSQL engine, postgres). Included after `import keel;`.
#pragma once
#include <chrono>
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

// Options that every engine has, set the same way on each.
struct EngineTuning {
  std::optional<std::chrono::milliseconds> command_timeout;
};

// A fresh, empty database per call; a file database is deleted with its engine.
inline std::shared_ptr<keel::Engine> make_engine(const EngineTuning& tuning = {}) {
  const std::string kind = engine_kind();
  if (kind == "sqlite-memory")
    return std::make_shared<keel::SqliteEngine>(keel::SqliteOptions{.path = ":memory:", .command_timeout = tuning.command_timeout});
  if (kind == "sqlite-file") {
    static int next = 0;
    const auto path = std::filesystem::temp_directory_path() /
                      ("keel-engine-suite-" + std::to_string(::getpid()) + "-" + std::to_string(next++) + ".sqlite");
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
    auto* engine = new keel::SqliteEngine(keel::SqliteOptions{.path = path.string(), .command_timeout = tuning.command_timeout});
    return std::shared_ptr<keel::Engine>(engine, [path](keel::Engine* e) {
      delete e;
      for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
    });
  }
  if (kind == "postgres") {
    // The private cluster of the CTest fixture (tests/postgres/cluster); each engine gets a schema of its own,
    // dropped with it.
    const char* dir = std::getenv("KEEL_PG_CLUSTER");
    if (!dir) throw std::runtime_error("KEEL_TEST_ENGINE=postgres needs KEEL_PG_CLUSTER (the CTest fixture sets it)");
    std::ifstream env(std::string(dir) + "/cluster.env");
    std::string port;
    for (std::string line; std::getline(env, line);)
      if (line.starts_with("KEEL_PG_PORT=")) port = line.substr(13);
    static int next = 0;
    const std::string schema = "suite_" + std::to_string(::getpid()) + "_" + std::to_string(next++);
    const std::string dsn = "host=127.0.0.1 port=" + port + " user=keel_trust dbname=keel_test sslmode=disable " +
                            "options='-c search_path=" + schema + " -c client_min_messages=warning'";
    keel::PostgresOptions options{.dsn = dsn};
    if (tuning.command_timeout) options.command_timeout = *tuning.command_timeout;
    auto* engine = new keel::PostgresEngine(std::move(options));
    engine->run_sync(keel::RawQuery("CREATE SCHEMA " + schema, {}));
    return std::shared_ptr<keel::Engine>(engine, [schema](keel::Engine* e) {
      try {
        e->run_sync(keel::RawQuery("DROP SCHEMA " + schema + " CASCADE", {}));
      } catch (...) {
      }
      delete e;
    });
  }
  throw std::runtime_error("unknown KEEL_TEST_ENGINE: " + kind);
}

}  // namespace keel_test
