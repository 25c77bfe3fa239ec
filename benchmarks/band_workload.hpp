// The table and rows that keel's ORM benchmarks share (keel-orm-pg-bench, keel-orm-sqlite-bench): table "band"
// of 10,000 rows, row n's values, the ids the selects visit, and the digest both sides add up to check that they
// read the same, and keel's side of the workloads O1-O4: the ORM as an application writes it, the same code on
// every engine. Included after `import keel;`.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

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

// ---- keel's side; each returns the digest of what it read or wrote.

// O1: n sequential selects of one row by primary key.
inline boost::asio::awaitable<std::int64_t> orm_select_by_id(keel::Engine& db, int n) {
  std::int64_t sum = 0;
  for (int i = 0; i < n; ++i) {
    const std::int64_t id = pick(i);
    std::optional<Band> band = co_await keel::select<Band>().where(keel::c<&Band::id> == id).first().run(db);
    if (!band) throw std::runtime_error("O1: no band " + std::to_string(id));
    sum += digest(*band);
  }
  co_return sum;
}

// O2: n single-row inserts, each its own transaction, the generated id returned.
inline boost::asio::awaitable<std::int64_t> orm_insert_each(keel::Engine& db, int n) {
  std::int64_t sum = 0;
  for (int i = 0; i < n; ++i) sum += digest(co_await keel::insert(new_band(kRows + i)).run(db));
  co_return sum;
}

// O3: every row into structs, `times` times.
inline boost::asio::awaitable<std::int64_t> orm_select_all(keel::Engine& db, int times) {
  std::int64_t sum = 0;
  for (int t = 0; t < times; ++t) {
    const std::vector<Band> rows = co_await keel::select<Band>().run(db);
    for (const Band& band : rows) sum += digest(band);
  }
  co_return sum;
}

// O4: n transactions of a select by id, an update of that row and an insert; the queries name no engine.
inline boost::asio::awaitable<std::int64_t> orm_transactions(keel::Engine& db, int n) {
  using keel::c;
  std::int64_t sum = 0;
  for (int i = 0; i < n; ++i) {
    const std::int64_t id = pick(i);
    co_await db.transaction([&]() -> boost::asio::awaitable<void> {
      std::optional<Band> band = co_await keel::select<Band>().where(c<&Band::id> == id).first().run();
      if (!band) throw std::runtime_error("O4: no band " + std::to_string(id));
      co_await keel::update<Band>().set(c<&Band::popularity>, c<&Band::popularity> + 1).where(c<&Band::id> == id).run();
      const Band added = co_await keel::insert(new_band(kRows + i)).run();
      sum += digest(*band) + *added.id;
    });
  }
  co_return sum;
}

}  // namespace keel_bench
