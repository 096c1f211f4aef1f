#include "paddock/api/server.hpp"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>
#include <list>
#include <optional>

#include "paddock/log/log.hpp"

namespace paddock::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;

struct HttpServer::State {
  asio::io_context& ioc;
  ServerOptions options;
  RequestHandler handler;
  std::size_t connections = 0;
  bool stopped = false;
  std::list<std::function<void()>> closers;  // one per acceptor
};

namespace {

Peer peer_of(
    const beast::basic_stream<tcp, asio::any_io_executor, beast::unlimited_rate_policy>& s) {
  Peer p;
  boost::system::error_code ec;
  auto ep = s.socket().remote_endpoint(ec);
  if (!ec) p.address = ep.address().to_string() + ":" + std::to_string(ep.port());
  return p;
}

Peer peer_of(
    const beast::basic_stream<local, asio::any_io_executor, beast::unlimited_rate_policy>& s) {
  Peer p;
  p.is_unix = true;
  p.address = "unix";
  ucred cred{};
  socklen_t len = sizeof(cred);
  // Peer credentials are taken once at accept; a failure leaves uid at an impossible value
  // so authentication refuses the connection.
  auto& sock = const_cast<local::socket&>(s.socket());
  if (::getsockopt(sock.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    p.uid = cred.uid;
    p.gid = cred.gid;
    p.pid = cred.pid;
  } else {
    p.uid = static_cast<std::uint32_t>(-1);
    p.gid = static_cast<std::uint32_t>(-1);
  }
  return p;
}

template <class Protocol>
class Session : public std::enable_shared_from_this<Session<Protocol>> {
 public:
  using Stream = beast::basic_stream<Protocol, asio::any_io_executor, beast::unlimited_rate_policy>;

  Session(typename Protocol::socket socket, std::shared_ptr<HttpServer::State> state)
      : stream_(std::move(socket)), state_(std::move(state)) {
    ++state_->connections;
  }
  ~Session() { --state_->connections; }

  void start(bool over_capacity) {
    peer_ = peer_of(stream_);
    if (over_capacity) {
      write_and_close(Response::error(503, "too_many_connections",
                                      "the server is at its connection limit; retry shortly"));
      return;
    }
    asio::dispatch(stream_.get_executor(),
                   [self = this->shared_from_this()] { self->read_next(); });
  }

 private:
  void read_next() {
    parser_.emplace();
    parser_->body_limit(state_->options.max_body_bytes);
    parser_->header_limit(state_->options.max_header_bytes);
    stream_.expires_after(std::chrono::seconds(state_->options.request_timeout_seconds));
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                       self->on_read(ec);
                     });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == asio::error::eof) {
      return close();
    }
    if (ec == http::error::body_limit) {
      return write_and_close(Response::error(
          413, "body_too_large",
          "request body exceeds " + std::to_string(state_->options.max_body_bytes) + " bytes",
          "body"));
    }
    if (ec == http::error::header_limit) {
      return write_and_close(Response::error(
          431, "headers_too_large",
          "request headers exceed " + std::to_string(state_->options.max_header_bytes) + " bytes"));
    }
    if (ec) {
      return write_and_close(
          Response::error(400, "bad_request", "malformed HTTP request: " + ec.message()));
    }
    auto& msg = parser_->get();
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.peer = peer_;
    for (const auto& field : msg) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers[name] = std::string(field.value());
    }
    req.body = std::move(msg.body());
    Response res;
    if (!parse_target(req.target, req.path, req.query)) {
      res = Response::error(400, "bad_target", "the request target is not a valid path", "target");
    } else {
      try {
        res = state_->handler(req);
      } catch (const std::exception& e) {
        log::error("request handler threw", {{"path", req.path}, {"what", e.what()}});
        res = Response::error(500, "internal", "internal error; see the daemon log");
      }
    }
    ++served_;
    const bool keep = msg.keep_alive() && served_ < state_->options.max_requests_per_connection &&
                      !state_->stopped;
    send(std::move(res), keep, req.method == "HEAD");
  }

  void send(Response res, bool keep_alive, bool head) {
    auto out = std::make_shared<http::response<http::string_body>>();
    out->result(res.status);
    out->version(11);
    out->set(http::field::server, "paddockd/" PADDOCK_VERSION);
    out->set(http::field::content_type, res.content_type);
    for (auto& [k, v] : res.headers) out->set(k, v);
    out->keep_alive(keep_alive);
    out->body() = std::move(res.body);
    out->prepare_payload();
    if (head) out->body().clear();
    stream_.expires_after(std::chrono::seconds(state_->options.request_timeout_seconds));
    http::async_write(
        stream_, *out,
        [self = this->shared_from_this(), out, keep_alive](beast::error_code ec, std::size_t) {
          if (ec || !keep_alive) return self->close();
          self->read_next();
        });
  }

  void write_and_close(Response res) { send(std::move(res), false, false); }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(Protocol::socket::shutdown_send, ec);
    stream_.close();
  }

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpServer::State> state_;
  Peer peer_;
  std::uint32_t served_ = 0;
};

