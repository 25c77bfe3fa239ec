// The PostgreSQL connection against the private cluster that tests/postgres/cluster starts (a CTest fixture):
// every authentication method, TLS by sslmode, several hosts, queries with bound values, errors by SQLSTATE,
// and the statement cache.
#include <catch2/catch.hpp>
#include <boost/asio.hpp>
#include <sys/stat.h>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <unistd.h>
import keel;
import keel.postgres;

namespace asio = boost::asio;
using keel::pg::PgConnection;

namespace {

// Where the fixture's cluster is: KEEL_PG_CLUSTER/cluster.env.
const std::map<std::string, std::string>& cluster() {
  static const std::map<std::string, std::string> values = [] {
    std::map<std::string, std::string> v;
    const char* dir = std::getenv("KEEL_PG_CLUSTER");
    REQUIRE(dir);
    std::ifstream env(std::string(dir) + "/cluster.env");
    for (std::string line; std::getline(env, line);)
      if (auto eq = line.find('='); eq != std::string::npos) v[line.substr(0, eq)] = line.substr(eq + 1);
    REQUIRE(v.contains("KEEL_PG_PORT"));
    return v;
  }();
  return values;
}

std::string dsn(const std::string& user, const std::string& extra = "") {
  const auto& c = cluster();
  return "host=127.0.0.1 port=" + c.at("KEEL_PG_PORT") + " dbname=keel_test user=" + user +
         " passfile=/nonexistent sslrootcert=/nonexistent " + extra;
}

// A connection lives on the event loop it connected on: every test runs its coroutines on this one.
asio::io_context& loop() {
  static asio::io_context context;
  return context;
}
template <class T>
T run(asio::awaitable<T> work) {
  auto result = asio::co_spawn(loop(), std::move(work), asio::use_future);
  loop().restart();
  loop().run();
  return result.get();
}

std::unique_ptr<PgConnection> connect(const std::string& dsn_text, keel::pg::PgConnectionOptions options = {}) {
  return run(PgConnection::connect(dsn_text, options));
}

keel::Rows fetch(PgConnection& connection, const std::string& sql, std::vector<keel::Value> params = {}) {
  return run([&]() -> asio::awaitable<keel::Rows> {
    keel::RowsCollector collector;
    const keel::ExecResult result = co_await connection.fetch(sql, params, &collector);
    co_return collector.result(result);
  }());
}

std::string execute(PgConnection& connection, const std::string& sql) { return run(connection.execute(sql)); }

}  // namespace

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
}

TEST_CASE("password, md5 and SCRAM-SHA-256 authentication; a wrong password is SQLSTATE 28P01", "[pg][auth]") {
  CHECK(connect(dsn("keel_plain", "password='plain secret' sslmode=disable"))->authentication_method() == "password");
  CHECK(connect(dsn("keel_md5", "password='md5 secret' sslmode=disable"))->authentication_method() == "md5");
  CHECK(connect(dsn("keel_scram", "password='scram secret' sslmode=disable"))->authentication_method() == "SCRAM-SHA-256");
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
  CHECK_THROWS_WITH(connect(dsn("keel_tls", tls_user + "sslmode=verify-full host=db.example.com hostaddr=127.0.0.1 " + ca)),
                    Catch::Contains("does not match the host name \"db.example.com\""));
  // verify-ca with no root certificate to check against.
  CHECK_THROWS_AS(connect(dsn("keel_tls", tls_user + "sslmode=verify-ca")), keel::pg::TlsError);
  // channel_binding=require cannot be met without TLS.
  CHECK_THROWS_WITH(connect(dsn("keel_scram", "password='scram secret' sslmode=disable channel_binding=require")),
                    Catch::Contains("channel_binding=require"));
  // SCRAM over TLS without binding, when told not to bind.
  CHECK(connect(dsn("keel_tls", tls_user + "sslmode=require channel_binding=disable"))->authentication_method() ==
        "SCRAM-SHA-256");
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
  auto inserted = run(c->fetch("INSERT INTO band VALUES ($1, $2), ($3, $4)",
                                          std::vector<keel::Value>{1, "a", 2, "b"}, &ignored));
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
  CHECK_THROWS_AS(run(c->fetch("SELECT a FROM (VALUES (NULL::int), (1), (2)) AS v (a)", {}, &reads_ints)),
                  keel::NullValueError);
  CHECK(fetch(*c, "SELECT 3")[0].get<int>(0) == 3);
}

TEST_CASE("the statement cache: reuse, eviction, size 0, and a transparent re-prepare after ALTER TABLE", "[pg][cache]") {
  auto c = connect(dsn("keel_trust", "sslmode=disable"), {.statement_cache_size = 2});
  for (int i = 0; i < 3; ++i) CHECK(fetch(*c, "SELECT $1::int8", {i})[0].get<int>(0) == i);
  CHECK(c->cached_statements() == 1);
  fetch(*c, "SELECT 2");
  fetch(*c, "SELECT 3");
  CHECK(c->cached_statements() == 2);  // the oldest was evicted
  auto prepared = [&] {
    return fetch(*c, "SELECT count(*) FROM pg_prepared_statements")[0].get<std::int64_t>(0);
  };
  CHECK(prepared() <= 3);

  execute(*c, "CREATE TEMP TABLE altered (a int)");
  execute(*c, "INSERT INTO altered VALUES (1)");
  CHECK(fetch(*c, "SELECT * FROM altered")[0].size() == 1);
  execute(*c, "ALTER TABLE altered ADD COLUMN b int DEFAULT 5");
  auto after = fetch(*c, "SELECT * FROM altered");  // prepared again, transparently
  REQUIRE(after[0].size() == 2);
  CHECK(after[0].get<int>("b") == 5);

  auto uncached = connect(dsn("keel_trust", "sslmode=disable"), {.statement_cache_size = 0});
  for (int i = 0; i < 3; ++i) CHECK(fetch(*uncached, "SELECT $1::int8", {i})[0].get<int>(0) == i);
  CHECK(uncached->cached_statements() == 0);
  CHECK(fetch(*uncached, "SELECT count(*) FROM pg_prepared_statements")[0].get<std::int64_t>(0) == 0);
}
