// COPY in both directions against the private cluster: text, csv and binary formats, records encoded for
// their columns' types, a million rows, and failures in the middle that leave the connection usable.
#include <catch2/catch.hpp>
#include <boost/asio.hpp>
#include <chrono>
#include <csignal>
#include <exception>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <unistd.h>
#include <vector>
import keel;
import keel.postgres;
#include "pg_test_support.hpp"

namespace {

keel::pg::PgConnection::CopySink into(std::string& text) {
  return [&text](std::span<const std::uint8_t> chunk) {
    text.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
  };
}

struct Reading {
  std::int64_t id;
  std::string sensor;
  double value;
  std::optional<bool> valid;
};

}  // namespace

TEST_CASE("COPY text and csv into a table and out of it, with columns and options", "[pg][copy]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  run(c->execute(
      "DROP TABLE IF EXISTS copied; CREATE TABLE copied (id int PRIMARY KEY, name text, note text DEFAULT 'none')"));
  CHECK(run(c->copy_to_table("copied", std::string_view("1\tone\t\\N\n2\ttwo\tsecond\n"))) == "COPY 2");
  CHECK(c->status_message() == "COPY 2");
  std::string out;
  CHECK(run(c->copy_from_table("copied", into(out))) == "COPY 2");
  CHECK(out == "1\tone\t\\N\n2\ttwo\tsecond\n");

  // csv with a header and a subset of columns; the others take their defaults.
  keel::pg::CopyOptions csv;
  csv.format = "csv";
  csv.header = true;
  csv.columns = {"name", "id"};
  CHECK(run(c->copy_to_table("copied", std::string_view("name,id\n\"three, quoted\",3\n"), csv)) == "COPY 1");
  CHECK(run(c->fetchval<std::string>("SELECT name || '/' || note FROM copied WHERE id = 3")) == "three, quoted/none");

  keel::pg::CopyOptions semicolons;
  semicolons.format = "csv";
  semicolons.delimiter = ';';
  semicolons.null = "NULL";
  semicolons.force_quote = {"name"};
  out.clear();
  CHECK(run(c->copy_from_query("SELECT id, name, note FROM copied ORDER BY id", into(out), semicolons)) == "COPY 3");
  CHECK(out == "1;\"one\";NULL\n2;\"two\";second\n3;\"three, quoted\";none\n");

  // Through files.
  const auto file = std::filesystem::temp_directory_path() / ("keel-copy-" + std::to_string(::getpid()) + ".csv");
  CHECK(run(c->copy_from_table("copied", file, csv)) == "COPY 3");
  run(c->execute("TRUNCATE copied"));
  CHECK(run(c->copy_to_table("copied", file, csv)) == "COPY 3");
  CHECK(run(c->fetchval<std::int64_t>("SELECT count(*) FROM copied")) == 3);
  std::filesystem::remove(file);

  // A bad option is refused before anything is sent.
  keel::pg::CopyOptions bad;
  bad.format = "xml";
  CHECK_THROWS_AS(run(c->copy_from_table("copied", into(out), bad)), keel::MisuseError);
  run(c->execute("DROP TABLE copied"));
}

