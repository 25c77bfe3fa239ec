// Where and how to connect, read the way libpq reads it: a postgresql:// URI (parsed with Boost.URL) or a
// key=value string with libpq's names, then the PG* environment variables for what the string leaves out,
// then libpq's defaults. The password file follows .pgpass rules. Pure functions: the environment and the
// files come in as arguments, so tests need no real environment.
module;
#include <boost/url/decode_view.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/url_view.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <pwd.h>
#include <string>
#include <string_view>
#include <unistd.h>
#include <utility>
#include <vector>
export module keel.postgres:connect_options;
import keel.core;

namespace urls = boost::urls;

export namespace keel::pg {

/// libpq's sslmode meanings.
enum class SslMode { disable, allow, prefer, require, verify_ca, verify_full };
/// Which of several hosts to settle on.
enum class TargetSessionAttrs { any, read_write, read_only, primary, standby, prefer_standby };

/// One host to connect to, as a connection string names it.
struct HostSpec {
  std::string host;           ///< a name, an address, or (starting with '/') a Unix-domain socket directory
  std::uint16_t port = 5432;  ///< the TCP port; for a Unix-domain socket, the number in the socket file's name
  std::string address;        ///< libpq's hostaddr: connect here, and keep `host` for TLS checks and .pgpass
  /// Whether `host` names a Unix-domain socket directory ('/'), or a socket in Linux's abstract namespace ('@').
  bool is_unix_socket() const { return !host.empty() && (host.front() == '/' || host.front() == '@'); }
  /// Equal field by field.
  friend bool operator==(const HostSpec&, const HostSpec&) = default;
  /// As libpq names it in messages: "host:port", or "socket /dir/.s.PGSQL.port".
  std::string describe() const {
    const std::string number = std::to_string(port);
    return is_unix_socket() ? "socket " + host + "/.s.PGSQL." + number : host + ":" + number;
  }
};

/// Where and how to connect, as libpq's connection parameters say it (see parse_dsn).
struct ConnectOptions {
  std::vector<HostSpec> hosts;          ///< tried in order
  std::string user;                     ///< the role to connect as
  std::optional<std::string> password;  ///< the password; none: the password file's, if it has one
  std::string database;                 ///< the database to connect to
  std::string application_name;         ///< application_name, sent at startup
  std::string options;                  ///< sent as the startup parameter "options", e.g. "-c search_path=app"
  std::map<std::string, std::string> server_settings;   ///< any other setting, sent at startup
  std::optional<std::chrono::seconds> connect_timeout;  ///< per host; none waits as long as the network does
  SslMode ssl_mode = SslMode::prefer;                   ///< sslmode
  std::string ssl_root_cert;                            ///< sslrootcert: the certificates that verify the server's
  std::string ssl_cert;                                 ///< sslcert: the client's certificate
  std::string ssl_key;                                  ///< sslkey: the client certificate's private key
  bool ssl_sni = true;                                  ///< sslsni: the host name sent in the TLS handshake (SNI)
  std::string passfile;                                 ///< passfile: the password file (.pgpass)
  std::string channel_binding = "prefer";               ///< prefer, require, disable
  /// target_session_attrs: which kind of server to settle on among the hosts.
  TargetSessionAttrs target_session_attrs = TargetSessionAttrs::any;
  /// sslcrl and sslcrldir: revoked certificates, checked with the server's chain when it is verified (libpq reads
  /// ~/.postgresql/root.crl when it exists and neither is given).
  std::string ssl_crl;
  std::string ssl_crl_dir;          ///< sslcrldir
  bool load_balance_hosts = false;  ///< load_balance_hosts=random: the hosts are tried in a random order
  ///@{
  /// TCP keepalives (keepalives, keepalives_idle, keepalives_interval, keepalives_count), on by default as in
  /// libpq; an empty number leaves the system's.
  bool keepalives = true;
  std::optional<int> keepalives_idle, keepalives_interval, keepalives_count;
  ///@}
};

/// Reads an environment variable; std::getenv in real use, a map in tests.
using Environment = std::function<std::optional<std::string>(std::string_view)>;

/// The process's environment, read with std::getenv.
Environment process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    if (const char* value = std::getenv(std::string(name).c_str())) return std::string(value);
    return std::nullopt;
  };
}

