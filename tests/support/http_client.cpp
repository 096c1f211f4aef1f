#include "support/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace paddock::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

std::pair<std::string, std::string> bearer(const std::string& token) {
  return {"Authorization", "Bearer " + token};
}

nlohmann::json HttpResponse::json() const { return nlohmann::json::parse(body); }

std::string HttpResponse::header(const std::string& name) const {
  std::string lower = name;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto it = headers.find(lower);
  return it == headers.end() ? std::string{} : it->second;
}

HttpClient HttpClient::tcp(std::string host, std::uint16_t port) {
  HttpClient c;
  c.host_ = std::move(host);
  c.port_ = port;
  return c;
}

HttpClient HttpClient::unix_socket(std::string path) {
  HttpClient c;
  c.unix_ = true;
  c.path_ = std::move(path);
  return c;
}

namespace {

template <class Protocol>
HttpResponse exchange(const typename Protocol::endpoint& endpoint, const std::string& host,
                      const std::string& method, const std::string& target, const std::string& body,
                      const Headers& headers, std::chrono::milliseconds timeout) {
  asio::io_context ioc;
  beast::basic_stream<Protocol, asio::any_io_executor, beast::unlimited_rate_policy> stream(ioc);
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, host);
  req.set(http::field::connection, "close");
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, "content-type")) has_type = true;
    req.insert(k, v);
  }
  if (!body.empty() && !has_type) req.set(http::field::content_type, "application/json");
  req.body() = body;
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    req.prepare_payload();
  }

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (method == "HEAD") parser.skip(true);
  beast::error_code result;
  stream.expires_after(timeout);
  stream.async_connect(endpoint, [&](beast::error_code ec) {
    if (ec) {
      result = ec;
      return;
    }
    http::async_write(stream, req, [&](beast::error_code wec, std::size_t) {
      if (wec) {
        result = wec;
        return;
      }
      http::async_read(stream, buffer, parser,
                       [&](beast::error_code rec, std::size_t) { result = rec; });
    });
  });
  ioc.run();
  if (result) {
    throw std::runtime_error(method + " " + target + " failed: " + result.message());
  }
  HttpResponse out;
  const auto& res = parser.get();
  out.status = res.result_int();
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(f.value());
  }
  out.body = res.body();
  return out;
}

}  // namespace

HttpResponse HttpClient::request(const std::string& method, const std::string& target,
                                 const std::string& body, const Headers& headers) const {
  if (unix_) {
    return exchange<asio::local::stream_protocol>(asio::local::stream_protocol::endpoint(path_),
                                                  "localhost", method, target, body, headers,
                                                  timeout_);
  }
  asio::ip::tcp::endpoint ep(asio::ip::make_address(host_), port_);
  return exchange<asio::ip::tcp>(ep, host_ + ":" + std::to_string(port_), method, target, body,
                                 headers, timeout_);
}

RawConnection RawConnection::tcp(std::uint16_t port) {
  RawConnection c;
  c.fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c.fd_ < 0) {
    c.connect_errno_ = errno;
    return c;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(c.fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    c.connect_errno_ = errno;
    c.close();
  }
  return c;
}

RawConnection RawConnection::unix_socket(const std::string& path) {
  RawConnection c;
  c.fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c.fd_ < 0) {
    c.connect_errno_ = errno;
    return c;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(c.fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    c.connect_errno_ = errno;
    c.close();
  }
  return c;
}

RawConnection::RawConnection(RawConnection&& other) noexcept
    : fd_(other.fd_), connect_errno_(other.connect_errno_) {
  other.fd_ = -1;
}

RawConnection& RawConnection::operator=(RawConnection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.fd_;
    connect_errno_ = other.connect_errno_;
    other.fd_ = -1;
  }
  return *this;
}

RawConnection::~RawConnection() { close(); }

void RawConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawConnection::send(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string RawConnection::read_some(std::chrono::milliseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return {};
  char buf[65536];
  const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
  if (n <= 0) return {};
  return std::string(buf, static_cast<std::size_t>(n));
}

RawConnection::ReadResult RawConnection::read_until_closed(std::chrono::milliseconds timeout) {
  ReadResult out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return out;
    pollfd p{fd_, POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return out;
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
      out.closed = true;
      return out;
    }
    if (n > 0) out.data.append(buf, static_cast<std::size_t>(n));
  }
}

unsigned status_of(std::string_view response) {
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return 0;
  unsigned code = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (response[i] < '0' || response[i] > '9') return 0;
    code = code * 10 + static_cast<unsigned>(response[i] - '0');
  }
  return code;
}

}  // namespace paddock::test