TEST_CASE("copy_records_to_table encodes tuples and structs for their columns' types", "[pg][copy]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  run(
      c->execute("DROP TABLE IF EXISTS readings; CREATE TABLE readings (id bigint PRIMARY KEY, sensor varchar(20), "
                 "value real, valid boolean, doc jsonb, taken timestamptz DEFAULT '2020-01-01Z')"));
  std::vector<std::tuple<int, std::string, double, std::optional<bool>>> tuples{{1, "north", 1.5, true},
                                                                                {2, "south", -2.25, std::nullopt}};
  keel::pg::CopyOptions columns;
  columns.columns = {"id", "sensor", "value", "valid"};
  CHECK(run(c->copy_records_to_table("readings", tuples, columns)) == "COPY 2");
  std::vector<Reading> structs{{3, "east", 0.0, false}};
  CHECK(run(c->copy_records_to_table("readings", structs, columns)) == "COPY 1");
  auto rows = run(c->fetch("SELECT id, sensor, value, valid FROM readings ORDER BY id"));
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].get<std::int64_t>(0) == 1);
  CHECK(rows[0].get<std::string>(1) == "north");
  CHECK(rows[0].get<float>(2) == 1.5f);
  CHECK(rows[0].get<std::optional<bool>>(3) == true);
  CHECK_FALSE(rows[1].get<std::optional<bool>>(3));
  CHECK(rows[1].get<float>(2) == -2.25f);
  CHECK(rows[2].get<std::string>(1) == "east");

  // jsonb from text, all columns by default.
  std::vector<std::tuple<int, std::string, double, bool, std::string, std::string>> all{
      {4, "west", 4.0, true, R"({"a": [1, 2]})", "2024-05-06 07:08:09+00"}};
  CHECK_THROWS_AS(run(c->copy_records_to_table("readings", all)), keel::TypeMismatchError);  // text for timestamptz
  std::vector<std::tuple<int, std::string, double, bool, std::string, std::optional<int>>> with_null_time{
      {4, "west", 4.0, true, R"({"a": [1, 2]})", std::nullopt}};
  CHECK(run(c->copy_records_to_table("readings", with_null_time)) == "COPY 1");
  CHECK(run(c->fetchval<std::string>("SELECT doc->>'a' FROM readings WHERE id = 4")) == "[1, 2]");
  // A record of the wrong width, and an integer too large for its column, are typed errors.
  std::vector<std::tuple<int, std::string>> narrow{{5, "x"}};
  CHECK_THROWS_AS(run(c->copy_records_to_table("readings", narrow, columns)), keel::MisuseError);
  run(c->execute("CREATE TEMP TABLE small (n int2)"));
  std::vector<std::tuple<int>> too_big{{70000}};
  CHECK_THROWS_AS(run(c->copy_records_to_table("small", too_big)), keel::ValueOutOfRangeError);
  std::vector<std::tuple<std::uint16_t>> unsigned_too_big{{40000}};  // int2 by its width, and too large for it
  CHECK_THROWS_AS(run(c->copy_records_to_table("small", unsigned_too_big)), keel::ValueOutOfRangeError);
  std::vector<std::tuple<std::int16_t>> exact{{-32768}};  // the column's own type: written without measuring
  CHECK(run(c->copy_records_to_table("small", exact)) == "COPY 1");
  CHECK(run(c->fetchval<std::int16_t>("SELECT n FROM small")) == -32768);
  CHECK(run(c->fetchval<std::int64_t>("SELECT count(*) FROM readings")) == 4);
  run(c->execute("DROP TABLE readings"));
}

