// The PostgreSQL connection against the private cluster that tests/postgres/cluster starts (a CTest fixture):
// every authentication method, TLS by sslmode, several hosts, queries with bound values, errors by SQLSTATE,
// and the statement cache.
#include <catch2/catch.hpp>
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <sys/stat.h>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>
#include <unistd.h>
import keel;
import keel.postgres;
#include "pg_test_support.hpp"

namespace asio = boost::asio;
using keel::pg::PgConnection;

TEST_CASE("trust: connect, report the session, run simple queries", "[pg]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable application_name=keel-tests"));
  CHECK(c->authentication_method() == "trust");
  CHECK_FALSE(c->is_tls());
  CHECK(c->server_version().starts_with("15"));
  CHECK(c->server_pid() > 0);
  CHECK(c->setting("client_encoding") == "UTF8");
  CHECK(c->setting("application_name") == "keel-tests");
  CHECK(execute(*c, "CREATE TEMP TABLE t (a int); INSERT INTO t VALUES (1), (2)") == "INSERT 0 2");
  CHECK_FALSE(c->is_in_transaction());
  execute(*c, "BEGIN");
  CHECK(c->is_in_transaction());
  execute(*c, "COMMIT");
  CHECK_FALSE(c->is_in_transaction());
  // The server's own view of the session agrees.
  auto rows = fetch(*c, "SELECT pg_backend_pid(), current_setting('application_name')");
  CHECK(rows[0].get<std::int64_t>(0) == c->server_pid());
  CHECK(rows[0].get<std::string>(1) == "keel-tests");
  run(c->close());
  CHECK(c->is_closed());
  CHECK_THROWS_AS(execute(*c, "SELECT 1"), keel::ConnectionError);
}

TEST_CASE("a Unix-domain socket", "[pg]") {
  auto c = connect("host=" + cluster().at("KEEL_PG_SOCKET") + " port=" + cluster().at("KEEL_PG_PORT") +
                   " user=keel_trust dbname=keel_test");
  CHECK_FALSE(c->is_tls());
  CHECK(fetch(*c, "SELECT 1")[0].get<int>(0) == 1);
  // A socket that is not there is named by its file, as libpq names it.
  CHECK_THROWS_WITH(connect("host=/nonexistent port=5999 user=keel_trust dbname=keel_test"),
                    Catch::Contains("socket /nonexistent/.s.PGSQL.5999"));
}

TEST_CASE("password, md5 and SCRAM-SHA-256 authentication; a wrong password is SQLSTATE 28P01", "[pg][auth]") {
  CHECK(connect(dsn("keel_plain", "password='plain secret' sslmode=disable"))->authentication_method() == "password");
  CHECK(connect(dsn("keel_md5", "password='md5 secret' sslmode=disable"))->authentication_method() == "md5");
  CHECK(connect(dsn("keel_scram", "password='scram secret' sslmode=disable"))->authentication_method() ==
        "SCRAM-SHA-256");
  for (const char* user : {"keel_plain", "keel_md5", "keel_scram"}) {
    try {
      connect(dsn(user, "password=wrong sslmode=disable"));
      FAIL("a wrong password was accepted for " << user);
    } catch (const keel::InvalidPassword& e) {
      CHECK(e.sqlstate() == "28P01");
    }
  }
  CHECK_THROWS_WITH(connect(dsn("keel_scram", "sslmode=disable")), Catch::Contains("asks for a password"));
}

TEST_CASE("SCRAM with a non-ASCII password: SASLprep makes it what the server stored", "[pg][auth]") {
  // The server prepares a password with SASLprep when it stores the SCRAM verifier: the soft hyphen goes, the
  // no-break space becomes a space, the full-width digit a digit. A client that hashes the typed bytes fails.
  auto admin = connect(dsn("keel_trust", "sslmode=disable"));
  execute(*admin, "DROP ROLE IF EXISTS keel_scram_utf8");
  execute(*admin,
          "SET password_encryption = 'scram-sha-256'; "
          "CREATE ROLE keel_scram_utf8 LOGIN PASSWORD 'pass\u00ADw\u00F6rd\u00A0\uFF11'");
  CHECK(connect(dsn("keel_scram_utf8", "password='pass\u00ADw\u00F6rd\u00A0\uFF11' sslmode=disable"))
            ->authentication_method() == "SCRAM-SHA-256");
  CHECK_NOTHROW(connect(dsn("keel_scram_utf8", "password='passw\u00F6rd 1' sslmode=disable")));
  CHECK_THROWS_AS(connect(dsn("keel_scram_utf8", "password='passw\u00F6rd' sslmode=disable")), keel::InvalidPassword);
  // A password PostgreSQL's SASLprep refuses (U+0340 is prohibited before NFKC) is stored from its typed bytes.
  execute(*admin, "ALTER ROLE keel_scram_utf8 PASSWORD 'pa\u0340ss'");
  CHECK_NOTHROW(connect(dsn("keel_scram_utf8", "password='pa\u0340ss' sslmode=disable")));
}

TEST_CASE("the password file supplies a password the DSN leaves out", "[pg][auth]") {
  const auto path = std::filesystem::temp_directory_path() / ("keel-pgpass-" + std::to_string(::getpid()));
  {
    std::ofstream file(path);
    file << "127.0.0.1:" << cluster().at("KEEL_PG_PORT") << ":keel_test:keel_scram:scram secret\n";
  }
  ::chmod(path.c_str(), 0600);
  const std::string base = "host=127.0.0.1 port=" + cluster().at("KEEL_PG_PORT") +
                           " dbname=keel_test user=keel_scram sslmode=disable passfile=" + path.string();
  CHECK(connect(base)->authentication_method() == "SCRAM-SHA-256");
  // A file that others can read is ignored, as libpq does.
  ::chmod(path.c_str(), 0644);
  CHECK_THROWS_WITH(connect(base), Catch::Contains("asks for a password"));
  std::filesystem::remove(path);
}