// ---- The raw key=value pairs of a connection string.

/// A connection string's key=value pairs, in the order written.
using DsnPairs = std::vector<std::pair<std::string, std::string>>;

/// key=value pairs separated by spaces; a value may be 'quoted', with \' and \\ escapes inside or outside
/// quotes, as libpq reads them.
DsnPairs parse_key_value_pairs(std::string_view text) {
  DsnPairs pairs;
  std::size_t i = 0;
  auto skip_spaces = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
  };
  while (true) {
    skip_spaces();
    if (i >= text.size()) break;
    const std::size_t key_start = i;
    while (i < text.size() && text[i] != '=' && text[i] != ' ' && text[i] != '\t') ++i;
    std::string key(text.substr(key_start, i - key_start));
    skip_spaces();
    if (i >= text.size() || text[i] != '=') throw DsnError("connection string: missing \"=\" after \"" + key + "\"");
    ++i;
    skip_spaces();
    std::string value;
    if (i < text.size() && text[i] == '\'') {
      ++i;
      bool closed = false;
      while (i < text.size()) {
        const char c = text[i++];
        if (c == '\\' && i < text.size())
          value += text[i++];
        else if (c == '\'') {
          closed = true;
          break;
        } else
          value += c;
      }
      if (!closed) throw DsnError("connection string: unterminated quoted value for \"" + key + "\"");
    } else {
      while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') {
        const char c = text[i++];
        if (c == '\\' && i < text.size())
          value += text[i++];
        else
          value += c;
      }
    }
    pairs.emplace_back(std::move(key), std::move(value));
  }
  return pairs;
}

/// `text` percent-decoded; throws DsnError, naming `what`, for a bad escape.
std::string percent_decode(std::string_view text, std::string_view what) {
  auto checked = urls::make_pct_string_view(text);
  if (!checked) throw DsnError("connection URI: invalid percent-encoding in the " + std::string(what));
  std::string out;
  out.reserve(checked->decoded_size());
  checked->decode({}, urls::string_token::assign_to(out));
  return out;
}

/// postgresql://[user[:password]@][host[:port][,host[:port]...]][/dbname][?key=value&...]
/// Boost.URL reads the user info, path and query; the host list, which a URI grammar does not allow, is split
/// here first.
DsnPairs parse_uri_pairs(std::string_view uri) {
  const std::size_t scheme_end = uri.find("://");
  const std::string_view scheme = uri.substr(0, scheme_end);
  if (scheme_end == std::string_view::npos || (scheme != "postgresql" && scheme != "postgres"))
    throw DsnError("connection URI must start with postgresql:// or postgres://");
  const std::string_view rest = uri.substr(scheme_end + 3);
  const std::size_t authority_end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, authority_end);
  const std::string_view tail =
      authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);

  DsnPairs pairs;
  std::string_view hosts = authority;
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    hosts = authority.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    if (!userinfo.substr(0, colon).empty())
      pairs.emplace_back("user", percent_decode(userinfo.substr(0, colon), "user name"));
    if (colon != std::string_view::npos)
      pairs.emplace_back("password", percent_decode(userinfo.substr(colon + 1), "password"));
  }
  if (!hosts.empty()) {
    std::string host_list, port_list;
    bool any_port = false;
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = hosts.find(',', start);
      std::string_view one =
          hosts.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
      std::string_view host = one, port;
      if (one.starts_with('[')) {  // an IPv6 address
        const std::size_t close = one.find(']');
        if (close == std::string_view::npos)
          throw DsnError("connection URI: unterminated IPv6 address in \"" + std::string(one) + "\"");
        host = one.substr(1, close - 1);
        if (close + 1 < one.size()) {
          if (one[close + 1] != ':')
            throw DsnError("connection URI: unexpected text after IPv6 address \"" + std::string(one) + "\"");
          port = one.substr(close + 2);
        }
      } else if (const std::size_t colon = one.find(':'); colon != std::string_view::npos) {
        // The first colon, as libpq: "::1" (an unbracketed IPv6 address) and "host:1:2" leave an invalid port.
        host = one.substr(0, colon);
        port = one.substr(colon + 1);
      }
      if (start) {
        host_list += ',';
        port_list += ',';
      }
      host_list += percent_decode(host, "host");
      port_list += std::string(port);
      any_port = any_port || !port.empty();
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    if (host_list.find_first_not_of(',') != std::string::npos) pairs.emplace_back("host", host_list);
    if (any_port) pairs.emplace_back("port", port_list);
  }
  // The path is the database name; the query is key=value pairs joined by '&', percent-decoded as libpq does
  // (no '+' for a space, no fragment). Boost.URL 1.81's parameter iterator overruns on "?#", so the split is here.
  const std::size_t query_start = tail.find('?');
  const std::string_view path = tail.substr(0, query_start);
  if (path.size() > 1) pairs.emplace_back("dbname", percent_decode(path.substr(1), "database name"));
  if (query_start == std::string_view::npos) return pairs;
  std::string_view query = tail.substr(query_start + 1);
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (param.empty()) continue;
    const std::size_t eq = param.find('=');
    // The message names the key only: a value may be a password.
    if (eq == std::string_view::npos)
      throw DsnError("connection URI: missing \"=\" in the parameter \"" + percent_decode(param, "parameter name") +
                     "\"");
    const std::string key = percent_decode(param.substr(0, eq), "parameter name");
    pairs.emplace_back(key, percent_decode(param.substr(eq + 1), "value of " + key));
  }
  return pairs;
}

