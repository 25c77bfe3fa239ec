// The PostgreSQL connection's statement cache on its own, without a server: what it keeps, what it drops and
// when, and the Close messages it writes. The cache is not exported: this test is a unit of keel.postgres.
module;
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>
module keel.postgres;
import keel.postgres.protocol; // the bytes it writes

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Statement {
  std::string name;
};
using Cache = keel::pg::StatementCache<Statement>;

keel::pg::PgConnectionOptions limits(std::size_t size, std::chrono::seconds lifetime = 300s,
                                     std::size_t max_text = 15 * 1024) {
  keel::pg::PgConnectionOptions options;
  options.statement_cache_size = size;
  options.max_cached_statement_lifetime = lifetime;
  options.max_cacheable_statement_size = max_text;
  return options;
}

// The names of the statements closed by the Close messages in `out` ('C', length, 'S', name, zero).
std::vector<std::string> closed(const keel::pg::protocol::ByteBuffer& out) {
  std::vector<std::string> names;
  std::size_t at = 0;
  while (at < out.size()) {
    REQUIRE(out[at] == 'C');
    const std::uint32_t length = (std::uint32_t(out[at + 1]) << 24) | (std::uint32_t(out[at + 2]) << 16) |
                                 (std::uint32_t(out[at + 3]) << 8) | std::uint32_t(out[at + 4]);
    REQUIRE(out[at + 5] == 'S');
    names.emplace_back(reinterpret_cast<const char*>(out.data() + at + 6), length - 4 - 1 - 1);
    at += 1 + length;
  }
  return names;
}

std::vector<std::string> closes_due(Cache& cache) {
  keel::pg::protocol::ByteBuffer out;
  cache.write_closes(out);
  return closed(out);
}

const std::vector<std::uint32_t> no_types;
const std::vector<std::uint32_t> one_int{23};

}  // namespace

TEST_CASE("a statement is found by its text and parameter types", "[pg][statement_cache]") {
  Cache cache(limits(10));
  const auto now = Clock::now();
  CHECK(cache.find("SELECT $1", one_int, now) == nullptr);
  const auto kept = cache.add(std::string(cache.key("SELECT $1", one_int)), Statement{"s1"}, now);
  CHECK(cache.find("SELECT $1", one_int, now) == kept);
  CHECK(cache.find("SELECT $1", one_int, now) == kept);      // the last hit, recognised in place
  CHECK(cache.find("SELECT $1", no_types, now) == nullptr);  // other types: another statement
  CHECK(cache.find("SELECT $2", one_int, now) == nullptr);
  // A text that is a prefix of the key, or the key's text with the types' bytes appended, is not it.
  CHECK(cache.find(std::string_view("SELECT $1\0\x17\0\0\0", 14), no_types, now) == nullptr);
  CHECK(cache.size() == 1);
  CHECK(closes_due(cache).empty());
}

TEST_CASE("past its size the least recently used statement is dropped and closed", "[pg][statement_cache]") {
  Cache cache(limits(2));
  const auto now = Clock::now();
  cache.add(std::string(cache.key("a", no_types)), Statement{"s_a"}, now);
  cache.add(std::string(cache.key("b", no_types)), Statement{"s_b"}, now);
  REQUIRE(cache.find("a", no_types, now) != nullptr);  // a is now the most recently used
  cache.add(std::string(cache.key("c", no_types)), Statement{"s_c"}, now);
  CHECK(cache.size() == 2);
  CHECK(cache.find("b", no_types, now) == nullptr);
  CHECK(cache.find("a", no_types, now) != nullptr);
  CHECK(cache.find("c", no_types, now) != nullptr);
  CHECK(closes_due(cache) == std::vector<std::string>{"s_b"});
  CHECK(closes_due(cache).empty());  // written once
}

TEST_CASE("a statement older than its lifetime is prepared again", "[pg][statement_cache]") {
  Cache cache(limits(10, 300s));
  const auto then = Clock::now();
  cache.add(std::string(cache.key("SELECT 1", no_types)), Statement{"old"}, then);
  CHECK(cache.find("SELECT 1", no_types, then + 299s) != nullptr);
  CHECK(cache.find("SELECT 1", no_types, then + 301s) == nullptr);
  CHECK(cache.size() == 0);
  CHECK(closes_due(cache) == std::vector<std::string>{"old"});

  Cache forever(limits(10, 0s));  // zero: no limit
  forever.add(std::string(forever.key("SELECT 1", no_types)), Statement{"kept"}, then);
  CHECK(forever.find("SELECT 1", no_types, then + 1000h) != nullptr);
}

TEST_CASE("a dropped statement still in use is closed once it is let go", "[pg][statement_cache]") {
  Cache cache(limits(1));
  const auto now = Clock::now();
  auto in_use = cache.add(std::string(cache.key("a", no_types)), Statement{"s_a"}, now);
  cache.add(std::string(cache.key("b", no_types)), Statement{"s_b"}, now);  // drops a, which a portal still holds
  CHECK(cache.find("a", no_types, now) == nullptr);
  CHECK(closes_due(cache).empty());
  in_use.reset();
  CHECK(closes_due(cache) == std::vector<std::string>{"s_a"});
}

TEST_CASE("forget drops one statement; the last hit is not found after it", "[pg][statement_cache]") {
  Cache cache(limits(10));
  const auto now = Clock::now();
  cache.add(std::string(cache.key("a", one_int)), Statement{"s_a"}, now);
  REQUIRE(cache.find("a", one_int, now) != nullptr);
  cache.forget(cache.key("a", one_int));
  CHECK(cache.find("a", one_int, now) == nullptr);
  CHECK(cache.size() == 0);
  CHECK(closes_due(cache) == std::vector<std::string>{"s_a"});
  cache.forget(cache.key("never kept", no_types));  // nothing to do
  CHECK(closes_due(cache).empty());
}

TEST_CASE("which texts are kept at all", "[pg][statement_cache]") {
  CHECK_FALSE(Cache(limits(0)).caches("SELECT 1"));  // no cache: every text unnamed
  Cache small_texts(limits(10, 300s, 8));
  CHECK(small_texts.caches("SELECT 1"));
  CHECK_FALSE(small_texts.caches("SELECT 1 + 1"));
  CHECK(small_texts.find("SELECT 1 + 1", no_types, Clock::now()) == nullptr);
  CHECK(Cache(limits(10, 300s, 0)).caches(std::string(100'000, 'x')));  // zero: no limit
}
