// What keel's PostgreSQL benchmarks share: rounds from the environment, wall and CPU time of a round, the
// event loop keel's side runs on, and a private cluster (tests/postgres/cluster) when no DSN is given.
// Included by keel-bench and keel-orm-pg-bench.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>
#include <sys/resource.h>
#include <unistd.h>
#include "../tests/support/run_on_loop.hpp"

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

// KEEL_BENCH_SIDE=keel runs keel's side alone, for a profiler or strace to see it without the other; any other
// value (libpq, sqlite3) runs the C side alone.
inline const std::string& only_side() {
  static const std::string side = std::getenv("KEEL_BENCH_SIDE") ? std::getenv("KEEL_BENCH_SIDE") : "";
  return side;
}
inline bool runs(const char* side) { return only_side().empty() || only_side() == side; }

struct Result {
  double keel_rate = 0, libpq_rate = 0;
  Timing keel, libpq;  // the median rounds
  double operations = 1;
  double per_op_us(double seconds) const { return seconds / operations * 1e6; }
};

// `rounds` per side, alternating, for `operations` operations each, `between` (untimed) before each round; each
// side's median round. On a shared machine a round now and then is slowed by something else: the median
// ignores it, in either direction.
inline Result measure(int rounds, double operations, const std::function<void()>& keel_side,
                      const std::function<void()>& libpq_side, const std::function<void()>& between = {}) {
  std::vector<Timing> keel_rounds, libpq_rounds;
  for (int round = 0; round < rounds; ++round) {
    if (runs("keel")) {
      if (between) between();
      keel_rounds.push_back(timed(keel_side));
    }
    if (only_side() != "keel") {
      if (between) between();
      libpq_rounds.push_back(timed(libpq_side));
    }
  }
  auto median = [](std::vector<Timing> all) {
    if (all.empty()) return Timing{1e300, 0, 0};
    std::sort(all.begin(), all.end(), [](const Timing& a, const Timing& b) { return a.wall < b.wall; });
    return all[all.size() / 2];
  };
  Result r;
  r.keel = median(keel_rounds);
  r.libpq = median(libpq_rounds);
  r.operations = operations;
  r.keel_rate = operations / r.keel.wall;
  r.libpq_rate = operations / r.libpq.wall;
  return r;
}

// One line per workload, `first` naming keel's side and `other` libpq's; the client's CPU per operation follows, in
// microseconds.
inline void report(const char* name, const Result& r, const char* other = "libpq", const char* first = "keel") {
  if (!only_side().empty()) {
    const bool keel = only_side() == "keel";
    const Timing& t = keel ? r.keel : r.libpq;
    std::printf("%s %s %.0f/s (client CPU per op: %.2f us, user %.2f us)\n", name, keel ? first : other,
                keel ? r.keel_rate : r.libpq_rate, r.per_op_us(t.cpu), r.per_op_us(t.user));
  } else {
    std::printf(
        "%s %s %.0f/s %s %.0f/s ratio %.2f (client CPU per op: %s %.2f us, %s %.2f us; user: %s %.2f us, "
        "%s %.2f us)\n",
        name, first, r.keel_rate, other, r.libpq_rate, r.keel_rate / r.libpq_rate, first, r.per_op_us(r.keel.cpu),
        other, r.per_op_us(r.libpq.cpu), first, r.per_op_us(r.keel.user), other, r.per_op_us(r.libpq.user));
  }
  std::fflush(stdout);
}

// keel's side: one event loop, owned here and run on the main thread; `run` runs a coroutine on it to the end.
inline boost::asio::io_context& loop() {
  static boost::asio::io_context context;
  return context;
}
template <class T>
T run(boost::asio::awaitable<T> work) {
  return keel_support::run_on(loop(), std::move(work));
}

// Both sides ran the same rounds on the same rows: their digests must agree (unless one side ran alone).
inline void verify(const char* name, std::int64_t keel_sum, std::int64_t other_sum) {
  if (only_side().empty() && keel_sum != other_sum)
    throw std::runtime_error(std::string(name) + ": the two sides read different data (" + std::to_string(keel_sum) +
                             " against " + std::to_string(other_sum) + ")");
}

// A private cluster for one run, started in a temporary folder and stopped at the end.
struct PrivateCluster {
  std::string dir;
  std::string dsn;
  explicit PrivateCluster(const std::string& name) {
    dir = (std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()))).string();
    if (std::system((script() + " start " + dir + " >/dev/null").c_str()) != 0)
      throw std::runtime_error("cannot start a cluster");
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

// The DSN of a PostgreSQL benchmark's run: argv[1], or (with none, or "-") a private cluster started into
// `cluster`, which stops it when it goes.
inline std::string dsn_or_private_cluster(int argc, char** argv, const std::string& name,
                                          std::unique_ptr<PrivateCluster>& cluster) {
  if (argc > 1 && std::string(argv[1]) != "-") return argv[1];
  cluster = std::make_unique<PrivateCluster>(name);
  return cluster->dsn;
}

}  // namespace keel_bench
