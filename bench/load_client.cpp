#include "load_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cctype>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace paddock::bench {

namespace {

struct Conn {
  int fd = -1;
  std::string in;
  Clock::time_point sent;
};

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/// Length of the first complete response in `buf` (Content-Length framing), 0 if incomplete.
std::size_t complete_response(const std::string& buf, unsigned* status) {
  const auto end = buf.find("\r\n\r\n");
  if (end == std::string::npos) return 0;
  *status = static_cast<unsigned>(std::atoi(buf.c_str() + buf.find(' ') + 1));
  std::size_t length = 0;
  std::size_t pos = 0;
  while ((pos = buf.find('\n', pos)) != std::string::npos && pos < end) {
    ++pos;
    if (strncasecmp(buf.c_str() + pos, "content-length:", 15) == 0) {
      length = std::strtoul(buf.c_str() + pos + 15, nullptr, 10);
      break;
    }
  }
  return buf.size() >= end + 4 + length ? end + 4 + length : 0;
}

/// Whether a response's headers carry "Connection: close".
bool says_close(const std::string& response) {
  const auto end = response.find("\r\n\r\n");
  std::size_t pos = 0;
  while ((pos = response.find('\n', pos)) != std::string::npos && pos < end) {
    ++pos;
    if (strncasecmp(response.c_str() + pos, "connection:", 11) == 0) {
      const auto line_end = response.find('\r', pos);
      std::string value = response.substr(pos + 11, line_end - pos - 11);
      for (auto& ch : value) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      return value.find("close") != std::string::npos;
    }
  }
  return false;
}

LoadResult builtin(const LoadOptions& o) {
  std::string req = "GET " + o.target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!o.token.empty()) req += "Authorization: Bearer " + o.token + "\r\n";
  req += "\r\n";
  std::mutex mu;
  std::vector<double> all;
  std::atomic<long> errors{0};
  const auto t0 = Clock::now();
  const auto deadline =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    const int n = o.connections / o.threads + (t < o.connections % o.threads ? 1 : 0);
    threads.emplace_back([&, n] {
      std::vector<Conn> conns(static_cast<std::size_t>(n));
      std::vector<double> lat;
      lat.reserve(1 << 20);
      const auto send_on = [&](Conn& c) {
        if (c.fd < 0) c.fd = connect_to(o.port);
        if (c.fd < 0) return false;
        c.sent = Clock::now();
        return ::send(c.fd, req.data(), req.size(), MSG_NOSIGNAL) ==
               static_cast<ssize_t>(req.size());
      };
      for (auto& c : conns) {
        if (!send_on(c)) ++errors;
      }
      std::vector<pollfd> pfds(conns.size());
      char buf[65536];
      while (Clock::now() < deadline) {
        for (std::size_t i = 0; i < conns.size(); ++i) pfds[i] = {conns[i].fd, POLLIN, 0};
        if (::poll(pfds.data(), pfds.size(), 100) <= 0) continue;
        for (std::size_t i = 0; i < conns.size(); ++i) {
          if (pfds[i].revents == 0) continue;
          Conn& c = conns[i];
          const ssize_t got = ::recv(c.fd, buf, sizeof buf, 0);
          if (got <= 0) {
            ::close(c.fd);
            c.fd = -1;
            c.in.clear();
            ++errors;
            if (!send_on(c)) ++errors;
            continue;
          }
          c.in.append(buf, static_cast<std::size_t>(got));
          unsigned status = 0;
          if (const std::size_t len = complete_response(c.in, &status); len > 0) {
            lat.push_back(ms_since(c.sent));
            if (status < 200 || status >= 300) ++errors;
            // A server may end a keep-alive connection on purpose (paddockd does after 1000
            // requests on one): reconnect, as wrk does; not an error.
            const bool closing = says_close(c.in.substr(0, len));
            c.in.erase(0, len);
            if (closing) {
              ::close(c.fd);
              c.fd = -1;
              c.in.clear();
            }
            if (!send_on(c)) ++errors;
          }
        }
      }
      for (auto& c : conns) {
        if (c.fd >= 0) ::close(c.fd);
      }
      std::lock_guard<std::mutex> lock(mu);
      all.insert(all.end(), lat.begin(), lat.end());
    });
  }
  for (auto& t : threads) t.join();
  const double secs = ms_since(t0) / 1000.0;
  const auto s = summarize(all);
  LoadResult r;
  r.tool = "builtin";
  r.requests = static_cast<long>(all.size());
  r.requests_per_second = static_cast<double>(all.size()) / secs;
  r.p50_ms = s.p50;
  r.p99_ms = s.p99;
  r.errors = errors;
  return r;
}

double wrk_ms(const std::string& value) {
  const double v = std::atof(value.c_str());
  if (value.find("us") != std::string::npos) return v / 1000.0;
  if (value.find("ms") != std::string::npos) return v;
  if (value.find('s') != std::string::npos) return v * 1000.0;
  return v;
}

LoadResult wrk(const LoadOptions& o) {
  std::ostringstream cmd;
  cmd << "wrk -t" << o.threads << " -c" << o.connections << " -d" << static_cast<int>(o.seconds)
      << "s --latency";
  if (!o.token.empty()) cmd << " -H 'Authorization: Bearer " << o.token << "'";
  cmd << " http://127.0.0.1:" << o.port << o.target << " 2>&1";
  FILE* p = ::popen(cmd.str().c_str(), "r");
  if (p == nullptr) throw std::runtime_error("popen(wrk) failed");
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  LoadResult r;
  r.tool = "wrk";
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::string a, b;
    f >> a >> b;
    if (a == "50%") r.p50_ms = wrk_ms(b);
    if (a == "99%") r.p99_ms = wrk_ms(b);
    if (a == "Requests/sec:") r.requests_per_second = std::atof(b.c_str());
    if (b == "requests") r.requests = std::atol(a.c_str());
    if (a == "Non-2xx") r.errors += std::atol(line.substr(line.find(':') + 1).c_str());
    if (a == "Socket" && b == "errors:") r.errors += 1;
  }
  if (r.requests_per_second == 0) throw std::runtime_error("could not read wrk's output:\n" + out);
  return r;
}

}  // namespace

bool have_wrk() { return std::system("command -v wrk >/dev/null 2>&1") == 0; }

LoadResult run_load(const LoadOptions& options) {
  const bool use_wrk = options.client == "wrk" || (options.client == "auto" && have_wrk());
  return use_wrk ? wrk(options) : builtin(options);
}

}  // namespace paddock::bench