/// Whether `dsn` is a URI (postgresql:// or postgres://) rather than key=value pairs.
bool is_uri(std::string_view dsn) { return dsn.starts_with("postgresql://") || dsn.starts_with("postgres://"); }

}  // namespace keel::pg

namespace keel::pg::dsn_detail {

SslMode parse_ssl_mode(std::string_view v) {
  if (v == "disable") return SslMode::disable;
  if (v == "allow") return SslMode::allow;
  if (v == "prefer") return SslMode::prefer;
  if (v == "require") return SslMode::require;
  if (v == "verify-ca") return SslMode::verify_ca;
  if (v == "verify-full") return SslMode::verify_full;
  throw DsnError("invalid sslmode value: \"" + std::string(v) +
                 "\" (use disable, allow, prefer, require, verify-ca or verify-full)");
}

TargetSessionAttrs parse_target(std::string_view v) {
  if (v == "any") return TargetSessionAttrs::any;
  if (v == "read-write") return TargetSessionAttrs::read_write;
  if (v == "read-only") return TargetSessionAttrs::read_only;
  if (v == "primary") return TargetSessionAttrs::primary;
  if (v == "standby") return TargetSessionAttrs::standby;
  if (v == "prefer-standby") return TargetSessionAttrs::prefer_standby;
  throw DsnError("invalid target_session_attrs value: \"" + std::string(v) +
                 "\" (use any, read-write, read-only, primary, standby or prefer-standby)");
}

std::vector<std::string> split_commas(std::string_view text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    parts.emplace_back(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return parts;
}

std::uint16_t parse_port(std::string_view text) {
  int port = 0;
  if (text.empty() || text.size() > 5) throw DsnError("invalid port number: \"" + std::string(text) + "\"");
  for (char c : text) {
    if (c < '0' || c > '9') throw DsnError("invalid port number: \"" + std::string(text) + "\"");
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) throw DsnError("invalid port number: \"" + std::string(text) + "\"");
  return static_cast<std::uint16_t>(port);
}

// A non-negative whole number of at most nine digits (a count, or seconds).
int parse_count(std::string_view text, std::string_view key) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string_view::npos)
    throw DsnError("invalid " + std::string(key) + " value: \"" + std::string(text) + "\"");
  return std::stoi(std::string(text));
}

std::string os_user_name() {
  if (const passwd* pw = ::getpwuid(::geteuid())) return pw->pw_name;
  return "postgres";
}

// An IPv4 or IPv6 address in numeric form (hostaddr takes no names).
inline bool is_numeric_address(const std::string& text) {
  unsigned char buffer[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, text.c_str(), buffer) == 1 || ::inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

std::string home_directory(const Environment& env) {
  if (auto home = env("HOME")) return *home;
  if (const passwd* pw = ::getpwuid(::geteuid())) return pw->pw_dir;
  return "";
}

}  // namespace keel::pg::dsn_detail