TEST_CASE("TLS follows sslmode; SCRAM binds to the TLS channel", "[pg][tls]") {
  const std::string ca = "sslrootcert=" + cluster().at("KEEL_PG_CA");
  const std::string tls_user = "password='tls secret' ";
  // keel_tls may only connect over TLS.
  CHECK_THROWS_AS(connect(dsn("keel_tls", tls_user + "sslmode=disable")), keel::InvalidAuthorization);
  auto required = connect(dsn("keel_tls", tls_user + "sslmode=require"));
  CHECK(required->is_tls());
  CHECK(required->authentication_method() == "SCRAM-SHA-256-PLUS");
  CHECK(fetch(*required, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")[0].get<bool>(0));
  CHECK(connect(dsn("keel_tls", tls_user + "sslmode=prefer"))->is_tls());
  CHECK(connect(dsn("keel_tls", tls_user + "sslmode=allow"))->is_tls());  // refused without TLS, so with it
  CHECK_FALSE(connect(dsn("keel_trust", "sslmode=allow"))->is_tls());
  CHECK(connect(dsn("keel_tls", tls_user + "sslmode=verify-ca " + ca))->is_tls());
  CHECK(connect(dsn("keel_tls", tls_user + "sslmode=verify-full " + ca))->is_tls());  // the certificate names 127.0.0.1
  CHECK(connect(dsn("keel_tls", tls_user + "sslmode=verify-full host=localhost " + ca))->is_tls());
  // verify-full against a certificate for another host name.
  CHECK_THROWS_WITH(
      connect(dsn("keel_tls", tls_user + "sslmode=verify-full host=db.example.com hostaddr=127.0.0.1 " + ca)),
      Catch::Contains("does not match the host name \"db.example.com\""));
  // Revocation lists (sslcrl): one that revokes nothing lets the chain pass; one that revokes the server's
  // certificate fails the handshake.
  const std::string tls_folder = std::filesystem::path(cluster().at("KEEL_PG_CA")).parent_path().string();
  CHECK(connect(dsn("keel_tls", tls_user + "sslmode=verify-full " + ca + " sslcrl=" + tls_folder + "/none_revoked.crl"))
            ->is_tls());
  CHECK_THROWS_WITH(connect(dsn("keel_tls", tls_user + "sslmode=verify-full " + ca + " sslcrl=" + tls_folder +
                                                "/server_revoked.crl")),
                    Catch::Contains("certificate revoked"));
  // verify-ca with no root certificate to check against.
  CHECK_THROWS_AS(connect(dsn("keel_tls", tls_user + "sslmode=verify-ca")), keel::pg::TlsError);
  // channel_binding=require cannot be met without TLS.
  CHECK_THROWS_WITH(connect(dsn("keel_scram", "password='scram secret' sslmode=disable channel_binding=require")),
                    Catch::Contains("channel_binding=require"));
  // SCRAM over TLS without binding, when told not to bind.
  CHECK(connect(dsn("keel_tls", tls_user + "sslmode=require channel_binding=disable"))->authentication_method() ==
        "SCRAM-SHA-256");
}

TEST_CASE("PGTZ and PGDATESTYLE become the session's settings, as libpq sends them", "[pg]") {
  const keel::pg::Environment env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "PGTZ") return "Pacific/Auckland";
    if (name == "PGDATESTYLE") return "SQL, DMY";
    return std::nullopt;
  };
  auto c = run(keel::pg::PgConnection::connect(keel::pg::parse_dsn(dsn("keel_trust", "sslmode=disable"), env)));
  CHECK(c->setting("TimeZone") == "Pacific/Auckland");
  CHECK(run(c->fetchval<std::string>("SHOW DateStyle")) == "SQL, DMY");
}

TEST_CASE("several hosts are tried in order", "[pg]") {
  const std::string port = cluster().at("KEEL_PG_PORT");
  auto c = connect("host=127.0.0.1,127.0.0.1 port=1," + port + " user=keel_trust dbname=keel_test sslmode=disable");
  CHECK(fetch(*c, "SELECT 1")[0].get<int>(0) == 1);
  try {
    connect("host=127.0.0.1,127.0.0.1 port=1,2 user=keel_trust dbname=keel_test sslmode=disable");
    FAIL("connected to closed ports");
  } catch (const keel::ConnectionError& e) {
    CHECK_THAT(e.what(), Catch::Contains("127.0.0.1:1") && Catch::Contains("127.0.0.1:2"));
  }
  // target_session_attrs: the cluster is a primary, so standby finds no host and read-write takes it.
  CHECK_THROWS_AS(connect(dsn("keel_trust", "sslmode=disable target_session_attrs=standby")), keel::ConnectionError);
  CHECK(connect(dsn("keel_trust", "sslmode=disable target_session_attrs=read-write")) != nullptr);
  CHECK(connect(dsn("keel_trust", "sslmode=disable target_session_attrs=prefer-standby")) != nullptr);
  CHECK_THROWS_AS(connect(dsn("keel_trust", "sslmode=disable target_session_attrs=read-only")), keel::ConnectionError);
  // A session that starts read-only suits read-only, and not read-write.
  const std::string read_only = "sslmode=disable options='-c default_transaction_read_only=on' ";
  CHECK(connect(dsn("keel_trust", read_only + "target_session_attrs=read-only")) != nullptr);
  CHECK_THROWS_AS(connect(dsn("keel_trust", read_only + "target_session_attrs=read-write")), keel::ConnectionError);
}

TEST_CASE("bound values and binary results round-trip", "[pg][query]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  const keel::Blob blob{std::byte{0}, std::byte{0xff}, std::byte{'\''}};
  auto rows = fetch(*c,
                    "SELECT $1::int8 + 1 AS n, $2::text AS t, $3::float8 AS f, $4::bool AS b, $5::bytea AS blob, "
                    "$6::text IS NULL AS missing, 7::int2 AS small, 2147483647::int4 AS big, 1.5::float4 AS real4, "
                    "'x'::varchar AS v, 12.5::numeric AS num",
                    {std::int64_t{41}, "héllo 'quoted'", 2.25, true, blob, nullptr});
  REQUIRE(rows.size() == 1);
  const keel::Row& r = rows[0];
  CHECK(r.get<std::int64_t>("n") == 42);
  CHECK(r.get<std::string>("t") == "héllo 'quoted'");
  CHECK(r.get<double>("f") == 2.25);
  CHECK(r.get<bool>("b"));
  CHECK(r.get<keel::Blob>("blob") == blob);
  CHECK(r.get<bool>("missing"));
  CHECK(r.get<int>("small") == 7);
  CHECK(r.get<std::int64_t>("big") == 2147483647);
  CHECK(r.get<float>("real4") == 1.5f);
  CHECK(r.get<std::string>("v") == "x");
  CHECK(r.get<std::string>("num") == "12.5");  // numeric comes as text until its binary codec lands
  CHECK(r.get<std::optional<int>>("small") == 7);
  CHECK_THROWS_AS(r.get<int>("t"), keel::TypeMismatchError);

  execute(*c, "CREATE TEMP TABLE band (id int8 PRIMARY KEY, name text NOT NULL)");
  keel::RowsCollector ignored;
  auto inserted =
      run(c->query("INSERT INTO band VALUES ($1, $2), ($3, $4)", std::vector<keel::Value>{1, "a", 2, "b"}, &ignored));
  CHECK(inserted.rows_affected == 2);
  CHECK(fetch(*c, "SELECT count(*) FROM band WHERE name = $1", {"b"})[0].get<std::int64_t>(0) == 1);
  // A value that looks like SQL stays a value.
  CHECK(fetch(*c, "SELECT count(*) FROM band WHERE name = $1", {"x' OR '1'='1"})[0].get<std::int64_t>(0) == 0);
}

