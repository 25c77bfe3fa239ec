// Connection options read as libpq reads them: URIs, key=value strings, the PG* environment, defaults,
// several hosts, and the password file. No server, no real environment.
#include <catch2/catch.hpp>
#include <boost/asio.hpp>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <chrono>
#include <filesystem>
#include <fstream>
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
  auto o = parse(
      "postgresql://bob:s%40cret@db.example.com:6432/app%20db?sslmode=verify-full&application_name=api"
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

TEST_CASE("a URI's query: empty parts skipped, '=' required, no '+' for a space, no fragment", "[pg][dsn]") {
  CHECK(parse("postgresql://h/db?").database == "db");
  CHECK(parse("postgresql://h/db?&&application_name=a+b%26c&").application_name == "a+b&c");
  CHECK_THROWS_WITH(parse("postgresql://h/db?sslmode"), Catch::Contains("missing \"=\""));
  // Found by the fuzzer: Boost.URL's parameter iterator ran off its buffer on an empty query before a '#'.
  CHECK_THROWS_AS(parse("postgresql://h1:?#target_session_attrs=2"), DsnError);
  CHECK_THROWS_AS(parse("postgresql://h/db?#"), DsnError);
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
  auto o = parse("dbname=app", {{"PGHOST", "envhost"},
                                {"PGPORT", "7777"},
                                {"PGUSER", "envuser"},
                                {"PGPASSWORD", "pw"},
                                {"PGDATABASE", "ignored"},
                                {"PGSSLMODE", "disable"},
                                {"PGAPPNAME", "envapp"},
                                {"PGCONNECT_TIMEOUT", "1"},
                                {"PGSSLROOTCERT", "/ca.pem"},
                                {"PGTARGETSESSIONATTRS", "prefer-standby"},
                                {"PGPASSFILE", "/pgpass"}});
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
  CHECK(password_from_pgpass_text(pgpass, {"db.example.com", 5432}, "app", "bob") ==
        std::optional<std::string>("first"));
  CHECK(password_from_pgpass_text(pgpass, {"db.example.com", 6000}, "other", "bob") ==
        std::optional<std::string>("second"));
  CHECK(password_from_pgpass_text(pgpass, {"/var/run/postgresql", 5432}, "x", "y") ==
        std::optional<std::string>("socket"));
  CHECK(password_from_pgpass_text(pgpass, {"weird:host", 5432}, "x", "y") == std::optional<std::string>("esc:aped\\"));
  CHECK(password_from_pgpass_text(pgpass, {"other", 1}, "x", "y") == std::optional<std::string>("fallback"));
  CHECK_FALSE(password_from_pgpass_text("h:5432:db:u:pw\n", {"h", 5432}, "db", "v").has_value());
}

namespace {

// The hosts a parse gives, as "host:port" or "host:port@address", comma-separated; or "error".
std::string hosts_of(std::string_view dsn) {
  try {
    std::string out;
    for (const HostSpec& h : parse(dsn).hosts) {
      if (!out.empty()) out += ',';
      out += h.host + ":" + std::to_string(h.port) + (h.address.empty() ? "" : "@" + h.address);
    }
    return out;
  } catch (const DsnError&) {
    return "error";
  }
}

}  // namespace

// What libpq 15 does with each string (PQconninfoParse, then the option checks of PQconnectStart), recorded
// by hand from a probe program: "error" where libpq refuses the string or an option in it.
TEST_CASE("connection strings are read as libpq reads them", "[pg][dsn]") {
  const std::vector<std::pair<std::string, std::string>> table{
      {"postgresql://", "/var/run/postgresql:5432"},
      {"postgresql://localhost", "localhost:5432"},
      {"postgresql://localhost:5433", "localhost:5433"},
      {"postgresql://localhost/mydb", "localhost:5432"},
      {"postgresql://user@localhost", "localhost:5432"},
      {"postgresql://user:secret@localhost", "localhost:5432"},
      {"postgresql://other@localhost/otherdb?connect_timeout=10&application_name=myapp", "localhost:5432"},
      {"postgresql://host1:123,host2:456/somedb?target_session_attrs=any&application_name=myapp",
       "host1:123,host2:456"},
      {"postgresql://[::1]:5433/db", "::1:5433"},
      {"postgresql://[::1]/db", "::1:5432"},
      {"postgresql://::1/db", "error"},  // libpq: invalid integer value ":1" for connection option "port"
      {"postgresql://localhost:5432:5433/db", "error"},
      {"postgresql://localhost:abc/db", "error"},
      {"postgresql://localhost:99999/db", "error"},
      {"postgresql:///mydb?host=/tmp", "/tmp:5432"},
      {"postgresql://%2Ftmp/db", "/tmp:5432"},
      {"postgresql://user%40x:p%40ss@localhost/db", "localhost:5432"},
      {"postgres://localhost/db", "localhost:5432"},
      {"postgresql://localhost/db?sslmode=verify-full", "localhost:5432"},
      {"postgresql://localhost/db?sslmode=bogus", "error"},
      {"postgresql://localhost/db?nosuchoption=1", "error"},
      {"postgresql://localhost/db?port=5434", "localhost:5434"},
      {"postgresql://h1,h2:5433/db", "h1:5432,h2:5433"},
      {"postgresql://h1:5432,h2/db", "h1:5432,h2:5432"},
      {"postgresql://localhost/db?target_session_attrs=read-only", "localhost:5432"},
      {"postgresql://localhost/db?target_session_attrs=nope", "error"},
      {"postgresql://localhost/db?connect_timeout=abc", "error"},  // libpq refuses it when the connection completes
      {"postgresql://localhost/db?connect_timeout=1", "localhost:5432"},
      {"mysql://localhost/db", "error"},
      {"host=localhost", "localhost:5432"},
      {"host=localhost port=5433 dbname=db user=u", "localhost:5433"},
      {"host=localhost port=abc", "error"},
      {"host=localhost port=0", "error"},
      {"host=localhost port=65536", "error"},
      {"hostaddr=127.0.0.1", "127.0.0.1:5432@127.0.0.1"},  // TCP to the address, not the default socket
      {"hostaddr=127.0.0.1 port=5433", "127.0.0.1:5433@127.0.0.1"},
      {"hostaddr=not.an.address", "error"},
      {"hostaddr=::1", "::1:5432@::1"},
      {"host=db.example.com hostaddr=10.0.0.5", "db.example.com:5432@10.0.0.5"},
      {"host=h1,h2 port=1,2,3", "error"},
      {"host=h1,h2 hostaddr=127.0.0.1", "error"},  // libpq: could not match 2 host names to 1 hostaddr values
      {"host=h1,h2 hostaddr=127.0.0.1,127.0.0.2", "h1:5432@127.0.0.1,h2:5432@127.0.0.2"},
      {"host=/tmp dbname=db", "/tmp:5432"},
      {"dbname='my db' user='o\\'brien'", "/var/run/postgresql:5432"},
      {"dbname='unterminated", "error"},
      {"host", "error"},
      {"host=localhost sslmode=prefer", "localhost:5432"},
      {"host=localhost sslmode=nope", "error"},
      {"host=localhost application_name=x options='-c search_path=s'", "localhost:5432"},
      {"password=secret host=localhost nosuch=1", "error"},
  };
  for (const auto& [dsn, expected] : table) {
    INFO(dsn);
    CHECK(hosts_of(dsn) == expected);
  }
  // Where keel parts from libpq, on purpose: it speaks UTF8 only.
  CHECK(hosts_of("host=localhost client_encoding=LATIN1") == "error");
}

TEST_CASE("no error about a connection string quotes its password", "[pg][dsn]") {
  for (const char* dsn : {"postgresql://app:s3cret@h/db?%zz=1", "postgresql://app:s3cret@h/db?nosuch=s3cret",
                          "postgresql://app:s3cret@h:99999/db", "postgresql://app:s3cret@[::1/db",
                          "postgresql://h/db?password=s3cret&port=x", "password=s3cret host=h port=x"}) {
    INFO(dsn);
    try {
      parse(dsn);
      FAIL("expected a DsnError");
    } catch (const DsnError& e) {
      CHECK(std::string(e.what()).find("s3cret") == std::string::npos);
    }
  }
}

TEST_CASE("a connection service file gives options after the string's and before the environment's", "[pg][dsn]") {
  const auto folder = std::filesystem::temp_directory_path() / ("keel_service_" + std::to_string(::getpid()));
  std::filesystem::create_directories(folder);
  const std::string user_file = (folder / "user.conf").string();
  const std::string system_folder = (folder / "etc").string();
  std::filesystem::create_directories(system_folder);
  std::ofstream(user_file) << "# the user's services\n[app] # the application's\nhost = db.example.com\nport=6543\n  "
                              "dbname=app  \n\n[other]\nhost=x\n";
  std::ofstream(system_folder + "/pg_service.conf") << "[shared]\nhost=shared.example.com\nuser=reporter\n[bad]\nhost\n"
                                                       "[nested]\nservice=app\n[unknown]\nflavour=sweet\n";
  const std::map<std::string, std::string> files{{"PGSERVICEFILE", user_file}, {"PGSYSCONFDIR", system_folder}};
  auto with = [&](std::map<std::string, std::string> more) {
    more.insert(files.begin(), files.end());
    return more;
  };

  auto o = parse("service=app user=alice", with({{"PGPORT", "7000"}, {"PGDATABASE", "from_env"}}));
  CHECK(o.hosts == std::vector<HostSpec>{{"db.example.com", 6543, ""}});  // the service's port beats PGPORT
  CHECK(o.database == "app");
  CHECK(o.user == "alice");
  CHECK(parse("service=app port=5000", with({})).hosts.at(0).port == 5000);  // the string's beats the service's
  // PGSERVICE names it too; the system file when the user's has no such service.
  o = parse("", with({{"PGSERVICE", "shared"}}));
  CHECK(o.hosts.at(0).host == "shared.example.com");
  CHECK(o.user == "reporter");
  CHECK_THROWS_WITH(parse("service=nowhere", with({})), "definition of service \"nowhere\" not found");
  CHECK_THROWS_WITH(parse("service=bad", with({})), Catch::Contains("syntax error in service file"));
  CHECK_THROWS_WITH(parse("service=nested", with({})), Catch::Contains("nested service"));
  CHECK_THROWS_WITH(parse("service=unknown", with({})), "invalid connection option \"flavour\"");
  std::filesystem::remove_all(folder);
}

TEST_CASE("keepalives, revocation lists, load balancing and PGTZ, as libpq reads them", "[pg][dsn]") {
  auto o = parse("host=db");
  CHECK(o.keepalives);
  CHECK_FALSE(o.keepalives_idle);
  CHECK(o.ssl_crl == "/home/test/.postgresql/root.crl");  // read when it exists, as libpq
  CHECK(o.ssl_crl_dir.empty());
  CHECK_FALSE(o.load_balance_hosts);
  CHECK(o.server_settings.empty());

  o = parse(
      "host=db keepalives=0 keepalives_idle=30 keepalives_interval=5 keepalives_count=4 sslcrldir=/etc/crls "
      "load_balance_hosts=random",
      {{"PGTZ", "Europe/Amsterdam"}, {"PGDATESTYLE", "ISO, DMY"}});
  CHECK_FALSE(o.keepalives);
  CHECK(o.keepalives_idle == 30);
  CHECK(o.keepalives_interval == 5);
  CHECK(o.keepalives_count == 4);
  CHECK(o.ssl_crl.empty());  // a directory given: no default file
  CHECK(o.ssl_crl_dir == "/etc/crls");
  CHECK(o.load_balance_hosts);
  CHECK(o.server_settings.at("timezone") == "Europe/Amsterdam");
  CHECK(o.server_settings.at("datestyle") == "ISO, DMY");
  CHECK(parse("host=db", {{"PGSSLCRL", "/tmp/revoked.crl"}, {"PGLOADBALANCEHOSTS", "random"}}).ssl_crl ==
        "/tmp/revoked.crl");
  CHECK(parse("host=db", {{"PGLOADBALANCEHOSTS", "random"}}).load_balance_hosts);
  CHECK_THROWS_AS(parse("host=db load_balance_hosts=round-robin"), DsnError);
  CHECK_THROWS_AS(parse("host=db keepalives_idle=-1"), DsnError);
  CHECK_THROWS_AS(parse("host=db keepalives_count=many"), DsnError);
  CHECK_THROWS_AS(parse("host=db keepalives=yes"), DsnError);
  CHECK(parse("host=db", {{"PGTZ", "default"}}).server_settings.empty());  // libpq leaves "default" to the server
}

TEST_CASE("TCP keepalives are set on the socket as the options say", "[pg][dsn]") {
  boost::asio::io_context loop;
  boost::asio::ip::tcp::acceptor acceptor(loop, {boost::asio::ip::make_address("127.0.0.1"), 0});
  boost::asio::ip::tcp::socket socket(loop);
  socket.connect(acceptor.local_endpoint());
  keel::pg::set_keepalives(socket, keel::pg::Keepalives{.enabled = true, .idle = 7, .interval = 3, .count = 2});
  auto option = [&](int level, int name) {
    int value = -1;
    socklen_t size = sizeof value;
    ::getsockopt(socket.native_handle(), level, name, &value, &size);
    return value;
  };
  CHECK(option(SOL_SOCKET, SO_KEEPALIVE) == 1);
  CHECK(option(IPPROTO_TCP, TCP_KEEPIDLE) == 7);
  CHECK(option(IPPROTO_TCP, TCP_KEEPINTVL) == 3);
  CHECK(option(IPPROTO_TCP, TCP_KEEPCNT) == 2);
  keel::pg::set_keepalives(socket, keel::pg::Keepalives{.enabled = false});
  CHECK(option(SOL_SOCKET, SO_KEEPALIVE) == 0);
}
