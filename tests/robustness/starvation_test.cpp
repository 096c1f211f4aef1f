// No slow, idle or unauthenticated client can starve the API: streams are bounded (a reader
// that falls behind is told where it stopped and resumes without a gap, a worker's output is
// never slowed), authentication is decided on the headers (before any body byte), and a TCP
// flood cannot take the admin socket's connections.
//
// The three tests run concurrently where they can and are kept short (see each one for the
// durations chosen and why).
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

#include "support/daemon.hpp"
#include "support/proc_probe.hpp"
#include "support/worker_api.hpp"

using namespace paddock::test;
using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;

namespace {

using Clock = std::chrono::steady_clock;

/// Options giving a test its own ten worker UIDs, so workers of daemons running at the same
/// time (other tests, other suites) are never cleaned up by this one, nor this one's by them.
TestDaemonOptions own_uids(uid_t first) {
  TestDaemonOptions o;
  o.set["process.worker_uid_range_start"] = std::to_string(first);
  o.set["process.worker_uid_range_end"] = std::to_string(first + 9);
  o.set["process.max_workers"] = "10";
  return o;
}

/// A TCP connection to 127.0.0.1:port from `source` (any 127.0.0.0/8 address), with a small
/// receive buffer when `rcvbuf` > 0 (set before connect, so the window stays small). -1 on error.
int connect_loopback(std::uint16_t port, const char* source = nullptr, int rcvbuf = 0,
                     bool nonblocking = false) {
  const int fd =
      ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (source != nullptr) {
    sockaddr_in src{};
    src.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &src.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0) {
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 &&
      errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Decodes a chunked HTTP response incrementally into lines.
class ChunkedLines {
 public:
  /// Feeds raw bytes; complete lines of the body are appended to `out`. Returns false once
  /// the terminating chunk has been seen.
  bool feed(std::string_view bytes, std::vector<std::string>& out) {
    raw_.append(bytes);
    if (!header_done_) {
      const auto end = raw_.find("\r\n\r\n");
      if (end == std::string::npos) return true;
      status_ = status_of(raw_);
      raw_.erase(0, end + 4);
      header_done_ = true;
    }
    bool last = false;
    while (!last) {
      const auto eol = raw_.find("\r\n");
      if (eol == std::string::npos) break;
      const auto size = std::stoul(raw_.substr(0, eol), nullptr, 16);
      if (size == 0) {
        last = true;
        break;
      }
      if (raw_.size() < eol + 2 + size + 2) break;
      body_.append(raw_, eol + 2, size);
      raw_.erase(0, eol + 2 + size + 2);
    }
    std::size_t nl;
    while ((nl = body_.find('\n')) != std::string::npos) {
      out.push_back(body_.substr(0, nl));
      body_.erase(0, nl + 1);
    }
    return !last;
  }
  unsigned status() const { return status_; }

 private:
  std::string raw_;
  std::string body_;
  bool header_done_ = false;
  unsigned status_ = 0;
};

/// What one log follower saw over all its connections.
struct Follow {
  std::uint64_t next = 1;  ///< the seq expected next (all before it arrived in order)
  int connections = 0;
  std::vector<json> ends;           ///< the end lines received
  std::vector<std::string> errors;  ///< gaps, unexpected lines, closes without an end line
};

/// Follows a worker's log from seq 1 until `total` lines have arrived, resuming with since=
/// whenever the daemon ends the stream. On the first connection it reads at most
/// `bytes_per_second` for `slow_for` (0: no limit), then as fast as it can.
Follow follow_logs(std::uint16_t port, const std::string& token, const std::string& id,
                   std::uint64_t total, std::size_t bytes_per_second, std::chrono::seconds slow_for,
                   Clock::time_point deadline) {
  Follow f;
  std::uint64_t since = 0;
  while (f.next <= total && Clock::now() < deadline) {
    const bool slow = f.connections == 0 && bytes_per_second > 0;
    const int fd = connect_loopback(port, nullptr, slow ? 4096 : 0);
    if (fd < 0) {
      f.errors.push_back("connect failed: " + std::string(std::strerror(errno)));
      return f;
    }
    ++f.connections;
    const std::string req = "GET /v1/workers/" + id +
                            "/logs?follow=1&since=" + std::to_string(since) +
                            " HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + token + "\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      f.errors.push_back("send failed");
      ::close(fd);
      return f;
    }
    ChunkedLines decoder;
    std::vector<std::string> lines;
    const auto slow_until = Clock::now() + slow_for;
    bool ended = false;
    bool open = true;
    std::array<char, 64 * 1024> buf{};
    while (open && !ended && Clock::now() < deadline) {
      std::size_t want = buf.size();
      if (slow && Clock::now() < slow_until) {
        want = std::max<std::size_t>(1, bytes_per_second / 10);
        std::this_thread::sleep_for(100ms);
      }
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 1000) <= 0) continue;
      const ssize_t n = ::recv(fd, buf.data(), want, 0);
      if (n <= 0) {
        if (n < 0) f.errors.push_back("recv: " + std::string(std::strerror(errno)));
        open = false;
        break;
      }
      open = decoder.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)), lines);
      for (const auto& text : lines) {
        const auto j = json::parse(text, nullptr, false);
        if (!j.is_object()) {
          f.errors.push_back("not JSON: " + text.substr(0, 80));
          continue;
        }
        if (j.contains("event")) {
          if (j["event"] == "end") {
            f.ends.push_back(j);
            const std::uint64_t last = j.value("last_seq", std::uint64_t{0});
            if (last + 1 != f.next) {
              f.errors.push_back("end line names seq " + std::to_string(last) +
                                 " but the last line received was " + std::to_string(f.next - 1));
            }
            since = last;
            ended = true;
          } else if (j["event"] != "heartbeat") {
            f.errors.push_back("unexpected control line: " + text);
          }
          continue;
        }
        const std::uint64_t seq = j.value("seq", std::uint64_t{0});
        if (seq != f.next) {
          f.errors.push_back("expected seq " + std::to_string(f.next) + ", got " +
                             std::to_string(seq));
          ::close(fd);
          return f;
        }
        ++f.next;
        since = seq;
      }
      lines.clear();
      if (f.next > total) break;
    }
    ::close(fd);
    if (decoder.status() != 200) {
      f.errors.push_back("status " + std::to_string(decoder.status()));
      return f;
    }
    if (!ended && f.next <= total && Clock::now() < deadline) {
      f.errors.push_back("the stream closed without an end line at seq " +
                         std::to_string(f.next - 1));
      return f;
    }
  }
  return f;
}

}  // namespace

