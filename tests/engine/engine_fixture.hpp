// The engine the suite runs on, chosen by KEEL_TEST_ENGINE: sqlite-memory, sqlite-file (and, with the
// PostgreSQL engine, postgres). Included after `import keel;`.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace keel_test {

inline std::string engine_kind() {
  const char* kind = std::getenv("KEEL_TEST_ENGINE");
  return kind && *kind ? kind : "sqlite-memory";
}

// A fresh, empty database per call; a file database is deleted with its engine.
inline std::shared_ptr<keel::Engine> make_engine() {
  const std::string kind = engine_kind();
  if (kind == "sqlite-memory") return std::make_shared<keel::SqliteEngine>(":memory:");
  if (kind == "sqlite-file") {
    static int next = 0;
    const auto path = std::filesystem::temp_directory_path() /
                      ("keel-engine-suite-" + std::to_string(::getpid()) + "-" + std::to_string(next++) + ".sqlite");
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
    auto* engine = new keel::SqliteEngine(path.string());
    return std::shared_ptr<keel::Engine>(engine, [path](keel::Engine* e) {
      delete e;
      for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
    });
  }
  throw std::runtime_error("unknown KEEL_TEST_ENGINE: " + kind);
}

}  // namespace keel_test
