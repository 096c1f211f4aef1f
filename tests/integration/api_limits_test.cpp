// Integration tests of the server's limits against a real paddockd: body and header limits,
// slow and idle connections, the connection cap, and accept back-off when descriptors run out.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "support/daemon.hpp"

using namespace paddock::test;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

namespace {

constexpr std::size_t kMiB = 1024 * 1024;

std::string post_head(const std::string& token, const std::string& length_header) {
  return "POST /v1/workers HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + token +
         "\r\nContent-Type: application/json\r\n" + length_header + "\r\n";
}

/// Options whose timeouts are long, so a prompt answer can only come from the limit under test.
TestDaemonOptions slow_timeouts() {
  TestDaemonOptions o;
  o.set["server.header_timeout_seconds"] = "60";
  o.set["server.request_timeout_seconds"] = "60";
  return o;
}

void raise_own_nofile(rlim_t want) {
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur < want) {
    rl.rlim_cur = std::min<rlim_t>(want, rl.rlim_max);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &rl), 0);
  }
  ASSERT_GE(rl.rlim_cur, want) << "RLIMIT_NOFILE hard limit too low for this test";
}

/// user+system CPU time of a process, in clock ticks.
long cpu_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stol(f);
    if (i == 15) stime = std::stol(f);
  }
  return utime + stime;
}

}  // namespace

