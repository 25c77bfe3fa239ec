// PostgreSQL's wire protocol on byte vectors: frontend encodings, backend framing and decoding (including
// truncated and malformed input), md5 and SCRAM-SHA-256 (RFC 7677's exchange). No server.
#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>
#include "pg_frames.hpp"
import keel;
import keel.postgres.protocol;

namespace proto = keel::pg::protocol;
using namespace pg_frames;

namespace {

proto::BackendMessage decode_one(const Bytes& stream) {
  auto frame = proto::next_frame(stream);
  REQUIRE(frame);
  CHECK(frame->size == stream.size());
  return proto::decode(*frame);
}

}  // namespace

TEST_CASE("frontend messages have the documented bytes", "[pg][protocol]") {
  proto::ByteBuffer out;
  proto::write_query(out, "SELECT 1");
  CHECK(out == Bytes{'Q', 0, 0, 0, 13, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0});

  out.clear();
  std::vector<std::pair<std::string, std::string>> parameters{{"user", "bob"}, {"database", "db"}};
  proto::write_startup(out, parameters);
  Bytes expected{0, 0, 0, 0, 0, 3, 0, 0};
  add_cstring(expected, "user");
  add_cstring(expected, "bob");
  add_cstring(expected, "database");
  add_cstring(expected, "db");
  expected.push_back(0);
  expected[3] = static_cast<std::uint8_t>(expected.size());
  CHECK(out == expected);

  out.clear();
  proto::write_ssl_request(out);
  CHECK(out == Bytes{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f});

  out.clear();
  proto::write_sync(out);
  proto::write_terminate(out);
  CHECK(out == Bytes{'S', 0, 0, 0, 4, 'X', 0, 0, 0, 4});

  // Bind: one NULL and one 4-byte binary value, binary results.
  out.clear();
  const Bytes four{0, 0, 0, 42};
  const std::vector<proto::Format> formats{proto::Format::binary};
  const std::vector<proto::ParameterValue> values{std::nullopt, std::span<const std::uint8_t>(four)};
  proto::write_bind(out, "", "s1", formats, values, formats);
  Bytes bind_body;
  add_cstring(bind_body, "");
  add_cstring(bind_body, "s1");
  add_i16(bind_body, 1);
  add_i16(bind_body, 1);
  add_i16(bind_body, 2);
  add_i32(bind_body, -1);
  add_i32(bind_body, 4);
  bind_body.insert(bind_body.end(), four.begin(), four.end());
  add_i16(bind_body, 1);
  add_i16(bind_body, 1);
  CHECK(out == message('B', bind_body));

  // The protocol cannot carry a NUL inside a string.
  out.clear();
  CHECK_THROWS_AS(proto::write_query(out, std::string_view("SELECT 1\0; DROP", 15)), keel::MisuseError);
}

TEST_CASE("the stream is cut into messages, waiting for the rest of a partial one", "[pg][protocol]") {
  Bytes stream = message('Z', {'I'});
  const Bytes second = message('C', bytes_of(std::string("SELECT 1") + '\0'));
  stream.insert(stream.end(), second.begin(), second.end());
  auto first = proto::next_frame(stream);
  REQUIRE(first);
  CHECK(first->type == 'Z');
  CHECK(first->size == 6);
  auto next = proto::next_frame(std::span(stream).subspan(first->size));
  REQUIRE(next);
  CHECK(next->type == 'C');
  // Every proper prefix of a message asks for more bytes.
  for (std::size_t n = 0; n < second.size(); ++n) CHECK_FALSE(proto::next_frame(std::span(second).first(n)));
  // An impossible length is an error, not a wait.
  CHECK_THROWS_AS(proto::next_frame(Bytes{'Z', 0, 0, 0, 3, 'I'}), keel::ProtocolError);
  CHECK_THROWS_AS(proto::next_frame(Bytes{'D', 0x7f, 0xff, 0xff, 0xff}), keel::ProtocolError);
}