TEST_CASE("a million rows through binary COPY, in and out", "[pg][copy][large]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  run(c->execute("DROP TABLE IF EXISTS million; CREATE TABLE million (id int, label text)"));
  std::vector<std::tuple<int, std::string>> rows;
  rows.reserve(1'000'000);
  for (int i = 0; i < 1'000'000; ++i) rows.emplace_back(i, "label " + std::to_string(i % 1000));
  CHECK(run(c->copy_records_to_table("million", rows)) == "COPY 1000000");
  CHECK(run(c->fetchval<std::int64_t>("SELECT count(*) FROM million")) == 1'000'000);
  CHECK(run(c->fetchval<std::int64_t>("SELECT sum(id) FROM million")) == 999'999LL * 1'000'000 / 2);
  std::size_t lines = 0, bytes = 0;
  CHECK(run(c->copy_from_table("million", [&](std::span<const std::uint8_t> chunk) {
          bytes += chunk.size();
          for (auto b : chunk) lines += b == '\n';
        })) == "COPY 1000000");
  CHECK(lines == 1'000'000);
  CHECK(bytes > 10'000'000);
  run(c->execute("DROP TABLE million"));
}

TEST_CASE("a COPY that fails in the middle leaves the connection usable and the table unchanged",
          "[pg][copy][errors]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  run(c->execute("DROP TABLE IF EXISTS guarded; CREATE TABLE guarded (id int PRIMARY KEY, name text)"));
  run(c->copy_to_table("guarded", std::string_view("1\tkept\n")));

  // Bad data: the server ends the COPY.
  CHECK_THROWS_AS(run(c->copy_to_table("guarded", std::string_view("2\tfine\nnot a number\tbad\n"))),
                  keel::DataException);
  CHECK(run(c->fetchval<std::int64_t>("SELECT count(*) FROM guarded")) == 1);

  // A source that fails after sending some data: CopyFail, and the source's own exception.
  int calls = 0;
  CHECK_THROWS_WITH(run(c->copy_to_table("guarded",
                                         [&]() -> std::string_view {
                                           if (++calls == 1) return "3\tsent\n";
                                           throw std::runtime_error("the disk is gone");
                                         })),
                    "the disk is gone");
  CHECK(run(c->fetchval<std::int64_t>("SELECT count(*) FROM guarded")) == 1);

  // A sink that refuses output, a missing table, and COPY FROM STDIN through execute.
  CHECK_THROWS_WITH(
      run(c->copy_from_table("guarded", [](std::span<const std::uint8_t>) { throw std::runtime_error("full"); })),
      "full");
  CHECK_THROWS_AS(run(c->copy_to_table("no_such_table", std::string_view("1\n"))), keel::UndefinedTable);
  CHECK_THROWS_AS(run(c->execute("COPY guarded FROM STDIN")), keel::DatabaseError);
  CHECK_FALSE(c->is_closed());

  // Data sent with the statement, before the server accepts the COPY: refused at the start (the server drops
  // the data that follows, in a transaction too), or bad in the middle, the connection goes on; good data is
  // stored.
  std::string many_rows;
  for (int i = 100; i < 20100; ++i) many_rows += std::to_string(i) + "\tsent at once\n";
  CHECK_THROWS_AS(run(c->copy_in_statement("COPY no_such_table FROM STDIN", many_rows, true)), keel::UndefinedTable);
  CHECK(run(c->fetchval<std::int64_t>("SELECT count(*) FROM guarded")) == 1);
  run(c->begin());
  CHECK_THROWS_AS(run(c->copy_in_statement("COPY guarded (id, no_such_column) FROM STDIN", many_rows, true)),
                  keel::UndefinedColumn);
  run(c->rollback());
  CHECK_THROWS_AS(run(c->copy_in_statement("COPY guarded FROM STDIN", many_rows + "x\ty\n", true)),
                  keel::DataException);
  CHECK(run(c->fetchval<std::int64_t>("SELECT count(*) FROM guarded")) == 1);
  CHECK(run(c->copy_in_statement("COPY guarded FROM STDIN", many_rows, true)) == "COPY 20000");
  CHECK(run(c->fetchval<std::int64_t>("SELECT count(*) FROM guarded")) == 20001);
  run(c->execute("DELETE FROM guarded WHERE id >= 100"));
  CHECK(run(c->fetchval<std::string>("SELECT name FROM guarded WHERE id = $1", 1)) == "kept");
  CHECK(c->pending_requests() == 0);
  run(c->execute("DROP TABLE guarded"));
}

TEST_CASE("queries from other coroutines wait while a COPY streams, then run", "[pg][copy][pipeline]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  run(c->execute("DROP TABLE IF EXISTS streamed; CREATE TABLE streamed (n int)"));
  std::string data;
  for (int i = 0; i < 200'000; ++i) data += std::to_string(i) + "\n";
  std::string copy_status;
  std::vector<std::int64_t> others;
  asio::co_spawn(
      loop(),
      [&]() -> asio::awaitable<void> { copy_status = co_await c->copy_to_table("streamed", std::string_view(data)); },
      asio::detached);
  for (int i = 0; i < 5; ++i)
    asio::co_spawn(
        loop(),
        [&, i]() -> asio::awaitable<void> {
          others.push_back(co_await c->fetchval<std::int64_t>("SELECT $1::int8", i));
        },
        asio::detached);
  loop().restart();
  loop().run();
  CHECK(copy_status == "COPY 200000");
  CHECK(others.size() == 5);
  CHECK(run(c->fetchval<std::int64_t>("SELECT count(*) FROM streamed")) == 200'000);
  run(c->execute("DROP TABLE streamed"));
}

// The server ends the backend while the data streams (an administrator's pg_terminate_backend: SIGTERM): the
// caller hears the server's reason, not the socket's (it got "Broken pipe" before).
TEST_CASE("a backend terminated in the middle of a COPY reports the server's reason, AdminShutdown",
          "[pg][copy][errors]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  run(c->execute("DROP TABLE IF EXISTS terminated_copy; CREATE TABLE terminated_copy (id int, name text)"));
  const int pid = c->server_pid();
  int chunk = 0;
  std::string text;
  try {
    run(c->copy_to_table("terminated_copy", [&]() -> std::string_view {
      if (++chunk == 3) {
        REQUIRE(::kill(pid, SIGTERM) == 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the backend says why, and exits
      }
      if (chunk > 2000) return {};
      text.clear();
      for (int i = 0; i < 1000; ++i) text += std::to_string(i) + "\tsome text to fill the socket\n";
      return text;
    }));
    FAIL("the COPY went through");
  } catch (const keel::AdminShutdown& e) {
    CHECK(std::string(e.sqlstate()) == "57P01");
  }
  CHECK(c->is_closed());
  auto other = connect(dsn("keel_trust", "sslmode=disable"));
  CHECK(run(other->fetchval<std::int64_t>("SELECT count(*) FROM terminated_copy")) == 0);
  run(other->execute("DROP TABLE terminated_copy"));
}

// The caller's Asio cancellation while the data streams: the COPY ends with CopyFail between two chunks, the
// server drops what it got, and the connection goes on. Before, Asio threw at the next flush's co_await, in the
// middle of the stream: the connection was left inside the COPY.
TEST_CASE(
    "an Asio cancellation in the middle of a COPY ends it with CopyFail: CanceledError, nothing stored, the "
    "connection usable",
    "[pg][copy][errors]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  run(c->execute("DROP TABLE IF EXISTS cancelled_copy; CREATE TABLE cancelled_copy (n int)"));
  std::string chunk;
  for (int i = 0; i < 20'000; ++i) chunk += std::to_string(i) + "\n";  // about 110 KB
  asio::cancellation_signal signal;
  int calls = 0;
  const auto outcome = run_cancellable(signal, [&]() -> asio::awaitable<void> {
    co_await c->copy_to_table("cancelled_copy", [&]() -> std::string_view {
      if (++calls == 4) signal.emit(asio::cancellation_type::terminal);  // three chunks are on their way
      return calls <= 50 ? std::string_view(chunk) : std::string_view();
    });
  });
  REQUIRE(outcome);
  CHECK_THROWS_AS(std::rethrow_exception(outcome), keel::CanceledError);
  CHECK(calls == 4);  // no chunk asked for after the cancellation
  CHECK_FALSE(c->is_closed());
  CHECK(c->pending_requests() == 0);
  CHECK(run(c->fetchval<std::int64_t>("SELECT count(*) FROM cancelled_copy")) == 0);
  CHECK(run(c->copy_to_table("cancelled_copy", std::string_view("1\n2\n"))) == "COPY 2");
  run(c->execute("DROP TABLE cancelled_copy"));
}

// The cancellation while the COPY statement waits for the server to accept it: keel asks the server to cancel,
// but a server waiting for COPY data holds a cancel until a message comes. Before, the CopyFail then waited
// behind the cancel's fence, which waited for the COPY to end: the call hung until its time limit.
TEST_CASE("an Asio cancellation before the server accepts a COPY ends it at once: CanceledError, no data asked for",
          "[pg][copy][errors]") {
  keel::pg::PgConnectionOptions options;
  options.command_timeout = std::chrono::seconds(20);  // a hang fails the test instead of stalling it
  auto c = connect(dsn("keel_trust", "sslmode=disable"), options);
  run(c->execute("DROP TABLE IF EXISTS cancelled_early_copy; CREATE TABLE cancelled_early_copy (n int)"));
  // Five times: the cancel may also land before the server starts the COPY (then it stops at once either way).
  for (int attempt = 0; attempt < 5; ++attempt) {
    INFO("attempt " << attempt);
    asio::cancellation_signal signal;
    int calls = 0;
    const auto started = std::chrono::steady_clock::now();
    const auto outcome = run_cancellable(
        signal,
        [&]() -> asio::awaitable<void> {
          co_await c->copy_to_table("cancelled_early_copy",
                                    [&]() -> std::string_view { return ++calls <= 3 ? "1\n" : ""; });
        },
        [&] { signal.emit(asio::cancellation_type::terminal); });  // at the COPY's first wait
    REQUIRE(outcome);
    CHECK_THROWS_AS(std::rethrow_exception(outcome), keel::CanceledError);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
    CHECK(calls == 0);
    REQUIRE_FALSE(c->is_closed());
    CHECK(run(c->fetchval<std::int64_t>("SELECT count(*) FROM cancelled_early_copy")) == 0);
  }
  CHECK(run(c->copy_to_table("cancelled_early_copy", std::string_view("1\n"))) == "COPY 1");
  run(c->execute("DROP TABLE cancelled_early_copy"));
}
