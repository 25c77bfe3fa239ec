// Starting a session: connect to the hosts in order (TLS as sslmode says), the startup message,
// authentication (cleartext, md5, SCRAM-SHA-256 and -PLUS) and target_session_attrs.
module;
#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
module keel.postgres;
import keel.engine;
import keel.postgres.protocol;

namespace asio = boost::asio;
namespace proto = keel::pg::protocol;

namespace keel::pg {

namespace {

// An authentication method keel does not support, by name, for the error that says so.
std::string method_name(proto::AuthKind kind) {
  switch (kind) {
    case proto::AuthKind::kerberos_v5: return "Kerberos V5";
    case proto::AuthKind::scm_credential: return "SCM credential";
    case proto::AuthKind::gss:
    case proto::AuthKind::gss_continue: return "GSSAPI";
    case proto::AuthKind::sspi: return "SSPI";
    default: return "an unknown";
  }
}

}  // namespace

asio::awaitable<std::unique_ptr<PgConnection>> PgConnection::connect(
    ConnectOptions options, Options settings, std::optional<std::chrono::steady_clock::time_point> deadline) {
  auto executor = co_await asio::this_coro::executor;
  std::string failures;
  std::exception_ptr only_failure;
  std::vector<HostSpec> hosts = options.hosts;
  if (options.load_balance_hosts) std::shuffle(hosts.begin(), hosts.end(), std::mt19937(std::random_device{}()));
  // prefer-standby looks for a standby first, then takes any.
  const int passes = options.target_session_attrs == TargetSessionAttrs::prefer_standby ? 2 : 1;
  for (int pass = 0; pass < passes; ++pass) {
    for (const HostSpec& host : hosts) {
      auto connection = std::unique_ptr<PgConnection>(new PgConnection(executor, options, settings));
      std::exception_ptr failure;
      bool cancelled = false;  // a CanceledError: a query of suits() was cancelled, and wait() cleared the state
      try {
        try {
          co_await connection->start(host, deadline);
        } catch (const DatabaseError&) {
          // sslmode=allow tries without TLS first, and with TLS when the server refuses that.
          if (options.ssl_mode != SslMode::allow) throw;
          ConnectOptions with_tls = options;
          with_tls.ssl_mode = SslMode::require;
          connection = std::unique_ptr<PgConnection>(new PgConnection(executor, with_tls, settings));
        }
        if (!connection->ready_) co_await connection->start(host, deadline);
        if (co_await connection->suits(options.target_session_attrs, pass == 0 && passes == 2)) co_return connection;
        connection->pipeline_->close();
        failures += "\n  " + connection->transport().describe() + ": does not suit target_session_attrs";
        continue;
      } catch (const std::exception& e) {
        failure = std::current_exception();
        cancelled = dynamic_cast<const CanceledError*>(&e) != nullptr;
        failures += "\n  " + host.describe() + ": " + e.what();
      }
      // The caller's Asio cancellation cut the attempt short (its socket operations fail with
      // operation_aborted): a keel error that says so, and no other host is tried.
      if (cancelled || (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
        throw CanceledError("connecting to " + host.describe() + " was cancelled");
      if (hosts.size() == 1 && passes == 1) only_failure = failure;
    }
  }
  if (only_failure) std::rethrow_exception(only_failure);  // one host: its own typed error
  throw ConnectionError("could not connect to any host:" + failures);
}

asio::awaitable<void> PgConnection::start(const HostSpec& host,
                                          std::optional<std::chrono::steady_clock::time_point> deadline) {
  // A silent server completes nothing: past the limit the socket is closed, which ends whatever step waits.
  SetupDeadline limit(co_await asio::this_coro::executor, SetupDeadline::earliest(options_.connect_timeout, deadline));
  limit.on_expiry([this] { transport().close(); });
  std::exception_ptr failure;
  try {
    co_await start_session(host);
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure && limit.expired()) {
    if (deadline && std::chrono::steady_clock::now() >= *deadline)
      throw TimeoutError("the time allowed ran out while connecting to " + transport().describe());
    throw TimeoutError("timed out after " + std::to_string(options_.connect_timeout->count()) + " s connecting to " +
                       transport().describe() + " (connect_timeout covers TLS and authentication too)");
  }
  if (failure) std::rethrow_exception(failure);
}

asio::awaitable<void> PgConnection::start_session(const HostSpec& host) {
  co_await transport().connect(host, options_.connect_timeout,
                               Keepalives{options_.keepalives, options_.keepalives_idle, options_.keepalives_interval,
                                          options_.keepalives_count});
  co_await transport().negotiate_tls(options_);
  std::vector<std::pair<std::string, std::string>> parameters{
      {"user", options_.user}, {"database", options_.database}, {"client_encoding", "UTF8"}};
  if (!options_.application_name.empty()) parameters.emplace_back("application_name", options_.application_name);
  if (!options_.options.empty()) parameters.emplace_back("options", options_.options);
  for (const auto& [name, value] : options_.server_settings) parameters.emplace_back(name, value);
  proto::ByteBuffer out;
  proto::write_startup(out, parameters);
  co_await pipeline_->write_now(out);
  co_await authenticate(host);
  pipeline_->attach(this);
}

std::string PgConnection::password_for(const HostSpec& host) const {
  if (options_.password) return *options_.password;
  if (auto from_file = password_from_file(options_, host)) return *from_file;
  throw ConnectionError("the server at " + transport().describe() + " asks for a password for user \"" + options_.user +
                        "\", and none was given (password, PGPASSWORD or the password file)");
}

asio::awaitable<void> PgConnection::authenticate(const HostSpec& host) {
  std::optional<proto::ScramClient> scram;
  proto::ByteBuffer out;
  while (true) {
    const proto::Frame frame = co_await pipeline_->read_frame();
    switch (frame.type) {
      case 'R': {
        const proto::Authentication auth = proto::parse_authentication(frame.body);
        out.clear();
        switch (auth.kind) {
          case proto::AuthKind::ok: break;
          case proto::AuthKind::cleartext_password:
            authentication_method_ = "password";
            proto::write_password(out, password_for(host));
            break;
          case proto::AuthKind::md5_password:
            authentication_method_ = "md5";
            proto::write_password(out, proto::md5_password(options_.user, password_for(host), auth.md5_salt));
            break;
          case proto::AuthKind::sasl: {
            auto offered = [&](std::string_view m) {
              for (const auto& o : auth.sasl_mechanisms)
                if (o == m) return true;
              return false;
            };
            const auto binding =
                options_.channel_binding == "disable" ? std::nullopt : transport().tls_server_end_point();
            proto::ScramClient::Options scram_options;
            if (binding && offered("SCRAM-SHA-256-PLUS"))
              scram_options.channel_binding = binding;
            else if (options_.channel_binding == "require")
              throw ConnectionError("channel_binding=require, but the server at " + transport().describe() +
                                    " offers no channel binding (it needs TLS and SCRAM-SHA-256-PLUS)");
            else
              scram_options.client_supports_binding = binding.has_value();
            if (!scram_options.channel_binding && !offered("SCRAM-SHA-256"))
              throw ConnectionError("the server offers no SASL mechanism keel supports");
            scram.emplace(password_for(host), std::move(scram_options));
            authentication_method_ = std::string(scram->mechanism());
            proto::write_sasl_initial_response(out, scram->mechanism(), scram->client_first_message());
            break;
          }
          case proto::AuthKind::sasl_continue:
            if (!scram) throw ProtocolError("the server sent SASLContinue before SASL");
            proto::write_sasl_response(out, scram->client_final_message(auth.sasl_data));
            break;
          case proto::AuthKind::sasl_final:
            if (!scram) throw ProtocolError("the server sent SASLFinal before SASL");
            scram->verify_server_final(auth.sasl_data);
            break;
          case proto::AuthKind::kerberos_v5:
          case proto::AuthKind::scm_credential:
          case proto::AuthKind::gss:
          case proto::AuthKind::gss_continue:
          case proto::AuthKind::sspi:
            throw ConnectionError("the server at " + transport().describe() + " asks for " + method_name(auth.kind) +
                                  " authentication, which keel does not support");
        }
        if (!out.empty()) co_await pipeline_->write_now(out);
        break;
      }
      case 'K': pipeline_->key = proto::parse_backend_key_data(frame.body); break;
      case 'E': throw_database_error(proto::parse_error_fields(frame.body, 'E'));
      case 'v': break;  // the server speaks an older 3.x minor version; keel uses nothing newer
      case 'S': on_parameter_status(frame); break;
      case 'N': break;
      case 'Z':
        pipeline_->transaction_status = proto::parse_ready_for_query(frame.body).status;
        ready_ = true;
        co_return;
      default:
        pipeline_->close();
        throw ProtocolError("unexpected message '" + std::string(1, frame.type) +
                            "' from the server during the startup");
    }
  }
}

asio::awaitable<bool> PgConnection::suits(TargetSessionAttrs target, bool standby_only) {
  if (target == TargetSessionAttrs::any && !standby_only) co_return true;
  // Servers from 14 on report both settings at startup; older ones are asked, as libpq does.
  if (!settings_.contains("in_hot_standby"))
    settings_["in_hot_standby"] = co_await fetchval<bool>("SELECT pg_is_in_recovery()") ? "on" : "off";
  if (!settings_.contains("default_transaction_read_only"))
    settings_["default_transaction_read_only"] = co_await fetchval<std::string>("SHOW default_transaction_read_only");
  const bool read_only = setting("default_transaction_read_only") == "on" || setting("in_hot_standby") == "on";
  const bool standby = setting("in_hot_standby") == "on";
  if (standby_only) co_return standby;
  switch (target) {
    case TargetSessionAttrs::any:
    case TargetSessionAttrs::prefer_standby: co_return true;
    case TargetSessionAttrs::read_write: co_return !read_only;
    case TargetSessionAttrs::read_only: co_return read_only;
    case TargetSessionAttrs::primary: co_return !standby;
    case TargetSessionAttrs::standby: co_return standby;
  }
  co_return true;
}

}  // namespace keel::pg
