// A TCP proxy on loopback that stands between keel and a real server and injects faults: it holds traffic
// (a stall), cuts connections, drops, corrupts or delays what passes. It reads both directions as PostgreSQL
// messages (until a connection turns to TLS, after which it forwards bytes as they come), so that a rule can
// pick "the CommandComplete of a COMMIT" or "the third DataRow". It runs on a thread of its own; tests drive
// it from theirs. Include it after `import keel;`; it needs no keel module itself.
#pragma once
#include <boost/asio.hpp>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace fault_proxy {

namespace asio = boost::asio;
using asio::ip::tcp;

enum class Direction { to_server, to_client };
// What becomes of one message: passed on; left out; its connection closed in both directions before it
// passes; every connection held from it on until resume(); passed on with a type byte no server sends.
enum class Action { forward, drop, cut, stall, corrupt };

struct Message {
  Direction direction;
  char type;              // '\0' for the client's untyped first messages (startup, SSLRequest, CancelRequest)
  std::string_view body;  // without the type and length
  std::size_t session;    // connections are numbered 0, 1, 2... as they are accepted
  bool raw = false;       // bytes of a connection that turned to TLS, as they came (body), unread
  bool answer = false;    // the server's one-byte answer ('S' or 'N') to an SSLRequest
  bool is(char t, std::string_view prefix = {}) const { return type == t && body.starts_with(prefix); }
};
using Rule = std::function<Action(const Message&)>;

class FaultProxy {
public:
  FaultProxy(const std::string& host, std::uint16_t port)
      : target_(asio::ip::make_address(host), port),
        acceptor_(loop_, {asio::ip::address_v4::loopback(), 0}),
        port_(acceptor_.local_endpoint().port()) {
    asio::co_spawn(loop_, accept(), asio::detached);
    thread_ = std::thread([this] { loop_.run(); });
  }
  ~FaultProxy() {
    // Everything closed and every waiter woken, the loop runs out of work and its thread ends.
    asio::post(loop_, [this] {
      ending_ = true;
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      close_sessions();
      wake_stalled();
    });
    thread_.join();
  }
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  std::uint16_t port() const { return port_; }

  // Decides on each message from now on (on the proxy's thread); an empty rule forwards everything.
  void set_rule(Rule rule) {
    std::lock_guard lock(rule_mutex_);
    rule_ = std::move(rule);
  }
  // Holds all traffic, of open connections and new ones, until resume().
  void stall() {
    on_loop([this] { stalled_ = true; });
  }
  void resume() {
    on_loop([this] {
      stalled_ = false;
      wake_stalled();
    });
  }
  // Closes every open connection now.
  void cut_all() {
    on_loop([this] { close_sessions(); });
  }
  // New connections are closed as soon as they are accepted (a server that is down), or let through again.
  void refuse_new(bool refuse) {
    on_loop([this, refuse] { refusing_ = refuse; });
  }
  // Waits this long before passing on each piece of traffic (zero: none).
  void set_delay(std::chrono::milliseconds delay) {
    on_loop([this, delay] { delay_ = delay; });
  }

  // Whether traffic is held (by stall(), or by a rule's Action::stall).
  bool stalled() {
    bool held = false;
    on_loop([&] { held = stalled_; });
    return held;
  }
  std::size_t accepted() const { return accepted_.load(); }
  std::size_t cuts() const { return cuts_.load(); }
  std::size_t open_sessions() {
    std::size_t n = 0;
    on_loop([&] {
      for (auto& weak : sessions_)
        if (auto s = weak.lock(); s && !s->closed) ++n;
    });
    return n;
  }

private:
  struct Session {
    explicit Session(asio::io_context& loop, std::size_t number) : client(loop), server(loop), number(number) {}
    tcp::socket client, server;
    std::size_t number;
    bool closed = false;
    bool raw = false;              // TLS (or bytes that are not PostgreSQL messages): forwarded unread
    bool client_started = false;   // the client's untyped first message is behind
    bool answer_byte_due = false;  // the server answers an SSLRequest or GSSENCRequest with one byte
    void close() {
      if (closed) return;
      closed = true;
      boost::system::error_code ignored;
      client.close(ignored);
      server.close(ignored);
    }
  };