export namespace keel::pg {

/// The socket directory libpq uses when no host is given (Debian's build).
constexpr std::string_view default_socket_directory = "/var/run/postgresql";
/// Where libpq looks for the system-wide service file when PGSYSCONFDIR is not set (Debian's build).
constexpr std::string_view default_sysconf_directory = "/etc/postgresql-common";

/// The options of `service` in a connection service file's text (pg_service.conf: [name] sections of key=value
/// lines, '#' comments); none when the file has no such section.
std::optional<DsnPairs> service_pairs_from_text(std::string_view text, std::string_view service) {
  std::optional<DsnPairs> found;
  bool inside = false;
  std::size_t line_number = 0, start = 0;
  auto trimmed = [](std::string_view v) {
    const auto first = v.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) return std::string_view{};
    return v.substr(first, v.find_last_not_of(" \t\r") - first + 1);
  };
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view line = trimmed(text.substr(start, end - start));
    start = end + 1;
    ++line_number;
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '[') {
      if (found && inside) return found;  // the section ended
      const std::size_t close = line.find(']');
      inside = close != std::string_view::npos && line.substr(1, close - 1) == service;
      if (inside) found.emplace();
      continue;
    }
    if (!inside) continue;
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos)
      throw DsnError("syntax error in service file, line " + std::to_string(line_number) + ": no \"=\"");
    const std::string key(trimmed(line.substr(0, eq)));
    if (key == "service") throw DsnError("nested service specifications are not supported in the service file");
    found->emplace_back(key, std::string(trimmed(line.substr(eq + 1))));
  }
  return found;
}

}  // namespace keel::pg

namespace keel::pg::dsn_detail {
std::optional<std::string> read_text_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}
}  // namespace keel::pg::dsn_detail