TEST_CASE("server errors are typed by SQLSTATE and leave the connection usable", "[pg][errors]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  try {
    fetch(*c, "SELECT * FROM no_such_table");
    FAIL("no error");
  } catch (const keel::UndefinedTable& e) {
    CHECK(e.sqlstate() == "42P01");
    CHECK(e.fields().severity == "ERROR");
    CHECK_THAT(e.server_message(), Catch::Contains("no_such_table"));
    CHECK(e.fields().position == 15);
  }
  CHECK_THROWS_AS(fetch(*c, "SELEC 1"), keel::SyntaxError);
  CHECK_THROWS_AS(execute(*c, "SELECT 1/0"), keel::DataException);
  execute(*c, "CREATE TEMP TABLE u (id int PRIMARY KEY, v int CHECK (v > 0))");
  execute(*c, "INSERT INTO u VALUES (1, 1)");
  CHECK_THROWS_AS(fetch(*c, "INSERT INTO u VALUES ($1, 1)", {1}), keel::UniqueViolation);
  CHECK_THROWS_AS(fetch(*c, "INSERT INTO u VALUES ($1, $2)", {2, -1}), keel::CheckViolation);
  CHECK_THROWS_AS(fetch(*c, "INSERT INTO u VALUES ($1, NULL::int)", {std::optional<int>{}}), keel::NotNullViolation);
  // After each error the connection answers.
  CHECK(fetch(*c, "SELECT 2")[0].get<int>(0) == 2);
  CHECK_FALSE(c->is_in_transaction());
  // A row the sink cannot take: the error reaches the caller, and the connection still answers.
  struct ReadsInts final : keel::RowSink {
    void on_row(const keel::RowReader& row) override { (void)row.get<int>(0); }
  } reads_ints;
  CHECK_THROWS_AS(run(c->query("SELECT a FROM (VALUES (NULL::int), (1), (2)) AS v (a)", {}, &reads_ints)),
                  keel::NullValueError);
  CHECK(fetch(*c, "SELECT 3")[0].get<int>(0) == 3);
}

TEST_CASE("the statement cache: reuse, eviction, size 0, and a transparent re-prepare after ALTER TABLE",
          "[pg][cache]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"), {.statement_cache_size = 2});
  for (int i = 0; i < 3; ++i) CHECK(fetch(*c, "SELECT $1::int8", {i})[0].get<int>(0) == i);
  CHECK(c->cached_statements() == 1);
  fetch(*c, "SELECT 2");
  fetch(*c, "SELECT 3");
  CHECK(c->cached_statements() == 2);  // the oldest was evicted
  auto prepared = [&] { return fetch(*c, "SELECT count(*) FROM pg_prepared_statements")[0].get<std::int64_t>(0); };
  CHECK(prepared() <= 3);

  execute(*c, "CREATE TEMP TABLE altered (a int)");
  execute(*c, "INSERT INTO altered VALUES (1)");
  CHECK(fetch(*c, "SELECT * FROM altered")[0].size() == 1);
  execute(*c, "ALTER TABLE altered ADD COLUMN b int DEFAULT 5");
  auto after = fetch(*c, "SELECT * FROM altered");  // prepared again, transparently
  REQUIRE(after[0].size() == 2);
  CHECK(after[0].get<int>("b") == 5);

  // One text with other parameter types, and a text that begins like another, are other statements, also when
  // they alternate with the statement that was found last.
  auto d = connect(dsn("keel_trust", "sslmode=disable"));
  for (int i = 0; i < 3; ++i) {
    CHECK(run(d->fetchval<std::string>("SELECT $1::text", std::int64_t{i})) == std::to_string(i));  // an int8 parameter
    CHECK(run(d->fetchval<std::string>("SELECT $1::text", "text " + std::to_string(i))) == "text " + std::to_string(i));
    CHECK(run(d->fetchval<std::string>("SELECT $1::text || 'x'", "y")) == "yx");
  }
  CHECK(d->cached_statements() == 3);

  auto uncached = connect(dsn("keel_trust", "sslmode=disable"), {.statement_cache_size = 0});
  for (int i = 0; i < 3; ++i) CHECK(fetch(*uncached, "SELECT $1::int8", {i})[0].get<int>(0) == i);
  CHECK(uncached->cached_statements() == 0);
  CHECK(fetch(*uncached, "SELECT count(*) FROM pg_prepared_statements")[0].get<std::int64_t>(0) == 0);
}

// ---- asyncpg's API and the binary codecs, round-tripped through the server.

namespace {

template <class T, class... Args>
T value_of(PgConnection& c, const std::string& sql, const Args&... args) {
  return run(c.fetchval<T>(sql, args...));
}

// What the server prints for an expression, to compare a decoded value with PostgreSQL's own reading.
std::string server_text(PgConnection& c, const std::string& expression) {
  return value_of<std::string>(c, "SELECT (" + expression + ")::text");
}

}  // namespace

