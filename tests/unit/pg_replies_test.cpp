// The connection's replies on canned frames, with no socket and no server: each is fed the messages a server
// sends, as the pipeline would (every frame but ReadyForQuery to on_message, then done), and is checked for
// what it keeps, when its caller may go on, and how it ends: rows, statuses, the server's errors, a sink or a
// handler that throws, a message that does not belong. The replies are not exported: this test is a unit of
// keel.postgres.
module;
#include <catch2/catch.hpp>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include "pg_frames.hpp"
module keel.postgres;
import keel.postgres.protocol;

namespace {

namespace proto = keel::pg::protocol;
using keel::pg::BoundReply;
using keel::pg::CopyInReply;
using keel::pg::DescribedStatement;
using keel::pg::DescribeReply;
using keel::pg::SimpleReply;
using namespace pg_frames;

constexpr std::uint32_t int4_oid = 23, text_oid = 25;

// One backend message; the frames' bodies view into `kept`, which outlives each test's reply.
struct Frames {
  std::vector<std::unique_ptr<Bytes>> kept;
  proto::Frame frame(char type, Bytes body) {
    kept.push_back(std::make_unique<Bytes>(std::move(body)));
    return proto::Frame{type, proto::Bytes(*kept.back()), kept.back()->size() + 5};
  }
  proto::Frame command_complete(std::string_view tag) {
    Bytes body;
    add_cstring(body, tag);
    return frame('C', body);
  }
  // RowDescription: one field per (name, type), binary format.
  proto::Frame row_description(const std::vector<std::pair<std::string, std::uint32_t>>& fields) {
    Bytes body;
    add_i16(body, static_cast<std::int16_t>(fields.size()));
    for (const auto& [name, type] : fields) {
      add_cstring(body, name);
      add_i32(body, 0);
      add_i16(body, 0);
      add_i32(body, static_cast<std::int32_t>(type));
      add_i16(body, -1);
      add_i32(body, -1);
      add_i16(body, 1);
    }
    return frame('T', body);
  }
  // DataRow of binary cells; nullopt is NULL.
  proto::Frame data_row(const std::vector<std::optional<Bytes>>& cells) {
    Bytes body;
    add_i16(body, static_cast<std::int16_t>(cells.size()));
    for (const auto& cell : cells) {
      add_i32(body, cell ? static_cast<std::int32_t>(cell->size()) : -1);
      if (cell) body.insert(body.end(), cell->begin(), cell->end());
    }
    return frame('D', body);
  }
  proto::Frame error(std::string_view sqlstate, std::string_view message) {
    Bytes body;
    for (auto [code, text] :
         {std::pair<char, std::string_view>{'S', "ERROR"}, {'V', "ERROR"}, {'C', sqlstate}, {'M', message}}) {
      body.push_back(static_cast<std::uint8_t>(code));
      add_cstring(body, text);
    }
    body.push_back(0);
    return frame('E', body);
  }
  proto::Frame copy_in_response() {
    Bytes body{0};
    add_i16(body, 0);
    return frame('G', body);
  }
  proto::Frame copy_data(std::string_view data) { return frame('d', bytes_of(data)); }
  proto::Frame empty(char type) { return frame(type, {}); }
};

Bytes int4(std::int32_t v) {
  Bytes out;
  add_i32(out, v);
  return out;
}
Bytes text(std::string_view s) { return bytes_of(s); }

// As Pipeline::dispatch: a message, then whether the caller may go on.
bool deliver(keel::pg::Reply& reply, const proto::Frame& frame) {
  reply.answered = true;
  reply.on_message(frame);
  return reply.caller_may_resume();
}
// ReadyForQuery.
void finish(keel::pg::Reply& reply) {
  reply.on_ready();
  reply.done = true;
}

// Rows as (id, name) pairs, read through the sink interface keel's engine uses.
struct PairSink final : keel::RowSink {
  std::vector<std::pair<std::int64_t, std::optional<std::string>>> rows;
  int calls = 0;
  bool throw_on_second = false;
  void on_row(const keel::RowReader& row) override {
    if (++calls == 2 && throw_on_second) throw std::runtime_error("the sink is full");
    rows.emplace_back(row.get<std::int64_t>(0), row.get<std::optional<std::string>>(1));
  }
};

DescribedStatement two_columns() {
  DescribedStatement statement;
  statement.name = "keel_s1";
  Frames f;
  DescribeReply describe;
  deliver(describe, f.row_description({{"id", int4_oid}, {"name", text_oid}}));
  statement.fields = describe.prepared.fields;
  return statement;
}

// A BoundReply of a described statement of two columns (id int4, name text), read in binary into `sink`.
struct BoundCase {
  Frames f;
  DescribedStatement statement = two_columns();
  std::vector<proto::Format> formats{proto::Format::binary, proto::Format::binary};
  std::vector<std::optional<proto::Bytes>> cells;
  PairSink sink;
  BoundReply reply() { return BoundReply(statement, formats, &sink, nullptr, cells); }
};

}  // namespace

