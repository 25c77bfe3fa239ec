// The byte stream beneath a PostgreSQL connection: TCP or a Unix-domain socket, with TLS (OpenSSL through
// Asio) negotiated by PostgreSQL's SSLRequest and checked the way libpq's sslmode says. It knows no SQL and no
// message but SSLRequest's one-byte answer.
module;
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <utility>
#include <variant>
#include <vector>
export module keel.postgres:transport;
import keel.core;
import keel.postgres.protocol;
import :connect_options;

namespace asio = boost::asio;

namespace keel::pg {

// A timer that runs an action (closing a socket) if it expires before it is destroyed: how connection setup
// is bounded (connect_timeout, a pool's acquire timeout), since a silent peer completes nothing on its own.
class SetupDeadline {
public:
  using TimePoint = std::chrono::steady_clock::time_point;
  SetupDeadline(asio::any_io_executor executor, std::optional<TimePoint> at)
      : state_(std::make_shared<State>()), timer_(executor) {
    if (!at) return;
    timer_.expires_at(*at);
    timer_.async_wait([state = state_](const boost::system::error_code& ec) {
      if (ec || !state->armed) return;
      state->expired = true;
      if (state->action) state->action();
    });
  }
  ~SetupDeadline() {
    state_->armed = false;
    timer_.cancel();
  }
  SetupDeadline(const SetupDeadline&) = delete;
  SetupDeadline& operator=(const SetupDeadline&) = delete;
  void on_expiry(std::function<void()> action) { state_->action = std::move(action); }
  bool expired() const noexcept { return state_->expired; }

  // The earlier of a time limit from now and a deadline.
  static std::optional<TimePoint> earliest(std::optional<std::chrono::seconds> limit, std::optional<TimePoint> at) {
    std::optional<TimePoint> out = at;
    if (limit) {
      const TimePoint from_limit = std::chrono::steady_clock::now() + *limit;
      if (!out || from_limit < *out) out = from_limit;
    }
    return out;
  }

private:
  struct State {
    bool armed = true;
    bool expired = false;
    std::function<void()> action;
  };
  std::shared_ptr<State> state_;
  asio::steady_timer timer_;
};

}  // namespace keel::pg

export namespace keel::pg {

/// TCP keepalives as the connection options ask: on or off, and the system's timing unless given.
struct Keepalives {
  bool enabled = true;  ///< keepalives on or off
  ///@{
  /// TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT; none leaves the system's.
  std::optional<int> idle, interval, count;
  ///@}
};

/// Sets `socket`'s TCP keepalives as `keepalives` says; a value the system refuses throws.
inline void set_keepalives(asio::ip::tcp::socket& socket, const Keepalives& keepalives) {
  socket.set_option(asio::socket_base::keep_alive(keepalives.enabled));
  if (!keepalives.enabled) return;
  const int fd = socket.native_handle();
  for (auto [option, value] : {std::pair{TCP_KEEPIDLE, keepalives.idle}, std::pair{TCP_KEEPINTVL, keepalives.interval},
                               std::pair{TCP_KEEPCNT, keepalives.count}})
    if (value && ::setsockopt(fd, IPPROTO_TCP, option, &*value, sizeof(int)) != 0)  // a value the system refuses
      throw boost::system::system_error(errno, boost::system::system_category(), "setting TCP keepalives");
}

/// The byte stream beneath a PostgreSQL connection: TCP or a Unix-domain socket, with TLS when negotiated.
class Transport {
public:
  /// A transport whose operations run on `executor`; connect() opens it.
  explicit Transport(asio::any_io_executor executor) : executor_(std::move(executor)) {}