TEST_CASE("fetch, fetchrow, fetchval and execute with values", "[pg][api]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  CHECK(run(c->execute("CREATE TEMP TABLE person (id int4 PRIMARY KEY, name text, born date)")) == "CREATE TABLE");
  CHECK(run(c->execute("INSERT INTO person VALUES ($1, $2, $3)", 1, "Ada",
                       keel::pg::Date{std::chrono::sys_days(std::chrono::year{1815} / 12 / 10)})) == "INSERT 0 1");
  CHECK(run(c->execute("INSERT INTO person VALUES ($1, $2, NULL)", 2, std::string("Grace"))) == "INSERT 0 1");
  auto people = run(c->fetch("SELECT id, name, born FROM person ORDER BY id"));
  REQUIRE(people.size() == 2);
  CHECK(people[0].get<int>("id") == 1);
  CHECK(people[0].get<std::string>(1) == "Ada");
  CHECK(people[0].get<keel::pg::Date>("born").days == std::chrono::sys_days(std::chrono::year{1815} / 12 / 10));
  CHECK_FALSE(people[1].get<std::optional<keel::pg::Date>>("born").has_value());
  CHECK_THROWS_AS(people[1].get<keel::pg::Date>("born"), keel::NullValueError);
  CHECK_THROWS_AS(people[0].get<int>("name"), keel::TypeMismatchError);
  CHECK_THROWS_AS(people[0].get<int>("nope"), keel::ColumnNotFoundError);
  CHECK(run(c->fetchrow("SELECT name FROM person WHERE id = $1", 2))->get<std::string>(0) == "Grace");
  CHECK_FALSE(run(c->fetchrow("SELECT name FROM person WHERE id = $1", 3)).has_value());
  CHECK(value_of<std::int64_t>(*c, "SELECT count(*) FROM person") == 2);
  CHECK_THROWS_AS(value_of<std::string>(*c, "SELECT name FROM person WHERE id = $1", 3), keel::MisuseError);
  CHECK_FALSE(value_of<std::optional<std::string>>(*c, "SELECT name FROM person WHERE id = $1", 3).has_value());
  CHECK(c->status_message() == "SELECT 0");
  // A type without a codec reads as text.
  CHECK(value_of<std::string>(*c, "SELECT '(1,2)'::point") == "(1,2)");
  CHECK_THROWS_AS(value_of<int>(*c, "SELECT '(1,2)'::point"), keel::TypeMismatchError);
  // fetchval decodes the first column of the first row straight from the row: the rest is read and dropped.
  CHECK(run(c->fetchval<std::string>("SELECT name FROM person ORDER BY id DESC")) == "Grace");
  CHECK(run(c->fetchval<int>("SELECT id, name FROM person ORDER BY id")) == 1);
  CHECK_THROWS_AS(run(c->fetchval<keel::pg::Date>("SELECT born FROM person WHERE id = $1", 2)), keel::NullValueError);
  const auto null_born = run(c->fetchval<std::optional<keel::pg::Date>>("SELECT born FROM person WHERE id = $1", 2));
  CHECK_FALSE(null_born.has_value());
  CHECK_THROWS_AS(run(c->fetchval<int>("SELECT FROM person")), keel::MisuseError);  // a row with no columns
  CHECK(run(c->fetchval<std::int64_t>("SELECT count(*) FROM person")) == 2);        // and the connection goes on
}

TEST_CASE("integers, floats, booleans, text and bytea at their edges", "[pg][codecs]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  CHECK(value_of<std::int16_t>(*c, "SELECT $1::int2", std::int16_t{-32768}) == -32768);
  CHECK(value_of<std::int16_t>(*c, "SELECT 32767::int2") == 32767);
  CHECK(value_of<std::int32_t>(*c, "SELECT $1", std::int32_t{-2147483647 - 1}) == -2147483647 - 1);
  CHECK(value_of<std::int64_t>(*c, "SELECT $1", std::numeric_limits<std::int64_t>::max()) ==
        std::numeric_limits<std::int64_t>::max());
  CHECK(value_of<std::int64_t>(*c, "SELECT $1", std::numeric_limits<std::int64_t>::min()) ==
        std::numeric_limits<std::int64_t>::min());
  CHECK_THROWS_AS(value_of<std::int16_t>(*c, "SELECT 40000::int4"), keel::ValueOutOfRangeError);
  CHECK(std::isnan(value_of<double>(*c, "SELECT 'NaN'::float8")));
  CHECK(value_of<double>(*c, "SELECT $1", std::numeric_limits<double>::infinity()) ==
        std::numeric_limits<double>::infinity());
  CHECK(value_of<double>(*c, "SELECT '-Infinity'::float8") == -std::numeric_limits<double>::infinity());
  CHECK(value_of<float>(*c, "SELECT $1", 1.5f) == 1.5f);
  CHECK(value_of<double>(*c, "SELECT 0.1::float8") == 0.1);
  CHECK(value_of<bool>(*c, "SELECT $1", false) == false);
  CHECK(value_of<std::string>(*c, "SELECT $1::text", "") == "");
  CHECK(value_of<std::string>(*c, "SELECT $1::varchar(20)", "naïve ☃") == "naïve ☃");
  CHECK(value_of<std::string>(*c, "SELECT 'ab'::char(4)") == "ab  ");
  CHECK(value_of<keel::Blob>(*c, "SELECT $1", keel::Blob{}).empty());
  const keel::Blob bytes{std::byte{0}, std::byte{1}, std::byte{255}};
  CHECK(value_of<keel::Blob>(*c, "SELECT $1", bytes) == bytes);
  CHECK(server_text(*c, "'\\x0001ff'::bytea") == "\\x0001ff");
}

TEST_CASE("numeric is exact: 1000 digits, negative scale, NaN and infinities", "[pg][codecs]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  using keel::pg::Numeric;
  std::string thousand = "9";
  for (int i = 1; i < 600; ++i) thousand += std::to_string(i % 10);
  thousand += ".";
  for (int i = 0; i < 400; ++i) thousand += std::to_string((i * 7) % 10);
  for (const std::string& text : {std::string("0"), std::string("-12.50"), std::string("0.00001"), std::string("10000"),
                                  std::string("123456789012345678901234567890.000000001"), std::string("-0.5"),
                                  std::string("NaN"), std::string("Infinity"), std::string("-Infinity"), thousand}) {
    // Our encoding read by the server, and the server's encoding read by us, both equal PostgreSQL's text.
    CHECK(value_of<std::string>(*c, "SELECT $1::numeric::text", Numeric{text}) == text);
    CHECK(value_of<Numeric>(*c, "SELECT $1::numeric", text).text == server_text(*c, "'" + text + "'::numeric"));
  }
  CHECK(value_of<Numeric>(*c, "SELECT 12345::numeric(10, -2)").text == "12300");
  CHECK(value_of<Numeric>(*c, "SELECT 1.50::numeric(10, 4)").text == "1.5000");
  CHECK_THROWS_AS(run(c->fetchval<Numeric>("SELECT $1::numeric", Numeric{"1e5"})), keel::ValueError);
}

