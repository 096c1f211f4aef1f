#include "paddock/preflight/net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "paddock/util/fd.hpp"
#include "paddock/util/strings.hpp"

namespace paddock::preflight {

namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

Reach reach_of_errno(int e) {
  if (e == ECONNREFUSED) return Reach::Refused;
  if (e == ETIMEDOUT) return Reach::Timeout;
  return Reach::Unreachable;
}

/// One non-blocking connect to a numeric address; on success the connected socket.
util::UniqueFd connect_one(const sockaddr* sa, socklen_t len, Clock::time_point deadline,
                           ConnectOutcome& out) {
  util::UniqueFd fd(::socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    out = {Reach::Unreachable, util::syscall_error("socket", errno), out.address};
    return {};
  }
  if (::connect(fd.get(), sa, len) != 0) {
    if (errno != EINPROGRESS) {
      const int e = errno;
      out = {reach_of_errno(e), util::errno_name(e), out.address};
      return {};
    }
    for (;;) {
      pollfd p{fd.get(), POLLOUT, 0};
      const int n = ::poll(&p, 1, remaining_ms(deadline));
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) {
        out = {Reach::Timeout, "timeout", out.address};
        return {};
      }
      if (n < 0) {
        out = {Reach::Unreachable, util::syscall_error("poll", errno), out.address};
        return {};
      }
      break;
    }
    int err = 0;
    socklen_t elen = sizeof err;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen) != 0) err = errno;
    if (err != 0) {
      out = {reach_of_errno(err), util::errno_name(err), out.address};
      return {};
    }
  }
  out = {Reach::Reachable, "connected", out.address};
  return fd;
}

struct Connected {
  util::UniqueFd fd;
  ConnectOutcome outcome;
};

Connected connect_host(const std::string& host, std::uint16_t port, Clock::time_point deadline) {
  Connected c;
  auto addrs = resolve_host(host);
  if (!addrs) {
    c.outcome = {Reach::Unreachable, addrs.error().message, ""};
    return c;
  }
  for (const auto& a : *addrs) {
    c.outcome.address = a;
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (a.find(':') != std::string::npos) {
      auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons(port);
      ::inet_pton(AF_INET6, a.c_str(), &s6->sin6_addr);
      len = sizeof *s6;
    } else {
      auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
      s4->sin_family = AF_INET;
      s4->sin_port = htons(port);
      ::inet_pton(AF_INET, a.c_str(), &s4->sin_addr);
      len = sizeof *s4;
    }
    c.fd = connect_one(reinterpret_cast<sockaddr*>(&ss), len, deadline, c.outcome);
    if (c.fd) return c;
    if (remaining_ms(deadline) == 0) return c;
  }
  return c;
}

}  // namespace

std::string_view to_string(Reach r) {
  switch (r) {
    case Reach::Reachable:
      return "reachable";
    case Reach::Refused:
      return "refused";
    case Reach::Timeout:
      return "timeout";
    case Reach::Unreachable:
      return "unreachable";
  }
  return "unreachable";
}

Result<std::vector<std::string>> resolve_host(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    return make_error("resolve", "getaddrinfo(" + host + "): " + ::gai_strerror(rc));
  }
  std::vector<std::string> v4;
  std::vector<std::string> v6;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (ai->ai_family == AF_INET) {
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr, buf, sizeof buf);
      if (std::find(v4.begin(), v4.end(), buf) == v4.end()) v4.emplace_back(buf);
    } else if (ai->ai_family == AF_INET6) {
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr, buf,
                  sizeof buf);
      if (std::find(v6.begin(), v6.end(), buf) == v6.end()) v6.emplace_back(buf);
    }
  }
  ::freeaddrinfo(res);
  v4.insert(v4.end(), v6.begin(), v6.end());
  if (v4.empty()) return make_error("resolve", "getaddrinfo(" + host + "): no address");
  return v4;
}

ConnectOutcome tcp_connect(const std::string& host, std::uint16_t port,
                           std::chrono::milliseconds timeout) {
  return connect_host(host, port, Clock::now() + timeout).outcome;
}

Result<RedisUrl> parse_redis_url(std::string_view url) {
  RedisUrl out;
  std::string_view rest;
  if (util::starts_with(url, "rediss://")) {
    out.tls = true;
    rest = url.substr(9);
  } else if (util::starts_with(url, "redis://")) {
    rest = url.substr(8);
  } else {
    return make_error("invalid_url", "'" + std::string(url.substr(0, url.find('@'))) +
                                         "' is not a redis:// or rediss:// URL");
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  const std::string shown =
      std::string(out.tls ? "rediss://" : "redis://") + std::string(authority);
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return make_error("invalid_url", "'" + shown + "': unclosed '[' in the host");
    }
    out.host = std::string(authority.substr(1, close - 1));
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return make_error("invalid_url", "'" + shown + "': bad port");
      port_text = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) return make_error("invalid_url", "'" + shown + "' has no host");
  if (!port_text.empty()) {
    unsigned port = 0;
    const auto [ptr, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return make_error("invalid_url", "'" + shown + "': the port must be 1-65535");
    }
    out.port = static_cast<std::uint16_t>(port);
  }
  return out;
}

RedisAnswer classify_redis_reply(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line == "+PONG") return RedisAnswer::Pong;
  if (util::starts_with(line, "-NOAUTH")) return RedisAnswer::NoAuth;
  return RedisAnswer::Other;
}

RedisProbe redis_ping(const std::string& host, std::uint16_t port,
                      std::chrono::milliseconds timeout) {
  RedisProbe probe;
  const auto deadline = Clock::now() + timeout;
  auto c = connect_host(host, port, deadline);
  probe.connect = c.outcome;
  if (!c.fd) return probe;
  static constexpr char kPing[] = "*1\r\n$4\r\nPING\r\n";
  std::size_t sent = 0;
  while (sent < sizeof kPing - 1) {
    const ssize_t n = ::send(c.fd.get(), kPing + sent, sizeof kPing - 1 - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{c.fd.get(), POLLOUT, 0};
      if (::poll(&p, 1, remaining_ms(deadline)) <= 0) {
        probe.error = "timeout while sending PING";
        return probe;
      }
      continue;
    }
    probe.error = util::syscall_error("send", errno);
    return probe;
  }
  std::string line;
  char buf[256];
  while (line.find('\n') == std::string::npos && line.size() < 200) {
    pollfd p{c.fd.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      probe.error = "no answer to PING within the timeout";
      break;
    }
    const ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) {
      probe.error = util::syscall_error("recv", errno);
      break;
    }
    if (n == 0) {
      if (line.empty()) probe.error = "the server closed the connection without answering";
      break;
    }
    line.append(buf, static_cast<std::size_t>(n));
  }
  if (const auto nl = line.find('\n'); nl != std::string::npos) line.resize(nl);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() > 200) line.resize(200);
  probe.first_line = line;
  return probe;
}

}  // namespace paddock::preflight