TEST_CASE("backend messages decode into their fields", "[pg][protocol]") {
  Bytes body;
  add_i32(body, 10);
  add_cstring(body, "SCRAM-SHA-256-PLUS");
  add_cstring(body, "SCRAM-SHA-256");
  body.push_back(0);
  auto auth = std::get<proto::Authentication>(decode_one(message('R', body)));
  CHECK(auth.kind == proto::AuthKind::sasl);
  CHECK(auth.sasl_mechanisms == std::vector<std::string>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});

  body.clear();
  add_i32(body, 5);
  body.insert(body.end(), {1, 2, 3, 4});
  auth = std::get<proto::Authentication>(decode_one(message('R', body)));
  CHECK(auth.kind == proto::AuthKind::md5_password);
  CHECK(auth.md5_salt == Bytes{1, 2, 3, 4});

  body.clear();
  add_i16(body, 2);
  add_cstring(body, "id");
  add_i32(body, 16384);
  add_i16(body, 1);
  add_i32(body, 23);
  add_i16(body, 4);
  add_i32(body, -1);
  add_i16(body, 1);
  add_cstring(body, "name");
  add_i32(body, 0);
  add_i16(body, 0);
  add_i32(body, 25);
  add_i16(body, -1);
  add_i32(body, -1);
  add_i16(body, 0);
  auto description = std::get<proto::RowDescription>(decode_one(message('T', body)));
  REQUIRE(description.fields.size() == 2);
  CHECK(description.fields[0].name == "id");
  CHECK(description.fields[0].type_oid == 23);
  CHECK(description.fields[0].format == 1);
  CHECK(description.fields[1].name == "name");
  CHECK(description.fields[1].type_size == -1);

  body.clear();
  add_i16(body, 3);
  add_i32(body, 2);
  body.insert(body.end(), {'h', 'i'});
  add_i32(body, -1);
  add_i32(body, 0);
  const Bytes row_stream = message('D', body);  // the row's cells are views into it
  auto row = std::get<proto::DataRow>(decode_one(row_stream));
  REQUIRE(row.cells.size() == 3);
  CHECK(Bytes(row.cells[0]->begin(), row.cells[0]->end()) == bytes_of("hi"));
  CHECK_FALSE(row.cells[1].has_value());
  CHECK(row.cells[2]->empty());

  body.clear();
  for (auto [code, value] : std::vector<std::pair<char, std::string>>{{'S', "FEHLER"},
                                                                      {'V', "ERROR"},
                                                                      {'C', "23505"},
                                                                      {'M', "duplicate key"},
                                                                      {'D', "Key (id)=(1)"},
                                                                      {'P', "17"},
                                                                      {'t', "band"},
                                                                      {'n', "band_pkey"},
                                                                      {'R', "_bt_check_unique"},
                                                                      {'X', "future field"}}) {
    body.push_back(static_cast<std::uint8_t>(code));
    add_cstring(body, value);
  }
  body.push_back(0);
  auto error = std::get<proto::ErrorResponse>(decode_one(message('E', body)));
  CHECK(error.fields.severity == "ERROR");
  CHECK(error.fields.sqlstate == "23505");
  CHECK(error.fields.message == "duplicate key");
  CHECK(error.fields.detail == "Key (id)=(1)");
  CHECK(error.fields.position == 17);
  CHECK(error.fields.table == "band");
  CHECK(error.fields.constraint == "band_pkey");
  CHECK(error.fields.routine == "_bt_check_unique");

  CHECK(std::get<proto::ReadyForQuery>(decode_one(message('Z', {'T'}))).status ==
        proto::TransactionStatus::in_transaction);
  CHECK(std::get<proto::CommandComplete>(decode_one(message('C', bytes_of(std::string("INSERT 0 5") + '\0')))).tag ==
        "INSERT 0 5");
  CHECK(proto::rows_in_command_tag("INSERT 0 5") == 5);
  CHECK(proto::rows_in_command_tag("UPDATE 12") == 12);
  CHECK(proto::rows_in_command_tag("CREATE TABLE") == 0);
  CHECK(std::holds_alternative<proto::BindComplete>(decode_one(message('2', {}))));

  body.clear();
  add_i32(body, 4242);
  add_cstring(body, "jobs");
  add_cstring(body, "{\"id\": 1}");
  auto notification = std::get<proto::NotificationResponse>(decode_one(message('A', body)));
  CHECK(notification.process_id == 4242);
  CHECK(notification.channel == "jobs");
  CHECK(notification.payload == "{\"id\": 1}");
}

