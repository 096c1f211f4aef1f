#include "paddock/cli/client.hpp"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>
#include <limits>
#include <vector>

#include "paddock/util/fd.hpp"

namespace paddock::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Local = asio::local::stream_protocol;
using Stream = beast::basic_stream<Local, asio::any_io_executor, beast::unlimited_rate_policy>;

std::string resolve_socket_path(const std::string& flag, const char* env) {
  if (!flag.empty()) return flag;
  if (env != nullptr && *env != '\0') return env;
  return kDefaultSocketPath;
}

std::string permission_message(const std::string& socket_path,
                               const std::optional<std::string>& group) {
  if (group && !group->empty() && *group != "root") {
    return "permission denied: join the group '" + *group + "' (usermod -aG " + *group +
           " $USER, then log in again) or run as root";
  }
  return "permission denied: only root may use " + socket_path +
         " (run as root, or set [server] socket_group in the daemon's config and join that "
         "group)";
}

std::string connect_failure_message(const std::string& socket_path, int err,
                                    const std::optional<std::string>& group) {
  if (err == ENOENT || err == ECONNREFUSED || err == ENOTDIR) {
    return "cannot connect to " + socket_path +
           ": is paddockd running? (systemctl status paddockd)";
  }
  if (err == EACCES || err == EPERM) return permission_message(socket_path, group);
  return "cannot connect to " + socket_path + ": " + util::errno_name(err) + " (" +
         std::strerror(err) + ")";
}

namespace {

std::optional<std::string> group_name(gid_t gid) {
  std::vector<char> buf(16384);
  group gr{};
  group* out = nullptr;
  if (::getgrgid_r(gid, &gr, buf.data(), buf.size(), &out) != 0 || out == nullptr) {
    return std::nullopt;
  }
  return std::string(out->gr_name);
}

}  // namespace

std::optional<std::string> socket_group_name(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return group_name(st.st_gid);
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return std::nullopt;
  const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  if (::stat(dir.c_str(), &st) == 0) return group_name(st.st_gid);
  return std::nullopt;
}

Client::Client(std::string socket_path, std::chrono::milliseconds timeout)
    : socket_path_(std::move(socket_path)), timeout_(timeout) {}

namespace {

/// One connection: a connected unix socket driven by a private io_context, so every operation
/// can carry a deadline while the calling code stays sequential.
class Connection {
 public:
  explicit Connection(std::chrono::milliseconds timeout) : stream_(ioc_), timeout_(timeout) {}

  Result<void> connect(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
      return make_error("connect", "cannot connect to " + path + ": the path is longer than " +
                                       std::to_string(sizeof addr.sun_path - 1) + " bytes");
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    util::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return make_error("transport", util::syscall_error("socket(AF_UNIX)", errno));
    int rc = 0;
    do {
      rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      const int err = errno;
      const bool denied = err == EACCES || err == EPERM;
      return make_error(
          denied ? "permission" : "connect",
          connect_failure_message(path, err, denied ? socket_group_name(path) : std::nullopt));
    }
    beast::error_code ec;
    stream_.socket().assign(Local(), fd.get(), ec);
    if (ec) return make_error("transport", "cannot use the socket: " + ec.message());
    fd.release();
    return {};
  }

  /// Runs the operation started by `start` until its handler ran; returns its error.
  template <class Start>
  beast::error_code run(bool deadline, Start&& start) {
    if (deadline) {
      stream_.expires_after(timeout_);
    } else {
      stream_.expires_never();
    }
    beast::error_code result;
    start([&result](beast::error_code ec, std::size_t) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  Stream& stream() { return stream_; }
  beast::flat_buffer& buffer() { return buffer_; }

 private:
  asio::io_context ioc_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::chrono::milliseconds timeout_;
};

http::request<http::string_body> make_request(const std::string& method, const std::string& target,
                                              const std::string& body) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, "localhost");
  req.set(http::field::connection, "close");
  req.set(http::field::user_agent, "paddock/" PADDOCK_VERSION);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    req.prepare_payload();
  }
  return req;
}

Error transport_error(const std::string& what, const beast::error_code& ec) {
  if (ec == beast::error::timeout) {
    return make_error("timeout", what + ": paddockd did not answer in time");
  }
  return make_error("transport", what + ": " + ec.message());
}

Result<void> send(Connection& c, const std::string& method, const std::string& target,
                  const std::string& body) {
  auto req = make_request(method, target, body);
  auto ec = c.run(true, [&](auto handler) { http::async_write(c.stream(), req, handler); });
  if (ec) return transport_error("sending " + method + " " + target, ec);
  return {};
}

}  // namespace

Result<HttpReply> Client::request(const std::string& method, const std::string& target,
                                  const std::string& body) const {
  Connection c(timeout_);
  if (auto r = c.connect(socket_path_); !r) return r.error();
  if (auto r = send(c, method, target, body); !r) return r.error();
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  if (method == "HEAD") parser.skip(true);
  auto ec =
      c.run(true, [&](auto handler) { http::async_read(c.stream(), c.buffer(), parser, handler); });
  if (ec) return transport_error("reading the answer to " + method + " " + target, ec);
  HttpReply out;
  const auto& res = parser.get();
  out.status = res.result_int();
  out.content_type = std::string(res[http::field::content_type]);
  out.body = res.body();
  return out;
}

Result<HttpReply> Client::stream(const std::string& method, const std::string& target,
                                 const std::string& body, const LineHandler& on_line,
                                 const HeadHandler& on_head) const {
  Connection c(timeout_);
  if (auto r = c.connect(socket_path_); !r) return r.error();
  if (auto r = send(c, method, target, body); !r) return r.error();
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  auto ec = c.run(true, [&](auto handler) {
    http::async_read_header(c.stream(), c.buffer(), parser, handler);
  });
  if (ec) return transport_error("reading the answer to " + method + " " + target, ec);
  HttpReply out;
  out.status = parser.get().result_int();
  out.content_type = std::string(parser.get()[http::field::content_type]);
  out.location = std::string(parser.get()[http::field::location]);
  if (on_head) on_head(out);
  const bool deliver = out.status >= 200 && out.status < 300;

  std::string pending;
  std::array<char, 64 * 1024> buf{};
  bool stopped = false;
  while (!parser.is_done() && !stopped) {
    parser.get().body().data = buf.data();
    parser.get().body().size = buf.size();
    ec = c.run(!deliver, [&](auto handler) {
      http::async_read_some(c.stream(), c.buffer(), parser, handler);
    });
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t n = buf.size() - parser.get().body().size;
    if (!deliver) {
      out.body.append(buf.data(), n);
    } else {
      pending.append(buf.data(), n);
      std::size_t start = 0;
      for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n', start)) {
        if (!on_line(std::string_view(pending).substr(start, nl - start))) {
          stopped = true;
          break;
        }
        start = nl + 1;
      }
      pending.erase(0, start);
    }
    if (ec) {
      // The server closing the connection ends the stream too (e.g. at shutdown).
      if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
          ec == asio::error::eof || ec == asio::error::connection_reset) {
        break;
      }
      return transport_error("reading the answer to " + method + " " + target, ec);
    }
  }
  if (deliver && !stopped && !pending.empty()) on_line(pending);
  beast::error_code ignored;
  c.stream().socket().shutdown(Local::socket::shutdown_both, ignored);
  return out;
}

}  // namespace paddock::cli
