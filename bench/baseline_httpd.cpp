// paddock-bench-httpd: the raw baseline of the API benchmarks. A trivial HTTP/1.1 server on the
// same libraries and threading as paddockd (Boost.Beast, one io_context thread, keep-alive),
// with none of the daemon's work: no authentication, routing, limits, metrics or logging.
//
//   paddock-bench-httpd --port=N [--blob=FILE]
//     GET /healthz -> 200 {"status":"ok"}
//     GET /blob    -> 200 with FILE's bytes (application/json)
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string g_blob;

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket s) : stream_(std::move(s)) {}
  void start() { read(); }

 private:
  void read() {
    req_ = {};
    http::async_read(stream_, buf_, req_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) return;
                       self->answer();
                     });
  }
  void answer() {
    res_ = {};
    res_.version(11);
    res_.keep_alive(req_.keep_alive());
    res_.set(http::field::content_type, "application/json");
    if (req_.target() == "/healthz") {
      res_.result(http::status::ok);
      res_.body() = "{\"status\":\"ok\"}";
    } else if (req_.target() == "/blob") {
      res_.result(http::status::ok);
      res_.body() = g_blob;
    } else {
      res_.result(http::status::not_found);
      res_.body() = "{}";
    }
    res_.prepare_payload();
    http::async_write(stream_, res_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec || !self->res_.keep_alive()) return;
                        self->read();
                      });
  }
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
};

void accept(tcp::acceptor& acc) {
  acc.async_accept([&acc](beast::error_code ec, tcp::socket s) {
    if (!ec) {
      s.set_option(tcp::no_delay(true));
      std::make_shared<Session>(std::move(s))->start();
    }
    accept(acc);
  });
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--port=", 0) == 0) port = static_cast<unsigned short>(std::stoi(a.substr(7)));
    if (a.rfind("--blob=", 0) == 0) {
      std::ifstream in(a.substr(7), std::ios::binary);
      g_blob.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
  if (port == 0) {
    std::cerr << "usage: paddock-bench-httpd --port=N [--blob=FILE]\n";
    return 2;
  }
  asio::io_context ioc{1};
  tcp::acceptor acc(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), port));
  acc.listen(4096);
  accept(acc);
  ioc.run();
  return 0;
}
