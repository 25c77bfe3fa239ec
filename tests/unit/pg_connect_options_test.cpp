// Connection options read as libpq reads them: URIs, key=value strings, the PG* environment, defaults,
// several hosts, and the password file. No server, no real environment.
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
import keel;
import keel.postgres;

using keel::pg::DsnError;
using keel::pg::HostSpec;
using keel::pg::SslMode;
using keel::pg::TargetSessionAttrs;

namespace {

keel::pg::Environment environment(std::map<std::string, std::string> variables) {
  variables.emplace("HOME", "/home/test");
  return [variables](std::string_view name) -> std::optional<std::string> {
    if (auto found = variables.find(std::string(name)); found != variables.end()) return found->second;
    return std::nullopt;
  };
}

keel::pg::ConnectOptions parse(std::string_view dsn, std::map<std::string, std::string> variables = {}) {
  return keel::pg::parse_dsn(dsn, environment(std::move(variables)));
}

}  // namespace

TEST_CASE("a URI gives user, password, hosts, database and parameters", "[pg][dsn]") {
  auto o = parse("postgresql://bob:s%40cret@db.example.com:6432/app%20db?sslmode=verify-full&application_name=api"
                 "&connect_timeout=10&target_session_attrs=read-write");
  CHECK(o.user == "bob");
  CHECK(o.password == std::optional<std::string>("s@cret"));
  CHECK(o.hosts == std::vector<HostSpec>{{"db.example.com", 6432, ""}});
  CHECK(o.database == "app db");
  CHECK(o.ssl_mode == SslMode::verify_full);
  CHECK(o.application_name == "api");
  CHECK(o.connect_timeout == std::chrono::seconds(10));
  CHECK(o.target_session_attrs == TargetSessionAttrs::read_write);
}

TEST_CASE("a URI may list several hosts, IPv6 addresses and a socket directory", "[pg][dsn]") {
  auto o = parse("postgres://a.example:5433,[::1]:5434,c.example/db");
  CHECK(o.hosts == std::vector<HostSpec>{{"a.example", 5433}, {"::1", 5434}, {"c.example", 5432}});
  auto socket = parse("postgresql://%2Fvar%2Frun%2Fpostgresql/db?user=app");
  REQUIRE(socket.hosts.size() == 1);
  CHECK(socket.hosts[0].host == "/var/run/postgresql");
  CHECK(socket.hosts[0].is_unix_socket());
  CHECK(socket.user == "app");
  CHECK(parse("postgresql:///db?host=/tmp&port=7000").hosts == std::vector<HostSpec>{{"/tmp", 7000}});
}

TEST_CASE("key=value strings follow libpq's quoting", "[pg][dsn]") {
  auto o = parse(R"(host=h1,h2 port=5432,5433 dbname='my db' user=bob password='it\'s' sslmode=require)");
  CHECK(o.hosts == std::vector<HostSpec>{{"h1", 5432}, {"h2", 5433}});
  CHECK(o.database == "my db");
  CHECK(o.password == std::optional<std::string>("it's"));
  CHECK(o.ssl_mode == SslMode::require);
  CHECK(parse("host=h1,h2 port=6000").hosts == std::vector<HostSpec>{{"h1", 6000}, {"h2", 6000}});
  CHECK(parse("options='-c search_path=app'").options == "-c search_path=app");
  auto with_address = parse("host=db.example hostaddr=10.0.0.5 port=5433");
  REQUIRE(with_address.hosts.size() == 1);
  CHECK(with_address.hosts[0].host == "db.example");
  CHECK(with_address.hosts[0].address == "10.0.0.5");
}