  /// Connects to one host: a TCP address or name, or a Unix-domain socket directory. A timeout covers the
  /// name lookup and the connect.
  asio::awaitable<void> connect(const HostSpec& host, std::optional<std::chrono::seconds> timeout,
                                const Keepalives& keepalives = {}) {
    host_ = host;
    SetupDeadline deadline(executor_, SetupDeadline::earliest(timeout, std::nullopt));
    try {
      if (host.is_unix_socket()) {
        std::string path = host.host + "/.s.PGSQL." + std::to_string(host.port);
        if (path.front() == '@') path.front() = '\0';  // Linux's abstract namespace, as libpq
        auto& socket = socket_.emplace<asio::local::stream_protocol::socket>(executor_);
        deadline.on_expiry([&socket] {
          boost::system::error_code ignored;
          socket.close(ignored);
        });
        co_await socket.async_connect(asio::local::stream_protocol::endpoint(path), asio::use_awaitable);
        co_return;
      }
      asio::ip::tcp::resolver resolver(executor_);
      deadline.on_expiry([&resolver] { resolver.cancel(); });
      auto endpoints = co_await resolver.async_resolve(host.address.empty() ? host.host : host.address,
                                                       std::to_string(host.port), asio::use_awaitable);
      auto& socket = socket_.emplace<asio::ip::tcp::socket>(executor_);
      deadline.on_expiry([&socket] {
        boost::system::error_code ignored;
        socket.close(ignored);
      });
      co_await asio::async_connect(socket, endpoints, asio::use_awaitable);
      socket.set_option(asio::ip::tcp::no_delay(true));
      set_keepalives(socket, keepalives);
    } catch (const boost::system::system_error& e) {
      if (deadline.expired())
        throw TimeoutError("timed out after " + std::to_string(timeout->count()) + " s connecting to " + describe());
      throw ConnectionError("cannot connect to " + describe() + ": " + e.code().message());
    }
  }

  /// Asks for TLS (SSLRequest) and sets it up when the server agrees. Returns whether the stream is now TLS;
  /// with require and stricter modes, a refusal is a TlsError.
  asio::awaitable<bool> negotiate_tls(const ConnectOptions& options) {
    auto* tcp = std::get_if<asio::ip::tcp::socket>(&socket_);
    // No TLS over Unix-domain sockets, as libpq; allow tries without TLS first (the connection retries with it).
    if (!tcp || options.ssl_mode == SslMode::disable || options.ssl_mode == SslMode::allow) co_return false;
    protocol::ByteBuffer request;
    protocol::write_ssl_request(request);
    co_await asio::async_write(*tcp, asio::buffer(request), asio::use_awaitable);
    char answer = 0;
    co_await asio::async_read(*tcp, asio::buffer(&answer, 1), asio::use_awaitable);
    const bool required = options.ssl_mode == SslMode::require || options.ssl_mode == SslMode::verify_ca ||
                          options.ssl_mode == SslMode::verify_full;
    if (answer == 'N') {
      if (required) throw TlsError("the server at " + describe() + " does not support TLS, and sslmode requires it");
      co_return false;
    }
    if (answer != 'S') throw ProtocolError("the server answered the TLS request with an unexpected byte");

    context_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    context_->set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                          asio::ssl::context::no_tlsv1_1);
    // As libpq: require checks the chain when a root certificate file exists; verify-ca and verify-full always.
    const bool have_root = std::filesystem::exists(options.ssl_root_cert);
    const bool verify_chain = options.ssl_mode == SslMode::verify_ca || options.ssl_mode == SslMode::verify_full ||
                              (options.ssl_mode == SslMode::require && have_root);
    if (verify_chain) {
      if (!have_root)
        throw TlsError("sslmode " +
                       std::string(options.ssl_mode == SslMode::verify_full ? "verify-full" : "verify-ca") +
                       " needs a root certificate, and " + options.ssl_root_cert + " does not exist (set sslrootcert)");
      boost::system::error_code ec;
      context_->load_verify_file(options.ssl_root_cert, ec);
      if (ec) throw TlsError("cannot read the root certificate " + options.ssl_root_cert + ": " + ec.message());
      context_->set_verify_mode(asio::ssl::verify_peer);
      load_revocations(options);
    } else {
      context_->set_verify_mode(asio::ssl::verify_none);
    }
    if (std::filesystem::exists(options.ssl_cert) && std::filesystem::exists(options.ssl_key)) {
      boost::system::error_code ec;
      context_->use_certificate_chain_file(options.ssl_cert, ec);
      if (!ec) context_->use_private_key_file(options.ssl_key, asio::ssl::context::pem, ec);
      if (ec) throw TlsError("cannot use the client certificate " + options.ssl_cert + ": " + ec.message());
    }
    tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(*tcp, *context_);
    boost::system::error_code address_check;
    (void)asio::ip::make_address(host_.host, address_check);
    const bool is_ip = !address_check;
    if (options.ssl_sni && !is_ip) SSL_set_tlsext_host_name(tls_->native_handle(), host_.host.c_str());
    try {
      co_await tls_->async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    } catch (const boost::system::system_error& e) {
      std::string reason = e.code().message();
      const long verify = SSL_get_verify_result(tls_->native_handle());
      if (verify != X509_V_OK) reason = X509_verify_cert_error_string(verify);
      throw TlsError("TLS with " + describe() + " failed: " + reason);
    }
    // verify-full: the certificate must name the host (a DNS name, or an IP address) the client asked for.
    if (options.ssl_mode == SslMode::verify_full && !certificate_names_host(is_ip)) {
      close();
      throw TlsError("TLS with " + describe() + " failed: the server certificate does not match the host name \"" +
                     host_.host + "\"");
    }
    co_return true;
  }