template <class Protocol>
class Acceptor : public std::enable_shared_from_this<Acceptor<Protocol>> {
 public:
  Acceptor(typename Protocol::acceptor acceptor, std::shared_ptr<HttpServer::State> state)
      : acceptor_(std::move(acceptor)), timer_(state->ioc), state_(std::move(state)) {}

  void start() { accept(); }
  void close() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    timer_.cancel();
  }

 private:
  void accept() {
    acceptor_.async_accept(asio::make_strand(state_->ioc),
                           [self = this->shared_from_this()](boost::system::error_code ec,
                                                             typename Protocol::socket socket) {
                             self->on_accept(ec, std::move(socket));
                           });
  }

  void on_accept(boost::system::error_code ec, typename Protocol::socket socket) {
    if (ec == asio::error::operation_aborted || state_->stopped) return;
    if (ec) {
      // EMFILE/ENFILE and friends: back off instead of spinning on a full fd table.
      log::warn("accept failed; backing off 100 ms", {{"error", ec.message()}});
      timer_.expires_after(std::chrono::milliseconds(100));
      timer_.async_wait([self = this->shared_from_this()](boost::system::error_code tec) {
        if (!tec) self->accept();
      });
      return;
    }
    const bool over = state_->connections >= state_->options.max_connections;
    std::make_shared<Session<Protocol>>(std::move(socket), state_)->start(over);
    accept();
  }

  typename Protocol::acceptor acceptor_;
  asio::steady_timer timer_;
  std::shared_ptr<HttpServer::State> state_;
};

}  // namespace

HttpServer::HttpServer(asio::io_context& ioc, ServerOptions options, RequestHandler handler)
    : state_(std::make_shared<State>(State{ioc, options, std::move(handler), 0, false, {}})) {}

HttpServer::~HttpServer() { stop(); }

Result<std::uint16_t> HttpServer::listen_tcp(const util::HostPort& address) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(address.host, ec);
  if (ec) {
    // Names such as "localhost" resolve to their first address.
    tcp::resolver resolver(state_->ioc);
    auto results = resolver.resolve(address.host, std::to_string(address.port), ec);
    if (ec || results.empty()) {
      return make_error("listen", "cannot resolve listen address " + util::to_string(address));
    }
    addr = results.begin()->endpoint().address();
  }
  tcp::endpoint ep(addr, address.port);
  tcp::acceptor acc(state_->ioc);
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error("listen", "cannot listen on " + util::to_string(address) + ": " +
                                    ec.message() + " (is another daemon using the port?)");
  }
  const auto port = acc.local_endpoint().port();
  auto a = std::make_shared<Acceptor<tcp>>(std::move(acc), state_);
  state_->closers.emplace_back([a] { a->close(); });
  a->start();
  return port;
}

Result<void> HttpServer::listen_unix(const std::string& path, std::uint32_t mode,
                                     const std::string& group) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return make_error("listen", path +
                                      " exists and is not a socket; remove it or choose "
                                      "another server.socket");
    }
    ::unlink(path.c_str());  // stale socket from an earlier run
  }
  boost::system::error_code ec;
  local::acceptor acc(state_->ioc);
  acc.open(local(), ec);
  // Bind with a restrictive umask so the socket is never reachable with a wider mode.
  const mode_t old = ::umask(0177);
  if (!ec) acc.bind(local::endpoint(path), ec);
  ::umask(old);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error("listen", "cannot listen on unix socket " + path + ": " + ec.message() +
                                    " (does its directory exist?)");
  }
  if (!group.empty()) {
    if (const struct ::group* gr = ::getgrnam(group.c_str())) {
      if (::chown(path.c_str(), static_cast<uid_t>(-1), gr->gr_gid) != 0) {
        return make_error("listen",
                          "chown(" + path + ", group " + group + "): " + std::strerror(errno));
      }
    } else {
      log::warn("server.socket_group does not exist; the socket keeps the daemon's group",
                {{"group", group}, {"socket", path}});
    }
  }
  if (::chmod(path.c_str(), mode) != 0) {
    return make_error("listen", "chmod(" + path + "): " + std::strerror(errno));
  }
  auto a = std::make_shared<Acceptor<local>>(std::move(acc), state_);
  state_->closers.emplace_back([a] { a->close(); });
  a->start();
  return {};
}

void HttpServer::stop() {
  if (!state_ || state_->stopped) return;
  state_->stopped = true;
  for (auto& c : state_->closers) c();
  state_->closers.clear();
}

std::size_t HttpServer::active_connections() const { return state_->connections; }

}  // namespace paddock::api