TEST_CASE("dates, times, timestamps and intervals, with time zones, BC dates and infinities", "[pg][codecs]") {
  using namespace std::chrono;
  using namespace keel::pg;
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  run(c->execute("SET TimeZone = 'America/New_York'"));
  CHECK(value_of<Date>(*c, "SELECT '2000-01-01'::date").days == sys_days(year{2000} / 1 / 1));
  CHECK(value_of<Date>(*c, "SELECT '0044-03-15 BC'::date").days == sys_days(year{-43} / 3 / 15));
  CHECK(value_of<std::string>(*c, "SELECT $1::text", Date{sys_days(year{-43} / 3 / 15)}) == "0044-03-15 BC");
  CHECK(value_of<Date>(*c, "SELECT 'infinity'::date").infinity == 1);
  CHECK(value_of<std::string>(*c, "SELECT $1::text", Date{{}, -1}) == "-infinity");

  const TimestampTz instant = sys_days(year{2024} / 3 / 10) + hours(10) + microseconds(123456);
  CHECK(value_of<TimestampTz>(*c, "SELECT '2024-03-10 12:00:00.123456+02'::timestamptz") == instant);
  CHECK(value_of<std::string>(*c, "SELECT $1::text", instant) ==
        "2024-03-10 06:00:00.123456-04");  // New York, on daylight time since 02:00
  CHECK(value_of<TimestampTz>(*c, "SELECT 'infinity'::timestamptz") == TimestampTz::max());
  const Timestamp wall{local_days(year{1999} / 12 / 31) + hours(23) + minutes(59) + seconds(59), 0};
  CHECK(value_of<Timestamp>(*c, "SELECT '1999-12-31 23:59:59'::timestamp") == wall);
  CHECK(value_of<std::string>(*c, "SELECT $1::text", wall) == "1999-12-31 23:59:59");
  CHECK(value_of<Timestamp>(*c, "SELECT '-infinity'::timestamp").infinity == -1);

  CHECK(value_of<Time>(*c, "SELECT '12:34:56.789'::time").since_midnight ==
        hours(12) + minutes(34) + seconds(56) + milliseconds(789));
  const TimeTz tz = value_of<TimeTz>(*c, "SELECT '12:34:56+05:30'::timetz");
  CHECK(tz.since_midnight == hours(12) + minutes(34) + seconds(56));
  CHECK(tz.utc_offset_seconds == 5 * 3600 + 30 * 60);
  CHECK(value_of<std::string>(*c, "SELECT $1::text", tz) == "12:34:56+05:30");

  const Interval interval = value_of<Interval>(*c, "SELECT '1 year 2 mons 3 days 04:05:06.5'::interval");
  CHECK(interval.months == 14);
  CHECK(interval.days == 3);
  CHECK(interval.time == hours(4) + minutes(5) + seconds(6) + milliseconds(500));
  CHECK(value_of<std::string>(*c, "SELECT $1::text", Interval{-1, 2, -seconds(3)}) == "-1 mons +2 days -00:00:03");
}

TEST_CASE("uuid, json, jsonb, inet and cidr", "[pg][codecs]") {
  using namespace keel::pg;
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  const Uuid id = Uuid::parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  CHECK(value_of<Uuid>(*c, "SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid") == id);
  CHECK(value_of<std::string>(*c, "SELECT $1::text", id) == id.to_string());
  const boost::json::value document = boost::json::parse(R"({"a": [1, 2, null], "b": "ü"})");
  CHECK(value_of<boost::json::value>(*c, "SELECT $1", document) == document);
  CHECK(value_of<boost::json::value>(*c, "SELECT '{\"a\": [1, 2, null], \"b\": \"ü\"}'::json") == document);
  CHECK(value_of<std::string>(*c, "SELECT '[1,2]'::json") == "[1,2]");  // json's text is its text
  const Inet net = value_of<Inet>(*c, "SELECT '192.168.0.1/24'::inet");
  CHECK(net.address == boost::asio::ip::make_address("192.168.0.1"));
  CHECK(net.prefix == 24);
  CHECK_FALSE(net.is_cidr);
  CHECK(value_of<Inet>(*c, "SELECT '10.0.0.0/8'::cidr").is_cidr);
  CHECK(value_of<std::string>(*c, "SELECT $1::text", Inet{boost::asio::ip::make_address("::1")}) == "::1/128");
  CHECK(value_of<std::string>(*c, "SELECT host($1)", Inet{boost::asio::ip::make_address("2001:db8::5"), 64}) ==
        "2001:db8::5");
}

TEST_CASE("arrays: one and more dimensions, NULL elements, empty", "[pg][codecs]") {
  using namespace keel::pg;
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  CHECK(value_of<std::vector<int>>(*c, "SELECT ARRAY[1, 2, 3]::int4[]") == std::vector<int>{1, 2, 3});
  CHECK(value_of<std::vector<std::optional<std::string>>>(*c, "SELECT ARRAY['a', NULL, '']") ==
        std::vector<std::optional<std::string>>{"a", std::nullopt, ""});
  CHECK_THROWS_AS(value_of<std::vector<std::string>>(*c, "SELECT ARRAY['a', NULL]"), keel::NullValueError);
  CHECK(value_of<std::vector<std::string>>(*c, "SELECT '{}'::text[]").empty());
  const auto matrix = value_of<Array<std::int64_t>>(*c, "SELECT '{{1,2,3},{4,NULL,6}}'::int8[]");
  CHECK(matrix.dimensions == std::vector<int>{2, 3});
  CHECK(matrix.elements == std::vector<std::optional<std::int64_t>>{1, 2, 3, 4, std::nullopt, 6});
  CHECK(value_of<std::string>(*c, "SELECT $1::text", matrix) == "{{1,2,3},{4,NULL,6}}");
  CHECK(value_of<std::string>(*c, "SELECT $1::text", std::vector<double>{1.5, -2}) == "{1.5,-2}");
  CHECK(value_of<std::string>(*c, "SELECT $1::text", std::vector<std::optional<bool>>{true, std::nullopt}) ==
        "{t,NULL}");
  CHECK(value_of<std::int64_t>(*c, "SELECT cardinality($1)", std::vector<std::int64_t>{}) == 0);
  CHECK(value_of<std::vector<Numeric>>(*c, "SELECT ARRAY[1.5, -2]::numeric[]") ==
        std::vector<Numeric>{{"1.5"}, {"-2"}});
  CHECK(value_of<std::vector<Date>>(*c, "SELECT ARRAY['2000-01-02'::date]")[0].days ==
        std::chrono::sys_days(std::chrono::year{2000} / 1 / 2));
}

