// What keel's PostgreSQL benchmarks share: rounds from the environment, wall and CPU time of a round, and a
// private cluster (tests/postgres/cluster) when no DSN is given. Included by keel-bench and keel-orm-pg-bench.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <sys/resource.h>
#include <unistd.h>

namespace keel_bench {

// Rounds per side: KEEL_BENCH_ROUNDS, else the benchmark's own default.
inline int rounds_from_environment(int fallback) {
  const char* text = std::getenv("KEEL_BENCH_ROUNDS");
  return text ? std::max(1, std::atoi(text)) : fallback;
}

// The client's own CPU time (user and system, and user alone; all threads), to tell client cost from waiting
// on the server.
inline std::pair<double, double> cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto s = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return {s(usage.ru_utime) + s(usage.ru_stime), s(usage.ru_utime)};
}

struct Timing {
  double wall = 0, cpu = 0, user = 0;
};
inline Timing timed(const std::function<void()>& work) {
  const auto start = std::chrono::steady_clock::now();
  const auto [cpu_start, user_start] = cpu_seconds();
  work();
  const auto [cpu_end, user_end] = cpu_seconds();
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), cpu_end - cpu_start,
          user_end - user_start};
}

// A private cluster for one run, started in a temporary folder and stopped at the end.
struct PrivateCluster {
  std::string dir;
  std::string dsn;
  explicit PrivateCluster(const std::string& name) {
    dir = (std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()))).string();
    if (std::system((script() + " start " + dir + " >/dev/null").c_str()) != 0) throw std::runtime_error("cannot start a cluster");
    std::ifstream env(dir + "/cluster.env");
    std::map<std::string, std::string> v;
    for (std::string line; std::getline(env, line);)
      if (auto eq = line.find('='); eq != std::string::npos) v[line.substr(0, eq)] = line.substr(eq + 1);
    dsn = "host=127.0.0.1 port=" + v.at("KEEL_PG_PORT") + " dbname=keel_test user=keel_trust sslmode=disable";
  }
  ~PrivateCluster() { [[maybe_unused]] int ignored = std::system((script() + " stop " + dir).c_str()); }
  PrivateCluster(const PrivateCluster&) = delete;
  PrivateCluster& operator=(const PrivateCluster&) = delete;

private:
  static std::string script() { return std::string(KEEL_SOURCE_DIR) + "/tests/postgres/cluster"; }
};

}  // namespace keel_bench
