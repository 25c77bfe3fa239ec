// The table and rows that keel's ORM benchmarks share (keel-orm-pg-bench, keel-orm-sqlite-bench): table "band"
// of 10,000 rows, row n's values, the ids the selects visit, and the digest both sides add up to check that they
// read the same. Included after `import keel;`.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

struct Band {  // table "band"
  keel::Id id;
  std::string name;
  std::int64_t popularity = 0;
  std::optional<std::string> country;
};

namespace keel_bench {

inline constexpr int kRows = 10'000;

// Row n of the table (id n + 1 once inserted), and of every row the workloads insert.
inline Band new_band(int n) {
  std::optional<std::string> country;
  if (n % 4 != 0) country = "country " + std::to_string(n % 50);
  return Band{.name = "band " + std::to_string(n), .popularity = n, .country = std::move(country)};
}
// The ids the selects visit: 7919 is prime to 10,000, so the first 10,000 are all different.
inline std::int64_t pick(int i) { return std::int64_t{i} * 7919 % kRows + 1; }
// What each side adds up from the rows it read, to check that both read the same.
inline std::int64_t digest(const Band& b) {
  return *b.id + b.popularity + static_cast<std::int64_t>(b.name.size()) +
         (b.country ? 1'000 + static_cast<std::int64_t>(b.country->size()) : 0);
}

}  // namespace keel_bench