TEST_CASE("DescribeReply keeps the parameter types and the result columns, and resumes its caller only at the end") {
  Frames f;
  DescribeReply reply;
  CHECK_FALSE(deliver(reply, f.empty('1')));
  Bytes parameters;
  add_i16(parameters, 2);
  add_i32(parameters, static_cast<std::int32_t>(int4_oid));
  add_i32(parameters, static_cast<std::int32_t>(text_oid));
  CHECK_FALSE(deliver(reply, f.frame('t', parameters)));
  CHECK_FALSE(deliver(reply, f.row_description({{"id", int4_oid}, {"name", text_oid}})));
  finish(reply);
  CHECK(reply.caller_may_resume());
  CHECK(reply.prepared.parameter_types == std::vector<std::uint32_t>{int4_oid, text_oid});
  REQUIRE(reply.prepared.fields.size() == 2);
  CHECK(reply.prepared.fields[1].name == "name");
  CHECK(reply.prepared.fields[0].type_oid == int4_oid);
  CHECK_NOTHROW(reply.rethrow());
}

TEST_CASE(
    "DescribeReply: the server's error is thrown by its SQLSTATE, and a message that does not belong is a "
    "ProtocolError") {
  Frames f;
  DescribeReply failed;
  deliver(failed, f.error("42P01", "relation \"nowhere\" does not exist"));
  deliver(failed, f.error("XX000", "a second error is not the first"));
  finish(failed);
  CHECK_THROWS_AS(failed.rethrow(), keel::UndefinedTable);

  DescribeReply confused;
  CHECK_THROWS_AS(deliver(confused, f.data_row({int4(1)})), keel::ProtocolError);
}

TEST_CASE("BoundReply hands each row to the sink in place and adds up the rows the command tags report") {
  BoundCase c;
  auto& f = c.f;
  auto& sink = c.sink;
  BoundReply reply = c.reply();
  deliver(reply, f.empty('2'));
  deliver(reply, f.data_row({int4(7), text("seven")}));
  deliver(reply, f.data_row({int4(8), std::nullopt}));
  CHECK_FALSE(deliver(reply, f.command_complete("SELECT 2")));
  deliver(reply, f.empty('2'));  // a second Bind + Execute under the same Sync
  deliver(reply, f.command_complete("UPDATE 3"));
  finish(reply);
  CHECK_NOTHROW(reply.rethrow());
  CHECK(reply.rows_seen == 2);
  CHECK(reply.rows_affected == 5);
  CHECK(reply.status == "UPDATE 3");
  CHECK_FALSE(reply.suspended);
  REQUIRE(sink.rows.size() == 2);
  CHECK(sink.rows[0] == std::pair<std::int64_t, std::optional<std::string>>{7, "seven"});
  CHECK(sink.rows[1] == std::pair<std::int64_t, std::optional<std::string>>{8, std::nullopt});
}

TEST_CASE("BoundReply: after the server's error no row reaches the sink, and the error is the first one, by SQLSTATE") {
  BoundCase c;
  auto& f = c.f;
  auto& sink = c.sink;
  BoundReply reply = c.reply();
  deliver(reply, f.data_row({int4(1), text("one")}));
  deliver(reply, f.error("23505", "duplicate key value violates unique constraint"));
  deliver(reply, f.data_row({int4(2), text("two")}));
  deliver(reply, f.error("42P01", "a later error is not the one thrown"));
  finish(reply);
  CHECK(sink.rows.size() == 1);
  CHECK_THROWS_AS(reply.rethrow(), keel::UniqueViolation);
}

TEST_CASE("BoundReply: a sink that throws is kept as refused, and the rest of the reply is read and dropped") {
  BoundCase c;
  auto& f = c.f;
  auto& sink = c.sink;
  sink.throw_on_second = true;
  BoundReply reply = c.reply();
  for (int i = 1; i <= 3; ++i) deliver(reply, f.data_row({int4(i), text("row")}));
  deliver(reply, f.command_complete("SELECT 3"));
  finish(reply);
  CHECK(sink.calls == 2);  // not called again after it threw
  CHECK(sink.rows.size() == 1);
  CHECK(reply.rows_seen == 3);
  REQUIRE(reply.refused);
  CHECK_THROWS_WITH(std::rethrow_exception(reply.refused), "the sink is full");
  CHECK_NOTHROW(reply.rethrow());  // the server had nothing against it
}