  /// sslcrl and sslcrldir, as libpq: when either names something that exists, every certificate of the chain is
  /// checked against the revocation lists, and a revoked one fails the handshake.
  void load_revocations(const ConnectOptions& options) {
    const bool file = !options.ssl_crl.empty() && std::filesystem::exists(options.ssl_crl);
    const bool directory = !options.ssl_crl_dir.empty() && std::filesystem::is_directory(options.ssl_crl_dir);
    if (!file && !directory) return;
    X509_STORE* store = SSL_CTX_get_cert_store(context_->native_handle());
    if (X509_STORE_load_locations(store, file ? options.ssl_crl.c_str() : nullptr,
                                  directory ? options.ssl_crl_dir.c_str() : nullptr) != 1)
      throw TlsError("cannot read the certificate revocation list " + (file ? options.ssl_crl : options.ssl_crl_dir));
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  }

  /// Whether the stream is TLS.
  bool is_tls() const noexcept { return tls_ != nullptr; }
  /// The executor its operations run on.
  asio::any_io_executor get_executor() const { return executor_; }

  /// Whether the server's certificate names the host asked for (as an IP address when `is_ip`).
  bool certificate_names_host(bool is_ip) const {
    X509* certificate = SSL_get1_peer_certificate(tls_->native_handle());
    if (!certificate) return false;
    const int match = is_ip ? X509_check_ip_asc(certificate, host_.host.c_str(), 0)
                            : X509_check_host(certificate, host_.host.c_str(), host_.host.size(), 0, nullptr);
    X509_free(certificate);
    return match == 1;
  }

  /// The tls-server-end-point channel binding (RFC 5929): a hash of the server's certificate, with its
  /// signature's hash algorithm, or SHA-256 for MD5 and SHA-1.
  std::optional<std::vector<std::uint8_t>> tls_server_end_point() const {
    if (!tls_) return std::nullopt;
    X509* certificate = SSL_get1_peer_certificate(tls_->native_handle());
    if (!certificate) return std::nullopt;
    int digest_nid = NID_undef;
    const EVP_MD* digest = EVP_sha256();
    if (OBJ_find_sigid_algs(X509_get_signature_nid(certificate), &digest_nid, nullptr) && digest_nid != NID_md5 &&
        digest_nid != NID_sha1)
      if (const EVP_MD* own = EVP_get_digestbynid(digest_nid)) digest = own;
    std::vector<std::uint8_t> hash(EVP_MAX_MD_SIZE);
    unsigned int length = 0;
    const bool ok = X509_digest(certificate, digest, hash.data(), &length) == 1;
    X509_free(certificate);
    if (!ok) return std::nullopt;
    hash.resize(length);
    return hash;
  }

  /// Writes what the socket takes now, without waiting: plain sockets only (TLS returns 0). Returns how many
  /// bytes went out; a failed connection throws.
  std::size_t write_some_now(std::span<const std::uint8_t> bytes) {
    if (tls_) return 0;
    auto write_now = [&](auto& socket) {
      boost::system::error_code ec;
      if (!socket.non_blocking()) socket.non_blocking(true, ec);  // once: each call is a system call
      std::size_t written = 0;
      while (!ec && written < bytes.size())
        written += socket.write_some(asio::buffer(bytes.data() + written, bytes.size() - written), ec);
      if (ec && ec != asio::error::would_block && ec != asio::error::try_again) throw boost::system::system_error(ec);
      return written;
    };
    if (auto* tcp = std::get_if<asio::ip::tcp::socket>(&socket_)) return write_now(*tcp);
    if (auto* local = std::get_if<asio::local::stream_protocol::socket>(&socket_)) return write_now(*local);
    return 0;
  }