TEST(ApiLimits, GivenContentLengthOneByteOverTheLimit_WhenNoBodyIsSent_Then413Immediately) {
  TestDaemon d(slow_timeouts());
  ASSERT_TRUE(d.started()) << d.start_error();
  auto c = RawConnection::tcp(d.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(
      c.send(post_head(d.write_token(), "Content-Length: " + std::to_string(kMiB + 1) + "\r\n")));
  // The timeouts are 60 s: an answer within 10 s comes from the Content-Length check alone.
  auto r = c.read_until_closed(10s);
  EXPECT_EQ(status_of(r.data), 413u) << r.data;
  EXPECT_THAT(r.data, HasSubstr("body_too_large"));
  EXPECT_TRUE(r.closed);
}

TEST(ApiLimits, GivenTenGigabyteContentLength_WhenAnnounced_Then413WithoutReadingIt) {
  TestDaemon d(slow_timeouts());
  ASSERT_TRUE(d.started()) << d.start_error();
  auto c = RawConnection::tcp(d.port());
  ASSERT_TRUE(c.send(post_head(d.write_token(), "Content-Length: 10737418240\r\n") + "{\"a\":"));
  auto r = c.read_until_closed(10s);
  EXPECT_EQ(status_of(r.data), 413u) << r.data;
}

TEST(ApiLimits, GivenBodyOfExactlyTheLimit_WhenPosted_ThenItReachesTheRoute) {
  TestDaemon d;
  ASSERT_TRUE(d.started()) << d.start_error();
  std::string body = "{\"pad\":\"" + std::string(kMiB - 10, 'x') + "\"}";
  ASSERT_EQ(body.size(), kMiB);
  auto r = d.tcp().request("POST", "/v1/workers", body, {bearer(d.write_token())});
  // The route answered (unknown field "pad"): the body was accepted, not refused as too large.
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_EQ(r.json()["error"]["code"], "unknown_field") << r.body;
  body.push_back(' ');
  EXPECT_EQ(d.tcp().request("POST", "/v1/workers", body, {bearer(d.write_token())}).status, 413u);
}

TEST(ApiLimits, GivenChunkedBodyGrowingPastTheLimit_WhenStreamed_Then413BeforeItEnds) {
  TestDaemon d(slow_timeouts());
  ASSERT_TRUE(d.started()) << d.start_error();
  auto c = RawConnection::tcp(d.port());
  ASSERT_TRUE(c.send(post_head(d.write_token(), "Transfer-Encoding: chunked\r\n")));
  // 17 chunks of 64 KiB = 1 MiB + 64 KiB, never terminated with a zero chunk.
  const std::string chunk = "10000\r\n" + std::string(0x10000, 'a') + "\r\n";
  for (int i = 0; i < 17; ++i) {
    if (!c.send(chunk)) break;  // the server may close as soon as the limit is passed
  }
  auto r = c.read_until_closed(10s);
  EXPECT_EQ(status_of(r.data), 413u) << r.data.substr(0, 200);
}

TEST(ApiLimits, GivenHeadersOverTheLimit_WhenSent_Then431) {
  TestDaemon d(slow_timeouts());
  ASSERT_TRUE(d.started()) << d.start_error();
  auto c = RawConnection::tcp(d.port());
  const std::string big = "X-Filler: " + std::string(20 * 1024, 'h') + "\r\n";
  ASSERT_TRUE(c.send("GET /healthz HTTP/1.1\r\nHost: t\r\n" + big + "\r\n"));
  auto r = c.read_until_closed(10s);
  EXPECT_EQ(status_of(r.data), 431u) << r.data.substr(0, 200);
  EXPECT_THAT(r.data, HasSubstr("headers_too_large"));
  // A long target counts against the same limit.
  auto c2 = RawConnection::tcp(d.port());
  ASSERT_TRUE(
      c2.send("GET /healthz?" + std::string(20 * 1024, 'q') + " HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(status_of(c2.read_until_closed(10s).data), 431u);
}

TEST(ApiLimits, GivenClientTricklingHeaders_WhenHeaderTimeoutPasses_ThenConnectionIsClosed) {
  TestDaemonOptions o;
  o.set["server.header_timeout_seconds"] = "2";
  o.set["server.request_timeout_seconds"] = "60";
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();
  auto c = RawConnection::tcp(d.port());
  const std::string request =
      "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: " + std::string(200, 's') + "\r\n\r\n";
  // One byte every 100 ms would need 25 s for the whole request; the header deadline is 2 s
  // and is not extended by each byte that arrives.
  bool closed = false;
  for (std::size_t i = 0; i < request.size() - 2; ++i) {
    if (!c.send(request.substr(i, 1))) {
      closed = true;
      break;
    }
    auto r = c.read_until_closed(100ms);
    if (r.closed) {
      EXPECT_TRUE(r.data.empty()) << r.data;
      closed = true;
      break;
    }
  }
  EXPECT_TRUE(closed) << "the trickling connection stayed open for the whole request";
  EXPECT_EQ(d.tcp().get("/healthz").status, 200u);
}

TEST(ApiLimits, GivenIdleKeepAliveConnection_WhenHeaderTimeoutPasses_ThenServerClosesIt) {
  TestDaemonOptions o;
  o.set["server.header_timeout_seconds"] = "1";
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();
  auto c = RawConnection::tcp(d.port());
  ASSERT_TRUE(c.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(status_of(c.read_some(5s)), 200u);
  auto r = c.read_until_closed(10s);
  EXPECT_TRUE(r.closed);
}

TEST(ApiLimits, Given1000IdleConnections_WhenHealthzIsRequested_ThenItAnswers) {
  raise_own_nofile(4096);
  TestDaemonOptions o;
  o.set["server.max_connections"] = "2000";
  // Neither the per-address limit nor the idle soft limit may close them here: this is about
  // idle connections held within the limits.
  o.set["server.max_connections_per_address"] = "0";
  o.set["server.idle_connections_soft_limit"] = "2000";
  o.set["server.header_timeout_seconds"] = "60";
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();
  std::vector<RawConnection> idle;
  idle.reserve(1000);
  for (int i = 0; i < 1000; ++i) {
    idle.push_back(RawConnection::tcp(d.port()));
    ASSERT_TRUE(idle.back().connected())
        << "connection " << i << ": errno " << idle.back().connect_errno();
  }
  // Half of them have sent part of a request line, the rest nothing at all.
  for (int i = 0; i < 1000; i += 2) ASSERT_TRUE(idle[i].send("GET /hea"));
  auto r = d.tcp().get("/healthz");
  EXPECT_EQ(r.status, 200u);
  auto m = d.tcp().get("/metrics", {bearer(d.read_token())});
  EXPECT_EQ(m.status, 200u);
  // The idle connections are all still open (none was dropped to make room).
  int open = 0;
  for (auto& c : idle) open += c.read_until_closed(1ms).closed ? 0 : 1;
  EXPECT_EQ(open, 1000);
}

TEST(ApiLimits, GivenMaxConnectionsReached_WhenAnotherConnects_ThenItGets503AndClose) {
  TestDaemonOptions o;
  o.set["server.max_connections"] = "4";
  o.set["server.header_timeout_seconds"] = "60";
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();
  std::vector<RawConnection> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(RawConnection::tcp(d.port()));
    ASSERT_TRUE(held.back().connected());
  }
  std::this_thread::sleep_for(200ms);  // let the daemon accept them
  auto extra = RawConnection::tcp(d.port());
  ASSERT_TRUE(extra.connected());
  auto r = extra.read_until_closed(10s);
  EXPECT_EQ(status_of(r.data), 503u) << r.data;
  EXPECT_THAT(r.data, HasSubstr("too_many_connections"));
  EXPECT_TRUE(r.closed);
  held.clear();
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    try {
      served = d.tcp().get("/healthz").status == 200;
    } catch (const std::exception&) {
    }
    if (!served) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(served) << "the daemon did not serve again after the connections closed";
}

TEST(ApiLimits, GivenDescriptorsExhausted_WhenClientsKeepConnecting_ThenAcceptBacksOffAndRecovers) {
  TestDaemonOptions o;
  o.set["server.header_timeout_seconds"] = "60";
  // Preflight needs descriptors for its probe workers; at 48 it fails, which is not under test.
  o.set["preflight.enforce"] = "false";
  o.before_exec = [] {
    rlimit rl{48, 48};
    ::setrlimit(RLIMIT_NOFILE, &rl);
  };
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();
  std::vector<RawConnection> flood;
  for (int i = 0; i < 80; ++i) {
    flood.push_back(RawConnection::tcp(d.port()));  // the kernel queues them in the backlog
  }
  std::this_thread::sleep_for(500ms);
  // While the descriptor table is full the daemon must wait, not spin on accept().
  const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
  const long before = cpu_ticks(d.pid());
  std::this_thread::sleep_for(2s);
  const long used = cpu_ticks(d.pid()) - before;
  EXPECT_LT(used, ticks_per_second) << "paddockd used " << used << " ticks in 2 s while out of fds";
  EXPECT_TRUE(d.running());
  EXPECT_THAT(d.log(), HasSubstr("accept failed; backing off"));
  flood.clear();
  EXPECT_TRUE(d.wait_healthy(20s)) << d.log();
  EXPECT_THAT(d.log(), HasSubstr("accept works again"));
}