export namespace keel::pg {

/// A service's options, as libpq finds them: the user's file (PGSERVICEFILE, or ~/.pg_service.conf) first,
/// then the system's (PGSYSCONFDIR/pg_service.conf).
DsnPairs service_pairs(std::string_view service, const Environment& env) {
  const std::string home = dsn_detail::home_directory(env);
  const std::string user_file = env("PGSERVICEFILE").value_or(home.empty() ? "" : home + "/.pg_service.conf");
  const std::string system_file =
      env("PGSYSCONFDIR").value_or(std::string(default_sysconf_directory)) + "/pg_service.conf";
  for (const std::string& path : {user_file, system_file}) {
    if (path.empty()) continue;
    if (auto text = dsn_detail::read_text_file(path))
      if (auto pairs = service_pairs_from_text(*text, service)) return *pairs;
  }
  throw DsnError("definition of service \"" + std::string(service) + "\" not found");
}

/// Reads a connection string (a URI or key=value pairs), then fills what it leaves out from the environment's
/// PG* variables, then from libpq's defaults. The password file is not read here; see password_from_file.
ConnectOptions parse_dsn(std::string_view dsn, const Environment& env = process_environment()) {
  std::map<std::string, std::string> given;
  for (auto& [key, value] : is_uri(dsn) ? parse_uri_pairs(dsn) : parse_key_value_pairs(dsn)) given[key] = value;
  // A service's options come after the string's and before the environment's, as in libpq.
  std::optional<std::string> service;
  if (auto named = given.find("service"); named != given.end())
    service = named->second;
  else if (auto variable = env("PGSERVICE"); variable && !variable->empty())
    service = variable;
  if (service)
    for (auto& [key, value] : service_pairs(*service, env)) given.try_emplace(key, value);

  static const std::map<std::string, std::string, std::less<>> environment_names{
      {"host", "PGHOST"},
      {"hostaddr", "PGHOSTADDR"},
      {"port", "PGPORT"},
      {"dbname", "PGDATABASE"},
      {"user", "PGUSER"},
      {"password", "PGPASSWORD"},
      {"passfile", "PGPASSFILE"},
      {"options", "PGOPTIONS"},
      {"application_name", "PGAPPNAME"},
      {"fallback_application_name", ""},
      {"sslmode", "PGSSLMODE"},
      {"requiressl", "PGREQUIRESSL"},
      {"sslrootcert", "PGSSLROOTCERT"},
      {"sslcert", "PGSSLCERT"},
      {"sslkey", "PGSSLKEY"},
      {"sslsni", "PGSSLSNI"},
      {"connect_timeout", "PGCONNECT_TIMEOUT"},
      {"target_session_attrs", "PGTARGETSESSIONATTRS"},
      {"channel_binding", "PGCHANNELBINDING"},
      {"client_encoding", "PGCLIENTENCODING"},
      {"service", "PGSERVICE"},
      {"sslcrl", "PGSSLCRL"},
      {"sslcrldir", "PGSSLCRLDIR"},
      {"load_balance_hosts", "PGLOADBALANCEHOSTS"},
      {"keepalives", ""},
      {"keepalives_idle", ""},
      {"keepalives_interval", ""},
      {"keepalives_count", ""},
  };
  for (const auto& [key, value] : given)
    if (!environment_names.contains(key)) throw DsnError("invalid connection option \"" + key + "\"");
  auto lookup = [&](std::string_view key) -> std::optional<std::string> {
    if (auto found = given.find(std::string(key)); found != given.end()) return found->second;
    const auto& variable = environment_names.find(key)->second;
    if (!variable.empty())
      if (auto value = env(variable); value && !value->empty()) return value;
    return std::nullopt;
  };

  ConnectOptions options;
  options.user = lookup("user").value_or(dsn_detail::os_user_name());
  options.password = lookup("password");
  options.database = lookup("dbname").value_or(options.user);
  options.application_name = lookup("application_name").value_or(lookup("fallback_application_name").value_or(""));
  options.options = lookup("options").value_or("");
  if (auto encoding = lookup("client_encoding"); encoding && *encoding != "UTF8" && *encoding != "utf8")
    throw DsnError("keel speaks UTF8 only; client_encoding \"" + *encoding + "\" is not supported");

  if (auto mode = lookup("sslmode"))
    options.ssl_mode = dsn_detail::parse_ssl_mode(*mode);
  else if (lookup("requiressl") == std::optional<std::string>("1"))
    options.ssl_mode = SslMode::require;
  const std::string home = dsn_detail::home_directory(env);
  options.ssl_root_cert = lookup("sslrootcert").value_or(home + "/.postgresql/root.crt");
  options.ssl_cert = lookup("sslcert").value_or(home + "/.postgresql/postgresql.crt");
  options.ssl_key = lookup("sslkey").value_or(home + "/.postgresql/postgresql.key");
  options.ssl_sni = lookup("sslsni").value_or("1") != "0";
  options.passfile = lookup("passfile").value_or(home + "/.pgpass");
  options.channel_binding = lookup("channel_binding").value_or("prefer");
  if (options.channel_binding != "prefer" && options.channel_binding != "require" &&
      options.channel_binding != "disable")
    throw DsnError("invalid channel_binding value: \"" + options.channel_binding + "\"");
  if (auto target = lookup("target_session_attrs")) options.target_session_attrs = dsn_detail::parse_target(*target);
  options.ssl_crl_dir = lookup("sslcrldir").value_or("");
  options.ssl_crl = lookup("sslcrl").value_or(options.ssl_crl_dir.empty() ? home + "/.postgresql/root.crl" : "");
  if (auto balance = lookup("load_balance_hosts")) {
    if (*balance != "disable" && *balance != "random")
      throw DsnError("invalid load_balance_hosts value: \"" + *balance + "\" (use disable or random)");
    options.load_balance_hosts = *balance == "random";
  }
  options.keepalives = dsn_detail::parse_count(lookup("keepalives").value_or("1"), "keepalives") != 0;
  for (auto [key, field] : {std::pair{"keepalives_idle", &options.keepalives_idle},
                            std::pair{"keepalives_interval", &options.keepalives_interval},
                            std::pair{"keepalives_count", &options.keepalives_count}})
    if (auto value = lookup(key)) *field = dsn_detail::parse_count(*value, key);
  // As libpq's startup packet: PGTZ, PGDATESTYLE and PGGEQO become the session's settings.
  for (auto [variable, setting] :
       {std::pair{"PGTZ", "timezone"}, std::pair{"PGDATESTYLE", "datestyle"}, std::pair{"PGGEQO", "geqo"}})
    if (auto value = env(variable); value && !value->empty() && *value != "default")  // "default": the server's
      options.server_settings.try_emplace(setting, *value);

  if (auto timeout = lookup("connect_timeout")) {
    const std::string_view digits = std::string_view(*timeout).substr(timeout->starts_with('-') ? 1 : 0);
    if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string_view::npos)
      throw DsnError("invalid connect_timeout value: \"" + *timeout + "\"");
    const long seconds = std::strtol(timeout->c_str(), nullptr, 10);
    // As libpq: zero or less waits indefinitely; below 2 seconds means 2.
    if (seconds > 0) options.connect_timeout = std::chrono::seconds(seconds < 2 ? 2 : seconds);
  }