  /// Writes all of it. A caller's cancellation does not reach the write: half a message would corrupt the stream.
  asio::awaitable<void> write(std::span<const std::uint8_t> bytes, bool at_once = true) {
    auto whole = [] { return asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable); };
    // Plain sockets: write at once while the socket takes it, and wait for the event loop only for the rest.
    // A query usually fits, so it goes out without a trip through the event loop.
    if (at_once) bytes = bytes.subspan(write_some_now(bytes));
    if (bytes.empty()) co_return;
    if (tls_)
      co_await asio::async_write(*tls_, asio::buffer(bytes.data(), bytes.size()), whole());
    else if (auto* tcp = std::get_if<asio::ip::tcp::socket>(&socket_))
      co_await asio::async_write(*tcp, asio::buffer(bytes.data(), bytes.size()), whole());
    else
      co_await asio::async_write(std::get<asio::local::stream_protocol::socket>(socket_),
                                 asio::buffer(bytes.data(), bytes.size()), whole());
  }

  // Not a coroutine: the caller awaits the socket's own operation, with no frame of ours between.
  /// Reads what arrives, at most `into`'s size, and gives how many bytes came.
  asio::awaitable<std::size_t> read_some(std::span<std::uint8_t> into) {
    auto buffer = asio::buffer(into.data(), into.size());
    if (tls_) return tls_->async_read_some(buffer, asio::use_awaitable);
    if (auto* tcp = std::get_if<asio::ip::tcp::socket>(&socket_))
      return tcp->async_read_some(buffer, asio::use_awaitable);
    return std::get<asio::local::stream_protocol::socket>(socket_).async_read_some(buffer, asio::use_awaitable);
  }

  /// What has already arrived on a plain socket, without waiting: 0 when nothing has, on TLS, or on an error.
  std::size_t read_some_now(std::span<std::uint8_t> into) noexcept {
    int fd = -1;
    if (tls_) return 0;
    if (auto* tcp = std::get_if<asio::ip::tcp::socket>(&socket_))
      fd = tcp->native_handle();
    else if (auto* local = std::get_if<asio::local::stream_protocol::socket>(&socket_))
      fd = local->native_handle();
    if (fd < 0 || into.empty()) return 0;
    const auto n = ::recv(fd, into.data(), into.size(), MSG_DONTWAIT);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }

  /// Whether the peer sent something, or closed, since the last read: a non-blocking peek, one system call.
  /// A connection that should be quiet (idle in a pool) and is not has most likely been ended by the server.
  bool has_unread_input() noexcept {
    int fd = -1;
    if (auto* tcp = std::get_if<asio::ip::tcp::socket>(&socket_))
      fd = tcp->native_handle();
    else if (auto* local = std::get_if<asio::local::stream_protocol::socket>(&socket_))
      fd = local->native_handle();
    if (fd < 0) return true;
    char byte;
    const auto peeked = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return peeked >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);  // data, the end (0), or an error
  }

  /// Closes the socket.
  void close() noexcept {
    boost::system::error_code ignored;
    if (auto* tcp = std::get_if<asio::ip::tcp::socket>(&socket_)) tcp->close(ignored);
    if (auto* local = std::get_if<asio::local::stream_protocol::socket>(&socket_)) local->close(ignored);
  }

  /// The host as messages name it: host:port, or the socket directory.
  std::string describe() const { return host_.describe(); }
  /// The host it connects to.
  const HostSpec& host() const noexcept { return host_; }

private:
  asio::any_io_executor executor_;
  HostSpec host_;
  std::variant<std::monostate, asio::ip::tcp::socket, asio::local::stream_protocol::socket> socket_;
  std::unique_ptr<asio::ssl::context> context_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
};

}  // namespace keel::pg