  template <class F>
  void on_loop(F f) {
    std::promise<void> done;
    asio::post(loop_, [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }

  void close_sessions() {
    for (auto& weak : sessions_)
      if (auto s = weak.lock(); s && !s->closed) {
        s->close();
        ++cuts_;
      }
  }
  void wake_stalled() {
    for (auto* timer : stalled_waiters_) timer->cancel();
  }
  asio::awaitable<void> wait_while_stalled(const Session& s) {
    while (stalled_ && !ending_ && !s.closed) {
      asio::steady_timer timer(loop_, asio::steady_timer::time_point::max());
      stalled_waiters_.push_back(&timer);
      boost::system::error_code ignored;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      stalled_waiters_.remove(&timer);
    }
  }

  asio::awaitable<void> accept() {
    for (;;) {
      auto [ec, client] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      auto s = std::make_shared<Session>(loop_, accepted_++);
      s->client = std::move(client);
      sessions_.push_back(s);
      std::erase_if(sessions_, [](const auto& weak) { return weak.expired(); });
      if (refusing_) {
        s->close();
        continue;
      }
      asio::co_spawn(loop_, connect_and_pump(s), asio::detached);
    }
  }

  asio::awaitable<void> connect_and_pump(std::shared_ptr<Session> s) {
    auto [ec] = co_await s->server.async_connect(target_, asio::as_tuple(asio::use_awaitable));
    if (ec || s->closed) {
      s->close();
      co_return;
    }
    asio::co_spawn(loop_, pump(s, Direction::to_server), asio::detached);
    co_await pump(s, Direction::to_client);
  }

  Action decide(const Message& m) {
    Rule rule;
    {
      std::lock_guard lock(rule_mutex_);
      rule = rule_;
    }
    return rule ? rule(m) : Action::forward;
  }

  // Cuts whole messages off the front of `in` and appends what passes to `out`; returns false when the
  // connection is to be cut. `stall_from` is set to the offset in `out` from which traffic must wait.
  bool frame(Session& s, Direction direction, std::vector<std::uint8_t>& in, std::vector<std::uint8_t>& out,
             std::optional<std::size_t>& stall_from) {
    std::size_t at = 0;
    auto read_be32 = [&](std::size_t i) {
      return std::uint32_t(in[i]) << 24 | std::uint32_t(in[i + 1]) << 16 | std::uint32_t(in[i + 2]) << 8 | in[i + 3];
    };
    bool keep = true;
    while (at < in.size()) {
      if (s.raw) {
        const std::string_view bytes(reinterpret_cast<const char*>(in.data() + at), in.size() - at);
        const Action action = decide(Message{direction, '\0', bytes, s.number, true});
        if (action == Action::cut)
          keep = false;
        else if (action == Action::stall && !stall_from)
          stall_from = out.size();
        if (action != Action::cut && action != Action::drop) out.insert(out.end(), bytes.begin(), bytes.end());
        at = in.size();
        break;
      }
      if (direction == Direction::to_client && s.answer_byte_due) {
        s.answer_byte_due = false;
        const char answer = static_cast<char>(in[at]);
        if (answer == 'S' || answer == 'G') s.raw = true;  // encryption follows
        const Action action = decide(Message{direction, answer, {}, s.number, false, true});
        if (action == Action::cut) {
          keep = false;
          at = in.size();
          break;
        }
        if (action == Action::stall && !stall_from) stall_from = out.size();
        out.push_back(in[at++]);
        continue;
      }
      const bool untyped = direction == Direction::to_server && !s.client_started;
      const std::size_t header = untyped ? 4 : 5;
      if (in.size() - at < header) break;
      const std::uint32_t length = read_be32(at + header - 4);
      if (length < 4 || length > (1u << 30)) {  // not PostgreSQL's framing: pass the rest on unread
        s.raw = true;
        continue;
      }
      const std::size_t total = header - 4 + length;
      if (in.size() - at < total) break;
      const char type = untyped ? '\0' : static_cast<char>(in[at]);
      const std::string_view body(reinterpret_cast<const char*>(in.data() + at + header), total - header);
      if (untyped) {
        const std::uint32_t code = body.size() >= 4 ? read_be32(at + 4) : 0;
        if (code == 80877103 || code == 80877104)
          s.answer_byte_due = true;  // SSLRequest, GSSENCRequest
        else
          s.client_started = true;
      }
      const Action action = decide(Message{direction, type, body, s.number});
      if (action == Action::cut) {
        keep = false;
        at = in.size();
        break;
      }
      if (action == Action::stall && !stall_from) stall_from = out.size();
      if (action != Action::drop) {
        const std::size_t start = out.size();
        out.insert(out.end(), in.begin() + static_cast<std::ptrdiff_t>(at),
                   in.begin() + static_cast<std::ptrdiff_t>(at + total));
        if (action == Action::corrupt && !untyped) out[start] = 0x01;
      }
      at += total;
    }
    in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(at));
    return keep;
  }

  asio::awaitable<void> pump(std::shared_ptr<Session> s, Direction direction) {
    tcp::socket& from = direction == Direction::to_server ? s->client : s->server;
    tcp::socket& to = direction == Direction::to_server ? s->server : s->client;
    std::vector<std::uint8_t> chunk(64 * 1024), in, out;
    for (;;) {
      auto [ec, n] = co_await from.async_read_some(asio::buffer(chunk), asio::as_tuple(asio::use_awaitable));
      if (ec || s->closed) break;
      in.insert(in.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
      std::optional<std::size_t> stall_from;
      const bool keep = frame(*s, direction, in, out, stall_from);
      if (stall_from) {
        // What came before the stalling message passes; the rest waits with every other connection.
        stalled_ = true;
        std::vector<std::uint8_t> before(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*stall_from));
        out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*stall_from));
        if (!before.empty() && !co_await write(*s, to, before)) break;
      }
      co_await wait_while_stalled(*s);
      if (delay_.count() > 0 && !s->closed) {
        asio::steady_timer timer(loop_, delay_);
        boost::system::error_code ignored;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      }
      if (!out.empty() && !co_await write(*s, to, out)) break;
      out.clear();
      if (!keep) {
        if (!s->closed) ++cuts_;
        s->close();
        break;
      }
    }
    s->close();
  }

  asio::awaitable<bool> write(Session& s, tcp::socket& to, const std::vector<std::uint8_t>& bytes) {
    if (s.closed) co_return false;
    auto [ec, n] = co_await asio::async_write(to, asio::buffer(bytes), asio::as_tuple(asio::use_awaitable));
    co_return !ec;
  }

  asio::io_context loop_;
  tcp::endpoint target_;
  tcp::acceptor acceptor_;
  std::uint16_t port_;
  std::thread thread_;
  std::mutex rule_mutex_;
  Rule rule_;
  std::vector<std::weak_ptr<Session>> sessions_;
  std::list<asio::steady_timer*> stalled_waiters_;
  bool stalled_ = false;
  bool refusing_ = false;
  bool ending_ = false;
  std::chrono::milliseconds delay_{0};
  std::atomic<std::size_t> accepted_{0}, cuts_{0};
};

}  // namespace fault_proxy