TEST_CASE(
    "BoundReply: a row of the wrong width is a ProtocolError, changed columns refuse the rows, a portal's limit "
    "suspends it") {
  BoundCase c;
  auto& f = c.f;
  auto& sink = c.sink;

  BoundReply narrow = c.reply();
  CHECK_THROWS_AS(deliver(narrow, f.data_row({int4(1)})), keel::ProtocolError);

  // The unnamed statement's portal is described again: a column of another type means the rows cannot be read.
  BoundReply changed = c.reply();
  deliver(changed, f.row_description({{"id", text_oid}, {"name", text_oid}}));
  deliver(changed, f.data_row({int4(1), text("one")}));  // cells a reader of the old columns would take
  REQUIRE(changed.refused);
  CHECK_THROWS_WITH(std::rethrow_exception(changed.refused), Catch::Contains("result columns changed"));
  CHECK(sink.rows.empty());

  // NoData where rows were described: the statement no longer returns them.
  BoundReply no_rows = c.reply();
  deliver(no_rows, f.empty('n'));
  REQUIRE(no_rows.refused);
  CHECK_THROWS_WITH(std::rethrow_exception(no_rows.refused), Catch::Contains("result columns changed"));

  BoundReply portal = c.reply();
  deliver(portal, f.data_row({int4(5), text("five")}));
  deliver(portal, f.empty('s'));
  finish(portal);
  CHECK(portal.suspended);
  CHECK(portal.rows_seen == 1);
}

TEST_CASE(
    "CopyInReply resumes its caller when the server accepts the COPY, not while the caller sends, and keeps the tag") {
  Frames f;
  CopyInReply reply;
  CHECK_FALSE(reply.caller_may_resume());
  CHECK(deliver(reply, f.copy_in_response()));
  reply.sending = true;
  CHECK_FALSE(reply.caller_may_resume());
  CHECK_FALSE(deliver(reply, f.command_complete("COPY 3")));
  finish(reply);
  CHECK(reply.caller_may_resume());
  CHECK(reply.tag == "COPY 3");
  CHECK_FALSE(reply.may_be_abandoned());

  CopyInReply refused;
  deliver(refused, f.error("22P04", "bad COPY file format"));
  finish(refused);
  try {
    refused.rethrow();
    FAIL("the server's error was not thrown");
  } catch (const keel::DatabaseError& e) {
    CHECK(e.sqlstate() == "22P04");
  }
  CHECK_THROWS_AS(deliver(refused, f.empty('1')), keel::ProtocolError);
}

TEST_CASE("SimpleReply: COPY TO's data to the sink, a COPY FROM STDIN resumes the caller, the results to the handler") {
  Frames f;
  std::string copied;
  keel::pg::CopySink sink = [&](std::span<const std::uint8_t> chunk) { copied.append(chunk.begin(), chunk.end()); };
  std::vector<keel::pg::TextResult> results;
  SimpleReply::ResultHandler on_result = [&](const keel::pg::TextResult& r) { results.push_back(r); };
  SimpleReply reply(&sink, &on_result);

  deliver(reply, f.row_description({{"n", text_oid}}));
  deliver(reply, f.data_row({text("1")}));
  CHECK_FALSE(deliver(reply, f.command_complete("SELECT 1")));
  deliver(reply, f.command_complete("SET"));
  deliver(reply, f.empty('H'));
  deliver(reply, f.copy_data("a\tb\n"));
  deliver(reply, f.copy_data("c\td\n"));
  deliver(reply, f.command_complete("COPY 2"));
  CHECK(deliver(reply, f.copy_in_response()));  // the caller sends the data, or CopyFail
  ++reply.copy_ins_answered;
  CHECK_FALSE(reply.caller_may_resume());
  deliver(reply, f.command_complete("COPY 0"));
  finish(reply);

  CHECK(copied == "a\tb\nc\td\n");
  CHECK(reply.tag == "COPY 0");
  CHECK(reply.changed_session);  // the SET
  REQUIRE(results.size() == 4);
  CHECK(results[0].returns_rows);
  REQUIRE(results[0].rows.size() == 1);
  CHECK(results[0].rows[0][0] == std::optional<std::string>("1"));
  CHECK(results[1].status == "SET");
  CHECK(results[2].copied_out);
  CHECK_NOTHROW(reply.rethrow());
}

TEST_CASE(
    "SimpleReply: a handler that throws is kept as refused and hears nothing more; an unknown message is a "
    "ProtocolError") {
  Frames f;
  int heard = 0;
  SimpleReply::ResultHandler on_result = [&](const keel::pg::TextResult&) {
    if (++heard == 1) throw std::runtime_error("the handler gave up");
  };
  SimpleReply reply(nullptr, &on_result);
  deliver(reply, f.command_complete("CREATE TABLE"));
  deliver(reply, f.command_complete("INSERT 0 1"));
  finish(reply);
  CHECK(heard == 1);
  REQUIRE(reply.refused);
  CHECK(reply.tag == "INSERT 0 1");
  CHECK_FALSE(reply.changed_session);

  SimpleReply plain;
  CHECK_THROWS_AS(deliver(plain, f.empty('2')), keel::ProtocolError);
}
