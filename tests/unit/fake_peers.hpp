// Peers that misbehave, for tests of keel's deadlines: they need no database. Included after `import keel;`.
#pragma once
#include <boost/asio.hpp>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>
#include <list>
#include <memory>
#include <thread>

namespace fake_peers {

// Accepts TCP connections on 127.0.0.1 and never answers: a server whose process is stopped, or a proxy that
// stalls. It runs on a thread of its own, and closes every connection when destroyed.
class SilentServer {
public:
  SilentServer() : acceptor_(loop_, {boost::asio::ip::address_v4::loopback(), 0}) {
    accept();
    thread_ = std::thread([this] { loop_.run(); });
  }
  ~SilentServer() {
    boost::asio::post(loop_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      for (auto& socket : accepted_) socket.close(ignored);
    });
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

private:
  void accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket) {
      if (ec) return;
      accepted_.push_back(std::move(socket));
      accept();
    });
  }
  boost::asio::io_context loop_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::list<boost::asio::ip::tcp::socket> accepted_;
  std::thread thread_;
};

}  // namespace fake_peers

namespace fake_peers {

// A PostgreSQL server of a few lines, for protocol faults: it accepts one connection without TLS, lets it in
// (AuthenticationOk, ReadyForQuery), then runs `script` on the socket, and holds the socket open until it is
// destroyed.
class ScriptedServer {
public:
  using Script = std::function<void(boost::asio::ip::tcp::socket&)>;
  explicit ScriptedServer(Script script) : acceptor_(loop_, {boost::asio::ip::address_v4::loopback(), 0}) {
    thread_ = std::thread([this, script = std::move(script)] {
      try {
        boost::asio::ip::tcp::socket socket = acceptor_.accept();
        std::uint8_t length[4];
        boost::asio::read(socket, boost::asio::buffer(length));
        std::vector<std::uint8_t> startup((length[0] << 24 | length[1] << 16 | length[2] << 8 | length[3]) - 4);
        boost::asio::read(socket, boost::asio::buffer(startup));
        static constexpr std::uint8_t welcome[] = {'R', 0, 0, 0, 8, 0, 0, 0, 0, 'Z', 0, 0, 0, 5, 'I'};
        boost::asio::write(socket, boost::asio::buffer(welcome));
        script(socket);
        std::unique_lock lock(mutex_);
        ended_.wait(lock, [this] { return ending_; });
      } catch (...) {}
    });
  }
  ~ScriptedServer() {
    {
      std::lock_guard lock(mutex_);
      ending_ = true;
    }
    ended_.notify_all();
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  // Reads one frontend message (type, length, body).
  static char read_message(boost::asio::ip::tcp::socket& socket) {
    std::uint8_t header[5];
    boost::asio::read(socket, boost::asio::buffer(header));
    std::vector<std::uint8_t> body((header[1] << 24 | header[2] << 16 | header[3] << 8 | header[4]) - 4);
    boost::asio::read(socket, boost::asio::buffer(body));
    return static_cast<char>(header[0]);
  }

private:
  boost::asio::io_context loop_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable ended_;
  bool ending_ = false;
};

}  // namespace fake_peers