TEST_CASE("transactions on a connection: isolation, read-only, savepoints", "[pg][transactions]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  // A real table: temporary tables take writes even in read-only transactions.
  run(c->execute("DROP TABLE IF EXISTS account; CREATE TABLE account (id int PRIMARY KEY, balance int)"));
  run(c->begin({.isolation = keel::IsolationLevel::serializable, .read_only = true, .deferrable = true}));
  CHECK(c->is_in_transaction());
  CHECK(value_of<std::string>(*c, "SELECT current_setting('transaction_isolation')") == "serializable");
  CHECK(value_of<std::string>(*c, "SELECT current_setting('transaction_read_only')") == "on");
  CHECK(value_of<std::string>(*c, "SELECT current_setting('transaction_deferrable')") == "on");
  CHECK_THROWS_AS(run(c->begin()), keel::TransactionError);
  CHECK_THROWS_AS(run(c->execute("INSERT INTO account VALUES ($1, $2)", 1, 10)), keel::DatabaseError);  // read-only
  run(c->rollback());
  CHECK_FALSE(c->is_in_transaction());

  run(c->begin({.isolation = keel::IsolationLevel::repeatable_read}));
  CHECK(value_of<std::string>(*c, "SELECT current_setting('transaction_isolation')") == "repeatable read");
  run(c->execute("INSERT INTO account VALUES ($1, $2)", 1, 10));
  run(c->savepoint("before_two"));
  run(c->execute("INSERT INTO account VALUES ($1, $2)", 2, 20));
  run(c->rollback_to("before_two"));
  run(c->savepoint("kept"));
  run(c->execute("INSERT INTO account VALUES ($1, $2)", 3, 30));
  run(c->release("kept"));
  CHECK_THROWS_AS(run(c->savepoint("x; DROP TABLE account")), keel::InvalidIdentifierError);
  run(c->commit());
  CHECK(value_of<std::vector<int>>(*c, "SELECT array_agg(id ORDER BY id) FROM account") == std::vector<int>{1, 3});
  // A failed statement aborts the transaction; rollback recovers the connection.
  run(c->begin());
  CHECK_THROWS_AS(run(c->execute("INSERT INTO account VALUES ($1, $2)", 1, 0)), keel::UniqueViolation);
  CHECK_THROWS_AS(value_of<int>(*c, "SELECT 1"), keel::InvalidTransactionState);
  run(c->rollback());
  CHECK(value_of<int>(*c, "SELECT 1") == 1);
  // COMMIT of an aborted transaction is answered with ROLLBACK: an error, never a quiet success.
  run(c->begin());
  run(c->execute("INSERT INTO account VALUES ($1, $2)", 7, 70));
  CHECK_THROWS_AS(run(c->execute("INSERT INTO account VALUES ($1, $2)", 1, 0)), keel::UniqueViolation);
  CHECK_THROWS_AS(run(c->commit()), keel::TransactionAborted);
  CHECK_FALSE(c->is_in_transaction());
  CHECK(value_of<std::int64_t>(*c, "SELECT count(*) FROM account WHERE id = 7") == 0);
  run(c->execute("DROP TABLE account"));
}

TEST_CASE("prepare: parameters and attributes as the server sees them, typed runs, explain", "[pg][prepare]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  run(c->execute("CREATE TEMP TABLE item (id int4 PRIMARY KEY, price numeric(8,2), label text, seen timestamptz)"));
  run(c->execute(
      "INSERT INTO item SELECT g, g * 1.25, 'item ' || g, '2024-01-01'::timestamptz FROM generate_series(1, 20) g"));
  auto statement =
      run(c->prepare("SELECT id, price, label FROM item WHERE id BETWEEN $1 AND $2 AND label LIKE $3 ORDER BY id"));
  const auto parameters = statement.get_parameters();
  REQUIRE(parameters.size() == 3);
  CHECK(parameters[0].oid == keel::pg::types::int4);
  CHECK(parameters[0].name == "int4");
  CHECK(parameters[2].name == "text");
  const auto attributes = statement.get_attributes();
  REQUIRE(attributes.size() == 3);
  CHECK(attributes[1].name == "price");
  CHECK(attributes[1].type.name == "numeric");
  CHECK(statement.get_query().starts_with("SELECT id, price"));

  // An int64 C++ value goes to an int4 parameter, converted and range-checked.
  auto rows = run(statement.fetch(std::int64_t{2}, std::int64_t{4}, "item %"));
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].get<keel::pg::Numeric>("price").text == "2.50");
  CHECK(statement.get_statusmsg() == "SELECT 3");
  CHECK(run(statement.fetchval<int>(5, 5, "%")) == 5);
  CHECK_FALSE(run(statement.fetchrow(50, 60, "%")).has_value());
  CHECK_THROWS_AS(run(statement.fetch(std::int64_t{1} << 40, 2, "%")), keel::ValueOutOfRangeError);
  CHECK_THROWS_AS(run(statement.fetch(1.5, 2, "%")), keel::TypeMismatchError);
  CHECK_THROWS_AS(run(statement.fetch(1, 2)), keel::MisuseError);
  // The connection still answers after each refusal (they happen before anything is sent).
  CHECK(run(statement.fetchval<int>(1, 1, "item%")) == 1);

  auto plan = run(statement.explain(false, 1, 10, "%"));
  REQUIRE(plan.is_array());
  CHECK(plan.as_array().at(0).as_object().contains("Plan"));
  auto deleting = run(c->prepare("DELETE FROM item WHERE id = $1"));
  auto analyzed = run(deleting.explain(true, 3));
  CHECK(analyzed.as_array().at(0).as_object().contains("Execution Time"));
  CHECK(value_of<std::int64_t>(*c, "SELECT count(*) FROM item") == 20);  // explain analyze rolled back
  // A prepared statement dropped is closed on the server with the next statement.
  const auto before =
      value_of<std::int64_t>(*c, "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'keel_p%'");
  { auto temporary = run(c->prepare("SELECT 1")); }
  run(c->fetch("SELECT 2"));
  CHECK(value_of<std::int64_t>(*c, "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'keel_p%'") == before);
}

namespace {
enum class Mood { sad, ok, happy };
}  // namespace

TEST_CASE("set_type_codec: an enum and hstore, as asyncpg does it", "[pg][codecs]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  run(c->execute("DROP TYPE IF EXISTS mood CASCADE; CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')"));
  run(c->set_type_codec<Mood>(
      "mood", [](const Mood& m) { return std::string(m == Mood::sad  ? "sad"
                                                     : m == Mood::ok ? "ok"
                                                                     : "happy"); },
      [](std::string_view text) { return text == "sad"  ? Mood::sad
                                         : text == "ok" ? Mood::ok
                                                        : Mood::happy; }));
  CHECK(value_of<Mood>(*c, "SELECT 'happy'::mood") == Mood::happy);
  CHECK(value_of<std::string>(*c, "SELECT $1::text", Mood::sad) == "sad");
  CHECK(value_of<bool>(*c, "SELECT $1 = 'ok'::mood", Mood::ok));
  CHECK(value_of<std::vector<std::string>>(*c, "SELECT enum_range(NULL::mood)::text[]") ==
        std::vector<std::string>{"sad", "ok", "happy"});
  // Without a codec, the type is not guessed.
  CHECK_THROWS_AS(value_of<Mood>(*connect(dsn("keel_trust", "sslmode=disable")), "SELECT 'ok'::mood"),
                  keel::TypeMismatchError);
  CHECK_THROWS_AS(run(c->set_type_codec<Mood>("no_such_type", nullptr, nullptr)), keel::MisuseError);

  using Store = std::map<std::string, std::string>;
  run(c->execute("CREATE EXTENSION IF NOT EXISTS hstore"));
  run(c->set_type_codec<Store>(
      "hstore",
      [](const Store& store) {
        std::string text;
        for (const auto& [key, value] : store)
          text += (text.empty() ? "" : ",") + ("\"" + key + "\"=>\"" + value + "\"");
        return text;
      },
      [](std::string_view text) {  // "a"=>"1", "b"=>"2" (the test's keys and values hold no quotes)
        Store store;
        std::vector<std::string> quoted;
        for (std::size_t at = text.find('"'); at != std::string_view::npos; at = text.find('"', at + 1)) {
          const std::size_t end = text.find('"', at + 1);
          quoted.emplace_back(text.substr(at + 1, end - at - 1));
          at = end;
        }
        for (std::size_t i = 0; i + 1 < quoted.size(); i += 2) store[quoted[i]] = quoted[i + 1];
        return store;
      }));
  CHECK(value_of<Store>(*c, "SELECT 'a=>1, b=>2'::hstore") == Store{{"a", "1"}, {"b", "2"}});
  CHECK(value_of<std::string>(*c, "SELECT $1 -> 'x'", Store{{"x", "42"}}) == "42");
}