TEST_CASE("truncated and malformed messages are protocol errors, never over-reads", "[pg][protocol]") {
  const std::vector<Bytes> bad{
      message('R', {0, 0, 0}),                       // authentication code cut short
      message('R', {0, 0, 0, 5, 1, 2}),              // md5 salt cut short
      message('R', {0, 0, 0, 99}),                   // unknown authentication request
      message('R', {0, 0, 0, 10, 'S', 'C'}),         // SASL mechanism without its NUL
      message('Z', {'Q'}),                           // unknown transaction status
      message('Z', {'I', 'I'}),                      // trailing bytes
      message('D', {0, 1, 0, 0, 0, 9, 'a'}),         // value longer than the message
      message('D', {0, 1, 0xff, 0xff, 0xff, 0xfe}),  // negative length other than -1
      message('D', {0xff, 0xff}),                    // negative column count
      message('T', {0, 1, 'i', 'd', 0, 0, 0}),       // field description cut short
      message('E', {'C', '2', '3'}),                 // error field without NUL or terminator
      message('K', {0, 0, 0, 1}),                    // key data cut short
      message('?', {}),                              // unknown message type
  };
  for (const Bytes& stream : bad) {
    auto frame = proto::next_frame(stream);
    REQUIRE(frame);
    CHECK_THROWS_AS(proto::decode(*frame), keel::ProtocolError);
  }
  // Every truncation of a valid DataRow body fails cleanly.
  Bytes body;
  add_i16(body, 2);
  add_i32(body, 3);
  body.insert(body.end(), {'a', 'b', 'c'});
  add_i32(body, 1);
  body.push_back('z');
  for (std::size_t n = 0; n < body.size(); ++n) {
    const Bytes cut(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(n));
    const Bytes stream = message('D', cut);  // the frame views it
    auto frame = proto::next_frame(stream);
    REQUIRE(frame);
    CHECK_THROWS_AS(proto::decode(*frame), keel::ProtocolError);
  }
}

TEST_CASE("md5 passwords follow PostgreSQL's recipe", "[pg][auth]") {
  const Bytes salt{1, 2, 3, 4};
  CHECK(proto::md5_password("postgres", "postgres", salt) == "md568be9ed08db75f318087ab337aaea044");
}

TEST_CASE("base64 round-trips and rejects what is not base64", "[pg][auth]") {
  CHECK(proto::base64_encode(std::string_view("pencil")) == "cGVuY2ls");
  CHECK(proto::base64_decode("cGVuY2ls") == std::optional<Bytes>(bytes_of("pencil")));
  CHECK(proto::base64_decode("cGVuY2k=") == std::optional<Bytes>(bytes_of("penci")));
  CHECK(proto::base64_decode("cGVuYw==") == std::optional<Bytes>(bytes_of("penc")));
  CHECK_FALSE(proto::base64_decode("cGVu*2ls"));
  CHECK_FALSE(proto::base64_decode("abc"));
}

