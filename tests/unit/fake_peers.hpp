// Peers that misbehave, for tests of keel's deadlines: they need no database. Included after `import keel;`.
#pragma once
#include <boost/asio.hpp>
#include <cstdint>
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