TEST_CASE("the statement cache's lifetime and size limits; reset clears the session", "[pg][cache]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"), {.statement_cache_size = 10,
                                                          .max_cached_statement_lifetime = std::chrono::seconds(1),
                                                          .max_cacheable_statement_size = 40});
  run(c->fetch("SELECT 1"));
  CHECK(c->cached_statements() == 1);
  run(c->fetch("SELECT 1 /* a text longer than the forty characters allowed */"));
  CHECK(c->cached_statements() == 1);  // too long to cache
  auto named = [&] {
    return value_of<std::int64_t>(*c, "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'keel_s%'");
  };
  const auto before = named();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  run(c->fetch("SELECT 1"));  // expired: prepared again, and the old one closed
  run(c->fetch("SELECT 2"));
  CHECK(named() <= before + 1);

  run(c->execute("SET application_name = 'changed'; SET search_path = pg_catalog"));
  CHECK(value_of<bool>(*c, "SELECT pg_try_advisory_lock(42)"));
  run(c->begin());
  run(c->reset());
  CHECK_FALSE(c->is_in_transaction());
  CHECK(value_of<std::string>(*c, "SELECT current_setting('search_path')") == "\"$user\", public");
  CHECK(value_of<std::int64_t>(
            *c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()") == 0);
}

TEST_CASE("more error classes: foreign key, undefined column, query canceled, serialization failure, deadlock",
          "[pg][errors]") {
  auto a = connect(dsn("keel_trust", "sslmode=disable"));
  auto b = connect(dsn("keel_trust", "sslmode=disable"));
  run(
      a->execute("DROP TABLE IF EXISTS child, parent; CREATE TABLE parent (id int PRIMARY KEY, n int);"
                 "CREATE TABLE child (id int PRIMARY KEY, parent int REFERENCES parent); INSERT INTO parent VALUES (1, "
                 "0), (2, 0)"));
  CHECK_THROWS_AS(run(a->execute("INSERT INTO child VALUES ($1, $2)", 1, 99)), keel::ForeignKeyViolation);
  CHECK_THROWS_AS(run(a->fetch("SELECT nope FROM parent")), keel::UndefinedColumn);
  run(a->execute("SET statement_timeout = '50ms'"));
  CHECK_THROWS_AS(run(a->fetch("SELECT pg_sleep(5)")), keel::QueryCanceled);
  run(a->execute("RESET statement_timeout"));

  // Serialization failure: two serializable transactions that each read what the other writes.
  run(a->begin({.isolation = keel::IsolationLevel::serializable}));
  run(b->begin({.isolation = keel::IsolationLevel::serializable}));
  run(a->fetch("SELECT sum(n) FROM parent"));
  run(b->fetch("SELECT sum(n) FROM parent"));
  run(a->execute("UPDATE parent SET n = n + 1 WHERE id = $1", 1));
  run(b->execute("UPDATE parent SET n = n + 1 WHERE id = $1", 2));
  run(a->commit());
  CHECK_THROWS_AS(run(b->commit()), keel::SerializationFailure);
  CHECK_FALSE(b->is_in_transaction());

  // Deadlock: each holds one row and waits for the other's; the server picks a victim.
  run(a->begin());
  run(b->begin());
  run(a->execute("UPDATE parent SET n = 0 WHERE id = $1", 1));
  run(b->execute("UPDATE parent SET n = 0 WHERE id = $1", 2));
  int deadlocks = 0;
  auto second_lock = [&](PgConnection& c, int id) -> asio::awaitable<void> {
    try {
      co_await c.execute("UPDATE parent SET n = 1 WHERE id = $1", id);
    } catch (const keel::DeadlockDetected&) {
      ++deadlocks;
    }
  };
  asio::co_spawn(loop(), second_lock(*a, 2), asio::detached);
  asio::co_spawn(loop(), second_lock(*b, 1), asio::detached);
  loop().restart();
  loop().run();
  CHECK(deadlocks == 1);
  run(a->rollback());
  run(b->rollback());
  run(a->execute("DROP TABLE child, parent"));
}

TEST_CASE("completion tokens: callbacks and futures as well as coroutines", "[pg][tokens]") {
  std::unique_ptr<PgConnection> c;
  std::exception_ptr failure;
  PgConnection::async_connect(loop().get_executor(), dsn("keel_trust", "sslmode=disable"),
                              [&](std::exception_ptr e, std::unique_ptr<PgConnection> connected) {
                                failure = e;
                                c = std::move(connected);
                              });
  loop().restart();
  loop().run();
  REQUIRE_FALSE(failure);
  REQUIRE(c);
  std::string status;
  c->async_execute("SELECT 1", [&](std::exception_ptr e, std::string s) {
    failure = e;
    status = std::move(s);
  });
  loop().restart();
  loop().run();
  CHECK_FALSE(failure);
  CHECK(status == "SELECT 1");
  auto future = c->async_fetch("SELECT $1::int8 * 2", {21}, asio::use_future);
  loop().restart();
  loop().run();
  CHECK(future.get().at(0).get<std::int64_t>(0) == 42);
  // Errors reach the token too.
  c->async_execute("SELEC 1", [&](std::exception_ptr e, std::string) { failure = e; });
  loop().restart();
  loop().run();
  CHECK_THROWS_AS(std::rethrow_exception(failure), keel::SyntaxError);
}

TEST_CASE("a client certificate authenticates (sslcert, sslkey)", "[pg][tls]") {
  // The key must be readable by this process; the fixture made it for the server's user, so copy it.
  const auto key = std::filesystem::temp_directory_path() / ("keel-client-key-" + std::to_string(::getpid()));
  std::filesystem::copy_file(cluster().at("KEEL_PG_CLIENT_KEY"), key,
                             std::filesystem::copy_options::overwrite_existing);
  ::chmod(key.c_str(), 0600);
  const std::string tls = "sslmode=verify-full sslrootcert=" + cluster().at("KEEL_PG_CA") +
                          " sslcert=" + cluster().at("KEEL_PG_CLIENT_CERT") + " sslkey=" + key.string();
  auto c = connect(dsn("keel_cert", tls));
  CHECK(c->is_tls());
  CHECK(value_of<std::string>(*c, "SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == "/CN=keel_cert");
  // Without the certificate, the server refuses.
  CHECK_THROWS_AS(connect(dsn("keel_cert", "sslmode=require sslcert=/nonexistent sslkey=/nonexistent")),
                  keel::InvalidAuthorization);
  std::filesystem::remove(key);
}

namespace {
struct Member {
  std::int32_t id = 0;
  std::string name;
  std::optional<double> rating;
  keel::pg::TimestampTz joined;
};
}  // namespace

TEST_CASE("fetch_as decodes rows straight into structs, tuples and single values", "[pg][api]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  const char* sql =
      "SELECT n::int4, 'member ' || n, CASE WHEN n % 2 = 0 THEN n * 1.5 END::float8, "
      "timestamptz '2024-01-01 00:00:00+00' + n * interval '1 day' FROM generate_series(1, $1::int) AS n ORDER BY n";
  const auto members = run(c->fetch_as<Member>(sql, 3));
  REQUIRE(members.size() == 3);
  CHECK(members[0].id == 1);
  CHECK(members[0].name == "member 1");
  CHECK_FALSE(members[0].rating);
  CHECK(members[1].rating == 3.0);
  CHECK(members[2].joined - members[0].joined == std::chrono::hours(48));

  const auto tuples =
      run(c->fetch_as<std::tuple<std::int32_t, std::string>>("SELECT 7, 'seven' UNION ALL SELECT 8, 'eight'"));
  REQUIRE(tuples.size() == 2);
  CHECK(std::get<1>(tuples[1]) == "eight");
  CHECK(run(c->fetch_as<std::int64_t>("SELECT generate_series(1, 4)::int8")) == std::vector<std::int64_t>{1, 2, 3, 4});
  CHECK(run(c->fetch_as<std::optional<std::string>>("SELECT NULL::text")) ==
        std::vector<std::optional<std::string>>{std::nullopt});

  // Mistakes are typed errors, and the connection stays usable.
  CHECK_THROWS_AS(run(c->fetch_as<std::int64_t>("SELECT NULL::int8")), keel::NullValueError);
  CHECK_THROWS_AS(run(c->fetch_as<std::tuple<int, int>>("SELECT 1")), keel::MisuseError);
  CHECK_THROWS_AS(run(c->fetch_as<std::int64_t>("SELECT 'text'::text")), keel::TypeMismatchError);
  CHECK(run(c->fetchval<std::int64_t>("SELECT 9")) == 9);
}

TEST_CASE("run_script: each statement's rows in text and its status, in order; an error after some results",
          "[pg][query]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  std::vector<keel::pg::TextResult> results;
  auto collect = [&](const keel::pg::TextResult& result) { results.push_back(result); };
  run(c->run_script(
      "SELECT 1 AS one, NULL::text AS nothing; CREATE TEMP TABLE scripted (id int); SELECT 'x' WHERE false", collect));
  REQUIRE(results.size() == 3);
  CHECK(results[0].returns_rows);
  CHECK(results[0].columns == std::vector<std::string>{"one", "nothing"});
  CHECK(results[0].rows == std::vector<std::vector<std::optional<std::string>>>{{"1", std::nullopt}});
  CHECK(results[0].status == "SELECT 1");
  CHECK_FALSE(results[1].returns_rows);
  CHECK(results[1].status == "CREATE TABLE");
  CHECK(results[2].returns_rows);
  CHECK(results[2].rows.empty());

  // The results before an error are heard; the error is thrown; the connection goes on.
  results.clear();
  CHECK_THROWS_AS(run(c->run_script("INSERT INTO scripted VALUES (1); SELECT 1/0; SELECT 3", collect)),
                  keel::DatabaseError);
  REQUIRE(results.size() == 1);
  CHECK(results[0].status == "INSERT 0 1");
  // COPY TO STDOUT's data to the sink; a handler that throws ends the call with its exception.
  std::string copied;
  run(c->run_script("COPY (SELECT 7) TO STDOUT", collect, [&](std::span<const std::uint8_t> chunk) {
    copied.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
  }));
  CHECK(copied == "7\n");
  CHECK_THROWS_WITH(
      run(c->run_script("SELECT 1; SELECT 2", [](const keel::pg::TextResult&) { throw std::runtime_error("full"); })),
      "full");
  CHECK(run(c->fetchval<std::int64_t>("SELECT 40 + 2")) == 42);
  CHECK(c->pending_requests() == 0);
}

TEST_CASE(
    "run_script: each COPY FROM STDIN takes its data from copy_in; without it, or when it throws, the COPY is refused",
    "[pg][query][copy]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"));
  std::vector<keel::pg::TextResult> results;
  auto collect = [&](const keel::pg::TextResult& r) { results.push_back(r); };
  // Two COPYs in one script: the source gives each its chunks, an empty one ending each.
  std::vector<std::string> chunks = {"1\tone\n", "2\ttwo\n", "", "3\tthree\n", ""};
  std::size_t next = 0;
  auto source = [&]() -> std::string_view {
    return next < chunks.size() ? std::string_view(chunks[next++]) : std::string_view();
  };
  run(c->run_script(
      "CREATE TEMP TABLE pasted (n int, word text); COPY pasted FROM STDIN; COPY pasted (n, word) FROM STDIN; "
      "SELECT string_agg(word, ',' ORDER BY n) FROM pasted",
      collect, {}, source));
  REQUIRE(results.size() == 4);
  CHECK(results[1].status == "COPY 2");
  CHECK(results[2].status == "COPY 1");
  CHECK(results[3].rows.at(0).at(0) == "one,two,three");
  // Bad data: the server's error, the rest of the script skipped.
  results.clear();
  chunks = {"4\tfour\nnot a number\tfive\n", ""};
  next = 0;
  CHECK_THROWS_AS(run(c->run_script("COPY pasted FROM STDIN; SELECT 1", collect, {}, source)), keel::DataException);
  CHECK(results.empty());
  // A source that throws: CopyFail, nothing stored, its exception rethrown.
  auto failing = []() -> std::string_view { throw std::runtime_error("the file went away"); };
  CHECK_THROWS_WITH(run(c->run_script("COPY pasted FROM STDIN", collect, {}, failing)), "the file went away");
  // No source: refused, as execute refuses it.
  CHECK_THROWS_AS(run(c->run_script("COPY pasted FROM STDIN", collect)), keel::QueryCanceled);
  CHECK(run(c->fetchval<std::int64_t>("SELECT count(*) FROM pasted")) == 3);
  CHECK(c->pending_requests() == 0);
}