TEST_CASE("the environment fills what the string leaves out, and defaults follow libpq", "[pg][dsn]") {
  auto o = parse("dbname=app", {{"PGHOST", "envhost"}, {"PGPORT", "7777"}, {"PGUSER", "envuser"},
                                {"PGPASSWORD", "pw"}, {"PGDATABASE", "ignored"}, {"PGSSLMODE", "disable"},
                                {"PGAPPNAME", "envapp"}, {"PGCONNECT_TIMEOUT", "1"}, {"PGSSLROOTCERT", "/ca.pem"},
                                {"PGTARGETSESSIONATTRS", "prefer-standby"}, {"PGPASSFILE", "/pgpass"}});
  CHECK(o.hosts == std::vector<HostSpec>{{"envhost", 7777}});
  CHECK(o.user == "envuser");
  CHECK(o.password == std::optional<std::string>("pw"));
  CHECK(o.database == "app");  // the string wins over PGDATABASE
  CHECK(o.ssl_mode == SslMode::disable);
  CHECK(o.application_name == "envapp");
  CHECK(o.connect_timeout == std::chrono::seconds(2));  // libpq's minimum
  CHECK(o.ssl_root_cert == "/ca.pem");
  CHECK(o.target_session_attrs == TargetSessionAttrs::prefer_standby);
  CHECK(o.passfile == "/pgpass");

  auto defaults = parse("user=alice");
  CHECK(defaults.hosts == std::vector<HostSpec>{{"/var/run/postgresql", 5432}});
  CHECK(defaults.database == "alice");  // the database defaults to the user name
  CHECK(defaults.ssl_mode == SslMode::prefer);
  CHECK_FALSE(defaults.connect_timeout.has_value());
  CHECK(defaults.passfile == "/home/test/.pgpass");
  CHECK(defaults.ssl_root_cert == "/home/test/.postgresql/root.crt");
}

TEST_CASE("bad connection strings are clear errors", "[pg][dsn]") {
  CHECK_THROWS_AS(parse("host=h colour=blue"), DsnError);
  CHECK_THROWS_WITH(parse("host=h colour=blue"), Catch::Contains("invalid connection option \"colour\""));
  CHECK_THROWS_AS(parse("host"), DsnError);
  CHECK_THROWS_AS(parse("password='unterminated"), DsnError);
  CHECK_THROWS_AS(parse("port=99999"), DsnError);
  CHECK_THROWS_AS(parse("port=54x"), DsnError);
  CHECK_THROWS_AS(parse("host=a,b,c port=1,2"), DsnError);
  CHECK_THROWS_WITH(parse("sslmode=verify"), Catch::Contains("invalid sslmode value"));
  CHECK_THROWS_AS(parse("target_session_attrs=fastest"), DsnError);
  CHECK_THROWS_AS(parse("connect_timeout=soon"), DsnError);
  CHECK_THROWS_AS(parse("mysql://localhost/db"), DsnError);
  CHECK_THROWS_AS(parse("postgresql://[::1/db"), DsnError);
  CHECK_THROWS_AS(parse("postgresql://h/db?%zz=1"), DsnError);
}

TEST_CASE("the password file: first match wins, * matches anything, sockets match localhost", "[pg][dsn]") {
  const std::string pgpass =
      "# comment\n"
      "db.example.com:5432:app:bob:first\n"
      "db.example.com:*:*:bob:second\n"
      "localhost:5432:*:*:socket\n"
      "weird\\:host:5432:*:*:esc\\:aped\\\\\n"
      "*:*:*:*:fallback\n";
  using keel::pg::password_from_pgpass_text;
  CHECK(password_from_pgpass_text(pgpass, {"db.example.com", 5432}, "app", "bob") == std::optional<std::string>("first"));
  CHECK(password_from_pgpass_text(pgpass, {"db.example.com", 6000}, "other", "bob") == std::optional<std::string>("second"));
  CHECK(password_from_pgpass_text(pgpass, {"/var/run/postgresql", 5432}, "x", "y") == std::optional<std::string>("socket"));
  CHECK(password_from_pgpass_text(pgpass, {"weird:host", 5432}, "x", "y") == std::optional<std::string>("esc:aped\\"));
  CHECK(password_from_pgpass_text(pgpass, {"other", 1}, "x", "y") == std::optional<std::string>("fallback"));
  CHECK_FALSE(password_from_pgpass_text("h:5432:db:u:pw\n", {"h", 5432}, "db", "v").has_value());
}