  // hostaddr alone names the hosts too (TCP to each address); beside host it must give one per host.
  const std::optional<std::string> host_text = lookup("host"), address_text = lookup("hostaddr");
  const std::vector<std::string> addresses = dsn_detail::split_commas(address_text.value_or(""));
  const std::vector<std::string> hosts =
      host_text ? dsn_detail::split_commas(*host_text)
                : (address_text ? addresses : std::vector<std::string>{std::string(default_socket_directory)});
  const std::vector<std::string> ports = dsn_detail::split_commas(lookup("port").value_or(""));
  if (ports.size() != 1 && ports.size() != hosts.size())
    throw DsnError("could not match " + std::to_string(ports.size()) + " port numbers to " +
                   std::to_string(hosts.size()) + " hosts");
  if (address_text && addresses.size() != hosts.size())
    throw DsnError("could not match " + std::to_string(hosts.size()) + " host names to " +
                   std::to_string(addresses.size()) + " hostaddr values");
  for (const std::string& address : addresses)
    if (!address.empty() && !dsn_detail::is_numeric_address(address))
      throw DsnError("invalid hostaddr \"" + address + "\": not an IPv4 or IPv6 address");
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    const std::string& port = ports.size() == 1 ? ports[0] : ports[i];
    HostSpec spec{hosts[i].empty()
                      ? (address_text && !addresses[i].empty() ? addresses[i] : std::string(default_socket_directory))
                      : hosts[i],
                  5432, address_text ? addresses[i] : std::string()};
    if (!port.empty()) spec.port = dsn_detail::parse_port(port);
    options.hosts.push_back(std::move(spec));
  }
  return options;
}

// ---- The password file.

/// Finds the password for a connection in a .pgpass text: lines host:port:database:user:password, '*'
/// matching anything, '\' escaping ':' and '\', '#' starting a comment; the first match wins. A Unix-socket
/// host matches "localhost", as in libpq.
std::optional<std::string> password_from_pgpass_text(std::string_view text, const HostSpec& host,
                                                     std::string_view database, std::string_view user) {
  const std::string host_name = host.is_unix_socket() ? "localhost" : host.host;
  const std::string port = std::to_string(host.port);
  std::size_t line_start = 0;
  while (line_start < text.size()) {
    std::size_t line_end = text.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = text.size();
    std::string_view line = text.substr(line_start, line_end - line_start);
    line_start = line_end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    std::vector<std::string> fields(1);
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '\\' && i + 1 < line.size())
        fields.back() += line[++i];
      else if (line[i] == ':' && fields.size() < 5)
        fields.emplace_back();
      else
        fields.back() += line[i];
    }
    if (fields.size() != 5) continue;
    auto matches = [](const std::string& pattern, std::string_view value) {
      return pattern == "*" || pattern == value;
    };
    if (matches(fields[0], host_name) && matches(fields[1], port) && matches(fields[2], database) &&
        matches(fields[3], user))
      return fields[4];
  }
  return std::nullopt;
}

/// Reads the password file named in the options. As libpq, a file that others can read is ignored.
std::optional<std::string> password_from_file(const ConnectOptions& options, const HostSpec& host) {
  struct stat info{};
  if (options.passfile.empty() || ::stat(options.passfile.c_str(), &info) != 0 || !S_ISREG(info.st_mode))
    return std::nullopt;
  if (info.st_mode & (S_IRWXG | S_IRWXO)) return std::nullopt;
  std::ifstream file(options.passfile, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  return password_from_pgpass_text(text, host, options.database, options.user);
}

}  // namespace keel::pg