// A worker prints 24 Ki lines of 1 KiB as fast as it can; three readers follow it: one at
// ~1 KiB/s, one at ~128 KiB/s, one as fast as it can read.
//
// Durations: the slow phases last 10 s, not 60 s. Without a cap
// the daemon's memory grew by ~0.86 GB within the first 5 s, so 10 s shows the bound as well.
// After its slow phase a reader drains at full speed: what sits in the kernel's socket buffers
// (several MiB on loopback) plus the queue would take hours to read at 1 KiB/s, and the point
// here is the end line that follows them.
//
// The worker's output is bounded (24 MiB) and the ring is set to hold all of it, so a resume
// from any point is gap-free through the ring. The ring's own memory is the worker's data by
// design: the RSS bound below is 32 MiB on top of the ring's payload.
TEST(Starvation, GivenSlowAndFastLogReaders_ThenMemoryStaysBoundedAndEveryReaderResumesWithoutGap) {
  constexpr std::uint64_t kLines = 24 * 1024;
  TestDaemonOptions o = own_uids(61800);
  o.set["log.worker_log_ring_bytes"] = std::to_string(40LL << 20);
  o.set["log.level"] = "\"info\"";
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();
  WorkerApi api(d);
  auto res = api.post(
      "/v1/workers",
      {{"command",
        {"sh", "-c",
         "L=$(printf '%01023d' 0); sleep 1; yes \"$L\" | head -n " + std::to_string(kLines)}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  ASSERT_EQ(api.wait_state(id, {"ready"})["state"], "ready");
  const long rss_start = proc_status_kb(d.pid(), "VmRSS").value_or(-1);
  ASSERT_GT(rss_start, 0);

  // A bound, not a speed: the readers end as soon as they have every line (seconds on the dev
  // build, longer under ASan on a busy machine).
  const auto deadline = Clock::now() + 240s;
  auto slow = std::async(std::launch::async, [&] {
    return follow_logs(d.port(), d.read_token(), id, kLines, 1024, 10s, deadline);
  });
  auto medium = std::async(std::launch::async, [&] {
    return follow_logs(d.port(), d.read_token(), id, kLines, 128 * 1024, 10s, deadline);
  });
  auto fast = std::async(std::launch::async, [&] {
    return follow_logs(d.port(), d.read_token(), id, kLines, 0, 0s, deadline);
  });
  // The CLI follows through the same cuts: `paddock logs -f` prints every line once, in order.
  const std::string out = d.dir() + "/cli-follow.txt";
  auto cli_follow = std::async(std::launch::async, [&] {
    // It ends when the worker has exited and everything was printed (the timeout is a bound).
    const std::string cmd = "timeout 240 " + std::string(PADDOCK_CLI_PATH) + " --socket " +
                            d.socket_path() + " logs -f --tail 100000 " + id + " > " + out;
    return std::system(cmd.c_str());
  });
  long rss_max = rss_start;
  while (slow.wait_for(100ms) != std::future_status::ready ||
         medium.wait_for(0ms) != std::future_status::ready ||
         fast.wait_for(0ms) != std::future_status::ready) {
    rss_max = std::max(rss_max, proc_status_kb(d.pid(), "VmRSS").value_or(0));
  }
  const Follow s = slow.get();
  const Follow m = medium.get();
  const Follow f = fast.get();
  for (const auto* r : {&s, &m, &f}) {
    EXPECT_THAT(r->errors, ::testing::IsEmpty());
    EXPECT_EQ(r->next, kLines + 1) << "a reader did not get every line";
  }
  // The slow readers were cut, told where they stopped, and resumed from there.
  ASSERT_FALSE(s.ends.empty()) << "the 1 KiB/s reader was never cut";
  EXPECT_EQ(s.ends.front()["reason"], "slow_reader");
  EXPECT_THAT(s.ends.front().value("resume", ""), HasSubstr("since="));
  ASSERT_FALSE(m.ends.empty()) << "the 128 KiB/s reader was never cut";
  EXPECT_EQ(m.ends.front()["reason"], "slow_reader");
  std::printf("connections: slow %d, medium %d, fast %d (fast reader cut %zu times)\n",
              s.connections, m.connections, f.connections, f.ends.size());

  // The worker was not slowed (it printed everything and exited): all of its output is in the
  // ring.
  const auto tail = api.get_json("/v1/workers/" + id + "/logs?tail=1");
  ASSERT_EQ(tail["lines"].size(), 1u);
  EXPECT_EQ(tail["lines"][0]["seq"], kLines);
  EXPECT_GE(api.metric("paddock_streams_ended_total{reason=\"slow_reader\"}").value_or(0), 2.0);
  EXPECT_TRUE(
      eventually([&] { return api.metric("paddock_stream_queued_bytes").value_or(-1) == 0; }, 5s))
      << "bytes still queued after every stream ended";

  const long ring_payload_kb = static_cast<long>(kLines);  // 1 KiB per line held by the ring
  const long growth_kb = rss_max - rss_start;
  std::this_thread::sleep_for(500ms);
  const long rss_after = proc_status_kb(d.pid(), "VmRSS").value_or(0);
  std::printf(
      "daemon RSS: start %ld KiB, max %ld KiB (+%ld KiB, ring payload %ld KiB), after "
      "the streams ended %ld KiB\n",
      rss_start, rss_max, growth_kb, ring_payload_kb, rss_after);
  if (kAddressSanitizer) {
    std::printf("RSS bound not checked under ASan (its quarantine keeps freed memory)\n");
  } else {
    EXPECT_LT(growth_kb - ring_payload_kb, 32L * 1024)
        << "the streams grew the daemon's memory by more than 32 MiB beyond the ring";
  }

  EXPECT_EQ(cli_follow.get(), 0) << "paddock logs -f did not end by itself";
  std::ifstream cli(out);
  std::string text;
  std::uint64_t cli_lines = 0;
  while (std::getline(cli, text)) {
    if (text.size() == 1023) ++cli_lines;
  }
  EXPECT_EQ(cli_lines, kLines) << "paddock logs -f did not print every line once";
  api.del("/v1/workers/" + id + "?grace_seconds=0");
}

// Authentication and scope are decided on the headers: the answer comes before the client has
// sent any of the body, and 100 Continue goes only to requests let through. The refusals are in
// the audit log.
TEST(Starvation, GivenWrongTokenOrScope_ThenTheRefusalComesBeforeTheBody) {
  TestDaemon d;
  ASSERT_TRUE(d.started()) << d.start_error();
  auto ask = [&](const std::string& head) {
    RawConnection c = RawConnection::tcp(d.port());
    EXPECT_TRUE(c.send(head));
    std::string got;
    const auto until = Clock::now() + 5s;
    while (got.find("\r\n\r\n") == std::string::npos && Clock::now() < until) {
      got += c.read_some(100ms);
    }
    return got;
  };
  const std::string big = "Content-Type: application/json\r\nContent-Length: 1048576\r\n\r\n";
  const auto wrong =
      ask("POST /v1/runs HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer nope\r\n" + big);
  EXPECT_EQ(status_of(wrong), 401u) << wrong;
  const auto none = ask("POST /v1/workers HTTP/1.1\r\nHost: t\r\n" + big);
  EXPECT_EQ(status_of(none), 401u) << none;
  const auto read_scope = ask("POST /v1/runs HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                              d.read_token() + "\r\n" + big);
  EXPECT_EQ(status_of(read_scope), 403u) << read_scope;
  const auto expect_wrong =
      ask("POST /v1/runs HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer nope\r\nExpect: "
          "100-continue\r\n" +
          big);
  EXPECT_EQ(status_of(expect_wrong), 401u) << expect_wrong;
  EXPECT_THAT(expect_wrong, ::testing::Not(HasSubstr("100 Continue")));
  const auto expect_ok =
      ask("POST /v1/runs HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + d.write_token() +
          "\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(status_of(expect_ok), 100u) << expect_ok;

  EXPECT_TRUE(eventually(
      [&] {
        std::ifstream in(d.audit_log_path());
        std::stringstream ss;
        ss << in.rdbuf();
        const auto text = ss.str();
        return text.find("\"event\":\"reject\"") != std::string::npos &&
               text.find("\"status\":403") != std::string::npos;
      },
      5s))
      << "the early refusals are not in the audit log";
}

// ~1100 idle TCP connections from five loopback addresses plus 600 from inside each of two
// workers, reopened whenever the daemon closes them, for 12 s (30 s
// are not needed: the refusals and the closing of idle connections settle within the first second,
// and 12 s spans a full header timeout). Over the admin socket, `paddock ps` and GET /healthz must
// succeed every time.
TEST(Starvation, GivenATcpFloodOfIdleConnections_ThenTheAdminSocketKeepsAnswering) {
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur < 4096) {
    rl.rlim_cur = std::min<rlim_t>(4096, rl.rlim_max);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &rl), 0);
  }
  ASSERT_GE(rl.rlim_cur, 2048u) << "RLIMIT_NOFILE hard limit too low for this test";
  // Workers in the default "private" network cannot reach the daemon at all; the flood from
  // inside workers is a case only where the operator allows the host network.
  TestDaemonOptions o = own_uids(61810);
  o.set["process.allow_host_network"] = "true";
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();

  // From inside two sandboxed workers (host network, so they connect from 127.0.0.1): 600
  // connections each, reopened when closed.
  const std::string script =
      "import socket, time\n"
      "socks = []\n"
      "end = time.time() + 60\n"
      "while time.time() < end:\n"
      "  while len(socks) < 600:\n"
      "    s = socket.socket(); s.setblocking(False)\n"
      "    s.connect_ex(('127.0.0.1', " +
      std::to_string(d.port()) +
      "))\n"
      "    socks.append(s)\n"
      "  time.sleep(0.2)\n"
      "  alive = []\n"
      "  for s in socks:\n"
      "    try:\n"
      "      if s.recv(4096) == b'': s.close()\n"
      "      else: alive.append(s)\n"
      "    except BlockingIOError: alive.append(s)\n"
      "    except OSError: s.close()\n"
      "  socks = alive\n";
  // Everything in this test goes through the admin socket: once the workers run, 127.0.0.1 is at
  // its per-address limit on TCP (which is the point).
  const auto admin = d.unix_client();
  std::vector<std::string> workers;
  for (int i = 0; i < 2; ++i) {
    const json body{
        {"profile", "python"}, {"network", "host"}, {"command", {"python3", "-c", script}}};
    auto w =
        admin.request("POST", "/v1/workers", body.dump(), {{"Content-Type", "application/json"}});
    ASSERT_EQ(w.status, 201u) << w.body;
    workers.push_back(w.json()["id"]);
  }
  for (const auto& id : workers) {
    EXPECT_TRUE(eventually(
        [&] {
          const auto w = json::parse(admin.get("/v1/workers/" + id).body, nullptr, false);
          return w.value("state", "") == "ready";
        },
        20s));
  }

  constexpr int kFlood = 1100;
  const char* sources[] = {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"};
  std::atomic<bool> stop{false};
  std::atomic<long> reopened{0};
  std::thread flood([&] {
    std::vector<pollfd> fds(kFlood);
    for (int i = 0; i < kFlood; ++i) {
      fds[i] = {connect_loopback(d.port(), sources[i % 5], 0, true), POLLIN, 0};
    }
    std::array<char, 4096> buf{};
    while (!stop) {
      if (::poll(fds.data(), fds.size(), 100) <= 0) continue;
      for (int i = 0; i < kFlood; ++i) {
        if (fds[i].fd >= 0 && fds[i].revents == 0) continue;
        if (fds[i].fd >= 0 && ::recv(fds[i].fd, buf.data(), buf.size(), MSG_DONTWAIT) > 0) {
          continue;  // a 503 being read; the close follows
        }
        if (fds[i].fd >= 0) ::close(fds[i].fd);
        fds[i].fd = connect_loopback(d.port(), sources[i % 5], 0, true);
        ++reopened;
      }
    }
    for (auto& p : fds) {
      if (p.fd >= 0) ::close(p.fd);
    }
  });
  std::this_thread::sleep_for(1s);  // let the flood reach the limits

  int ps_ok = 0, ps_failed = 0, health_ok = 0, health_failed = 0;
  std::string failure;
  const auto until = Clock::now() + 12s;
  while (Clock::now() < until) {
    // The real CLI over the admin socket.
    const std::string cmd = std::string(PADDOCK_CLI_PATH) + " --socket " + d.socket_path() +
                            " ps >/dev/null 2>/tmp/paddock-starve-ps.err";
    const int rc = std::system(cmd.c_str());
    if (rc == 0) {
      ++ps_ok;
    } else {
      ++ps_failed;
      std::ifstream in("/tmp/paddock-starve-ps.err");
      std::getline(in, failure);
    }
    try {
      const auto h = d.unix_client().get("/healthz");
      (h.status == 200 ? health_ok : health_failed) += 1;
    } catch (const std::exception& e) {
      ++health_failed;
      failure = e.what();
    }
    std::this_thread::sleep_for(200ms);
  }
  // TCP itself still serves a new client from another address (the oldest idle connections
  // make room).
  std::string tcp_health;
  {
    const int fd = connect_loopback(d.port(), "127.0.0.9");
    ASSERT_GE(fd, 0);
    const std::string req = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
    std::array<char, 4096> buf{};
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 5000) > 0) {
      const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      tcp_health.append(buf.data(), static_cast<std::size_t>(n));
    }
    ::close(fd);
  }
  stop = true;
  flood.join();
  std::remove("/tmp/paddock-starve-ps.err");
  // The workers still hold 127.0.0.1's share of TCP: look and clean up over the admin socket.
  for (const auto& id : workers) {
    const auto w = json::parse(admin.get("/v1/workers/" + id).body, nullptr, false);
    EXPECT_EQ(w.value("state", ""), "ready") << "a flooding worker died";
    admin.request("DELETE", "/v1/workers/" + id + "?grace_seconds=0", {});
  }
  const std::string metrics = admin.get("/metrics").body;
  auto metric = [&](const std::string& series) {
    return metric_value(metrics, series).value_or(0);
  };
  const double per_address = metric(
      "paddock_connections_refused_total{listener=\"tcp\",limit=\"max_connections_per_"
      "address\"}");
  const double refused =
      metric("paddock_connections_refused_total{listener=\"tcp\",limit=\"idle_soft_limit\"}") +
      metric("paddock_connections_refused_total{listener=\"tcp\",limit=\"max_connections\"}");
  std::printf(
      "paddock ps: %d ok, %d failed; /healthz over the socket: %d ok, %d failed; flood "
      "connections reopened %ld times; refused or closed by the TCP limits %.0f, refused per "
      "address (the workers) %.0f\n",
      ps_ok, ps_failed, health_ok, health_failed, reopened.load(), refused, per_address);
  EXPECT_EQ(ps_failed, 0) << failure;
  EXPECT_EQ(health_failed, 0) << failure;
  EXPECT_GT(ps_ok, 5);
  EXPECT_EQ(status_of(tcp_health), 200u) << tcp_health;
  EXPECT_GT(per_address, 0) << "the workers' connections never reached the per-address limit";

  EXPECT_GT(refused, 0) << "the flood never reached a TCP limit; it proves nothing";
}

// A stream reaching server.stream_max_seconds ends with the same end line or event as a slow
// reader's, naming the last seq or event id sent; resuming from there misses nothing.
TEST(Starvation, GivenStreamsPastTheirLifetime_ThenTheyEndSayingWhereToResume) {
  TestDaemonOptions o = own_uids(61820);
  o.set["server.stream_max_seconds"] = "1";
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();
  WorkerApi api(d);
  auto res = api.post(
      "/v1/workers",
      {{"command", {"sh", "-c", "i=0; while :; do i=$((i+1)); echo $i; sleep 0.1; done"}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  ASSERT_EQ(api.wait_state(id, {"ready"})["state"], "ready");

  // Events: the stream ends after 1 s with a stream-end event naming the last id sent.
  const auto ev = d.tcp().get("/v1/events", {bearer(d.read_token()), {"Last-Event-ID", "0"}});
  ASSERT_EQ(ev.status, 200u);
  const auto end_at = ev.body.find("event: stream-end\ndata: ");
  ASSERT_NE(end_at, std::string::npos) << ev.body;
  const auto end =
      json::parse(ev.body.substr(end_at + 24, ev.body.find('\n', end_at + 24) - end_at - 24));
  EXPECT_EQ(end["reason"], "lifetime");
  std::uint64_t last_id = 0;
  for (std::size_t at = ev.body.find("id: "); at != std::string::npos && at < end_at;
       at = ev.body.find("\nid: ", at + 1)) {
    last_id = std::stoull(ev.body.substr(ev.body[at] == '\n' ? at + 5 : at + 4));
  }
  EXPECT_GT(last_id, 0u);
  EXPECT_EQ(end["last_event_id"], last_id);
  // Resuming gives the next event after it (a new worker makes one).
  ASSERT_EQ(api.post("/v1/runs", {{"command", {"true"}}}).status, 200u);
  const auto next = d.tcp().get(
      "/v1/events", {bearer(d.read_token()), {"Last-Event-ID", std::to_string(last_id)}});
  EXPECT_EQ(next.body.rfind("id: " + std::to_string(last_id + 1) + "\n", 0), 0u)
      << next.body.substr(0, 200);

  // Log follow: the same, with since=.
  const auto logs =
      d.tcp().get("/v1/workers/" + id + "/logs?follow=1&since=0", {bearer(d.read_token())});
  ASSERT_EQ(logs.status, 200u);
  std::istringstream in(logs.body);
  std::string line;
  std::uint64_t last_seq = 0;
  json log_end;
  while (std::getline(in, line)) {
    const auto j = json::parse(line);
    if (j.contains("event")) {
      if (j["event"] == "end") log_end = j;
      continue;
    }
    EXPECT_EQ(j["seq"], last_seq + 1);
    last_seq = j["seq"];
  }
  ASSERT_TRUE(log_end.is_object()) << logs.body;
  EXPECT_EQ(log_end["reason"], "lifetime");
  EXPECT_EQ(log_end["last_seq"], last_seq);
  json again;
  EXPECT_TRUE(eventually(
      [&] {
        again = api.get_json("/v1/workers/" + id + "/logs?since=" + std::to_string(last_seq));
        return !again["lines"].empty();
      },
      5s));
  ASSERT_FALSE(again["lines"].empty());
  EXPECT_EQ(again["lines"][0]["seq"], last_seq + 1);
  EXPECT_EQ(again["missing_lines"], 0);
  api.del("/v1/workers/" + id + "?grace_seconds=0");
}
