// Server-side cursors against the private cluster: fetch, fetchrow, forward, prefetching iteration, and
// scrollable cursors.
#include <catch2/catch.hpp>
#include <boost/asio.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
import keel;
import keel.postgres;
#include "pg_test_support.hpp"

TEST_CASE("a cursor reads on with fetch, fetchrow and forward, and iterates with prefetch", "[pg][cursor]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  // Outside a transaction there is no cursor (unless WITH HOLD).
  CHECK_THROWS_AS(run(c->cursor("SELECT 1")), keel::TransactionError);

  run(c->begin());
  auto cursor = run(c->cursor("SELECT n, 'row ' || n AS label FROM generate_series(1, $1::int) AS n", 1000));
  auto first = run(cursor.fetch(3));
  REQUIRE(first.size() == 3);
  CHECK(first[0].get<std::int32_t>("n") == 1);
  CHECK(first[2].get<std::string>("label") == "row 3");
  CHECK(run(cursor.fetchrow())->get<std::int32_t>(0) == 4);
  CHECK(run(cursor.forward(10)) == 10);
  CHECK(run(cursor.fetchrow())->get<std::int32_t>(0) == 15);

  // Iteration: 985 rows left, 50 per round trip.
  std::int64_t sum = 0, count = 0;
  std::size_t statements_before = c->cached_statements();
  while (auto row = run(cursor.next())) {
    sum += row->get<std::int32_t>(0);
    ++count;
  }
  CHECK(count == 985);
  CHECK(sum == 1000 * 1001 / 2 - 15 * 16 / 2);
  CHECK(c->cached_statements() <= statements_before + 1);  // one FETCH text, reused
  CHECK_FALSE(run(cursor.next()));
  CHECK(run(cursor.fetch(5)).empty());
  CHECK(run(cursor.forward(5)) == 0);
  run(cursor.close());
  CHECK_THROWS_AS(run(cursor.fetch(1)), keel::DatabaseError);  // closed: the transaction is aborted now
  run(c->rollback());

  // A small prefetch, and a cursor with no rows.
  run(c->begin());
  auto small = run(c->cursor(keel::pg::CursorOptions{.prefetch = 2}, "SELECT generate_series(1, 5)"));
  std::vector<std::int32_t> seen;
  while (auto row = run(small.next())) seen.push_back(row->get<std::int32_t>(0));
  CHECK(seen == std::vector<std::int32_t>{1, 2, 3, 4, 5});
  auto none = run(c->cursor("SELECT 1 WHERE false"));
  CHECK_FALSE(run(none.next()));
  // Scrolling needs a scrollable cursor.
  CHECK_THROWS_AS(run(small.fetch_backward(1)), keel::MisuseError);
  run(c->commit());
}

TEST_CASE("a scrollable cursor moves back and to absolute positions; WITH HOLD outlives its transaction",
          "[pg][cursor]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  run(c->begin());
  auto cursor = run(c->cursor(keel::pg::CursorOptions{.scroll = true}, "SELECT generate_series(1, 10) AS n"));
  CHECK(run(cursor.fetch(4)).size() == 4);
  auto back = run(cursor.fetch_backward(2));
  REQUIRE(back.size() == 2);
  CHECK(back[0].get<std::int32_t>(0) == 3);
  CHECK(back[1].get<std::int32_t>(0) == 2);
  CHECK(run(cursor.backward(5)) == 1);  // only one row before the current one
  CHECK(run(cursor.fetch_absolute(7))->get<std::int32_t>(0) == 7);
  CHECK(run(cursor.fetch_absolute(-1))->get<std::int32_t>(0) == 10);
  CHECK_FALSE(run(cursor.fetch_absolute(11)));
  run(c->commit());

  auto held = run(c->cursor(keel::pg::CursorOptions{.hold = true}, "SELECT generate_series(1, 3)"));
  CHECK_FALSE(c->is_in_transaction());
  CHECK(run(held.fetch(10)).size() == 3);
  run(held.close());
}