TEST_CASE("SCRAM-SHA-256 reproduces RFC 7677's exchange", "[pg][auth]") {
  proto::ScramClient scram("pencil", {.username = "user", .nonce = "rOprNGfwEbeRWgbNEkqO"});
  CHECK(scram.mechanism() == "SCRAM-SHA-256");
  CHECK(scram.client_first_message() == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  const std::string server_first =
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
  CHECK(scram.client_final_message(server_first) ==
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  CHECK_NOTHROW(scram.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
  // A server that does not know the password cannot forge the signature.
  CHECK_THROWS_AS(scram.verify_server_final("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
                  proto::AuthenticationError);
  CHECK_THROWS_AS(scram.verify_server_final("e=invalid-proof"), proto::AuthenticationError);
}

TEST_CASE("SCRAM passwords are prepared with SASLprep, as libpq and the server prepare them", "[pg][auth]") {
  using proto::saslprep_password;
  // RFC 4013, section 3's examples.
  CHECK(saslprep_password("I\u00ADX") == "IX");  // SOFT HYPHEN maps to nothing
  CHECK(saslprep_password("user") == "user");
  CHECK(saslprep_password("USER") == "USER");                  // no case folding
  CHECK(saslprep_password("\u00AA") == "a");                   // NFKC
  CHECK(saslprep_password("\u2168") == "IX");                  // ROMAN NUMERAL NINE, NFKC
  CHECK(saslprep_password("\u0627\u0031") == "\u0627\u0031");  // refused (bidi): used unchanged, as libpq does
  // Beyond the RFC's list.
  CHECK(saslprep_password("a\u00A0b") == "a b");                   // a non-ASCII space maps to SPACE
  CHECK(saslprep_password("\uFF50\uFF41\uFF53\uFF53") == "pass");  // full-width letters
  CHECK(saslprep_password("caf\u0065\u0301") == "caf\u00E9");      // composed
  CHECK(saslprep_password("\uFDFA").size() > 18);                  // NFKC lengthens it: the result is not cut short
  CHECK(saslprep_password("\uFDFA\uFDFA\uFDFA") == saslprep_password("\uFDFA") + saslprep_password("\uFDFA") +
                                                       saslprep_password("\uFDFA"));  // past the first buffer
  // Refused, so used unchanged: nothing left after mapping, a prohibited or unassigned character, not UTF-8.
  CHECK(saslprep_password("\u00AD") == "\u00AD");
  CHECK(saslprep_password("a\u2028b") == "a\u2028b");        // LINE SEPARATOR, prohibited
  CHECK(saslprep_password("a\U000E0001") == "a\U000E0001");  // LANGUAGE TAG, prohibited
  CHECK(saslprep_password("x\U0010FFFD") == "x\U0010FFFD");  // private use
  CHECK(saslprep_password("a\u0221") == "a\u0221");          // unassigned in Unicode 3.2, which SASLprep uses
  CHECK(saslprep_password("\xC3\x28pw") == "\xC3\x28pw");
  // Refused as PostgreSQL refuses them, which checks before NFKC where the RFC checks after: U+0340 is prohibited
  // (NFKC would make it U+0300), U+FE70 is right-to-left beside a left-to-right letter (NFKC makes it a space and
  // a mark). The server then stores the typed bytes' verifier.
  CHECK(saslprep_password("a\u0340") == "a\u0340");
  CHECK(saslprep_password("\uFE70a") == "\uFE70a");
  CHECK(saslprep_password("\u05D0\u05D1") == "\u05D0\u05D1");  // right-to-left only: accepted, unchanged
  // ASCII is used as it is, control characters included, as libpq does.
  CHECK(saslprep_password("a\tb\x07") == "a\tb\x07");
  CHECK(saslprep_password("") == "");

  // The exchange hashes the prepared password: "I\u00ADX" proves the same as "IX".
  const std::string server_first = "r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
  CHECK(proto::ScramClient("I\u00ADX", {.nonce = "abc"}).client_final_message(server_first) ==
        proto::ScramClient("IX", {.nonce = "abc"}).client_final_message(server_first));
  CHECK(proto::ScramClient("I\u00ADY", {.nonce = "abc"}).client_final_message(server_first) !=
        proto::ScramClient("IX", {.nonce = "abc"}).client_final_message(server_first));
}

TEST_CASE("SCRAM refuses a server that does not play by the rules", "[pg][auth]") {
  auto client = [] { return proto::ScramClient("pencil", {.nonce = "abc"}); };
  CHECK(client().client_first_message() == "n,,n=,r=abc");
  CHECK_THROWS_AS(client().client_final_message("r=xyz123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
                  proto::AuthenticationError);
  CHECK_THROWS_AS(client().client_final_message("r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"), proto::AuthenticationError);
  CHECK_THROWS_AS(client().client_final_message("r=abcdef,s=not base64!,i=4096"), proto::AuthenticationError);
  CHECK_THROWS_AS(client().client_final_message("r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0"), proto::AuthenticationError);
  CHECK_THROWS_AS(client().client_final_message("r=abcdef,i=4096"), proto::AuthenticationError);
  // Random nonces differ.
  CHECK(proto::ScramClient("x").client_first_message() != proto::ScramClient("x").client_first_message());
  // Channel binding: the PLUS mechanism, and the binding data inside c=.
  proto::ScramClient plus("pencil", {.nonce = "abc", .channel_binding = std::vector<std::uint8_t>{1, 2, 3}});
  CHECK(plus.mechanism() == "SCRAM-SHA-256-PLUS");
  CHECK(plus.client_first_message() == "p=tls-server-end-point,,n=,r=abc");
  const std::string final_message = plus.client_final_message("r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  CHECK(final_message.starts_with(
      "c=" + proto::base64_encode(std::string_view("p=tls-server-end-point,,\x01\x02\x03")) + ",r=abcdef,p="));
}

TEST_CASE("a script of several statements is told from one statement before it is sent", "[pg][protocol]") {
  using keel::pg::protocol::holds_several_statements;
  CHECK_FALSE(holds_several_statements("SELECT 1"));
  CHECK_FALSE(holds_several_statements("SELECT 1;"));
  CHECK_FALSE(holds_several_statements("SELECT 1 ; -- and a comment\n  "));
  CHECK_FALSE(holds_several_statements("SELECT 1; /* a block /* nested */ comment */"));
  CHECK_FALSE(holds_several_statements("SELECT ';', \"a;b\" FROM t WHERE x = $1"));
  CHECK_FALSE(holds_several_statements("SELECT 'it''s; fine'"));
  CHECK_FALSE(holds_several_statements("SELECT E'a\\'; b'"));
  CHECK_FALSE(
      holds_several_statements("CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; SELECT 2 $body$ LANGUAGE sql"));
  CHECK_FALSE(holds_several_statements("SELECT $$;$$, $1"));
  CHECK(holds_several_statements("CREATE TABLE a (x int); CREATE TABLE b (y int)"));
  CHECK(holds_several_statements("SELECT 'C:\\'; SELECT 2"));  // a standard string ends at its quote
  CHECK(holds_several_statements("SELECT 1;SELECT 2"));
  CHECK(holds_several_statements("SELECT $1; SELECT 2"));
  CHECK(holds_several_statements("SELECT 1; -- first\nSELECT 2"));
}
