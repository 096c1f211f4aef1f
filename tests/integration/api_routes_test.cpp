// Integration tests of the API routes against a real paddockd: every route implemented so far
// with its success and error paths, token scopes, the audit log, and that tokens never reach
// the logs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "paddock/util/crypto.hpp"
#include "support/daemon.hpp"

using namespace paddock::test;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

std::vector<nlohmann::json> audit_lines(const TestDaemon& d) {
  std::ifstream in(d.audit_log_path());
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

class ApiRoutes : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(d.started()) << d.start_error(); }
  TestDaemon d;
};

}  // namespace

TEST_F(ApiRoutes, GivenNoToken_WhenHealthzAndReadyz_Then200WithoutAuthentication) {
  auto h = d.tcp().get("/healthz");
  EXPECT_EQ(h.status, 200u);
  EXPECT_EQ(h.json()["status"], "ok");
  EXPECT_EQ(h.header("content-type"), "application/json");
  auto r = d.tcp().get("/readyz");
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json()["status"], "ready");
  EXPECT_EQ(d.tcp().request("HEAD", "/healthz").status, 200u);
}

TEST_F(ApiRoutes, GivenTokens_WhenVersion_ThenReadAndWriteTokensSucceedAndOthersGet401) {
  for (const auto& token : {d.read_token(), d.write_token()}) {
    auto r = d.tcp().get("/v1/version", {bearer(token)});
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.json()["version"], PADDOCK_VERSION);
    EXPECT_EQ(r.json()["api"], "v1");
    EXPECT_TRUE(r.json()["uptime_seconds"].is_number_integer());
  }
  auto none = d.tcp().get("/v1/version");
  EXPECT_EQ(none.status, 401u);
  EXPECT_EQ(none.header("WWW-Authenticate"), "Bearer realm=\"paddock\"");
  EXPECT_EQ(none.json()["error"]["code"], "unauthorized");
  auto wrong = d.tcp().get("/v1/version", {bearer(d.read_token() + "x")});
  EXPECT_EQ(wrong.status, 401u);
  EXPECT_THAT(wrong.header("WWW-Authenticate"), HasSubstr("invalid_token"));
  auto basic = d.tcp().get("/v1/version", {{"Authorization", "Basic YTpi"}});
  EXPECT_EQ(basic.status, 401u);
  auto twice = d.tcp().get("/v1/version", {bearer(d.read_token()), bearer(d.read_token())});
  EXPECT_EQ(twice.status, 400u);
  EXPECT_EQ(twice.json()["error"]["field"], "authorization");
}

TEST_F(ApiRoutes, GivenReadToken_WhenPosting_Then403AndWriteTokenReachesTheRoute) {
  auto ro = d.tcp().request("POST", "/v1/workers/w-none/restart", "{}", {bearer(d.read_token())});
  EXPECT_EQ(ro.status, 403u);
  EXPECT_EQ(ro.json()["error"]["code"], "insufficient_scope");
  // A write route that reaches its handler: restarting an unknown worker is a 404.
  auto rw = d.tcp().request("POST", "/v1/workers/w-none/restart", "{}", {bearer(d.write_token())});
  EXPECT_EQ(rw.status, 404u);
  EXPECT_EQ(rw.json()["error"]["code"], "not_found");
  EXPECT_EQ(d.tcp().request("POST", "/v1/workers/w-none/restart", "{}").status, 401u);
  EXPECT_EQ(d.tcp().request("DELETE", "/v1/version", "", {bearer(d.read_token())}).status, 403u);
}

TEST_F(ApiRoutes, GivenUnknownPathsAndMethods_WhenAuthenticated_Then404And405WithAllow) {
  auto nf = d.tcp().get("/v1/nope", {bearer(d.read_token())});
  EXPECT_EQ(nf.status, 404u);
  EXPECT_EQ(nf.json()["error"]["code"], "not_found");
  auto na = d.tcp().request("PUT", "/v1/version", "{}", {bearer(d.write_token())});
  EXPECT_EQ(na.status, 405u);
  EXPECT_EQ(na.header("Allow"), "GET");
  // Unauthenticated callers learn nothing about which paths exist.
  EXPECT_EQ(d.tcp().get("/v1/nope").status, 401u);
  auto bad = d.tcp().get("/v1/%zz", {bearer(d.read_token())});
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(bad.json()["error"]["field"], "target");
}

TEST_F(ApiRoutes, GivenReadToken_WhenMetrics_ThenPrometheusTextWithBuildInfoAndRequestCounts) {
  EXPECT_EQ(d.tcp().get("/metrics").status, 401u);
  ASSERT_EQ(d.tcp().get("/healthz").status, 200u);
  auto r = d.tcp().get("/metrics", {bearer(d.read_token())});
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(r.body, HasSubstr("# TYPE paddock_build_info gauge\n"));
  EXPECT_THAT(r.body, HasSubstr("paddock_build_info{version=\"" PADDOCK_VERSION "\"} 1\n"));
  EXPECT_THAT(r.body, HasSubstr("# TYPE http_requests_total counter\n"));
  EXPECT_THAT(r.body, HasSubstr("http_requests_total{code=\"401\"} "));
  EXPECT_THAT(r.body, HasSubstr("http_requests_total{code=\"200\"} "));
}

TEST(ApiMetricsConfig, GivenMetricsRequireTokenFalse_WhenNoToken_ThenMetricsAnswer) {
  TestDaemonOptions o;
  o.set["server.metrics_require_token"] = "false";
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();
  auto r = d.tcp().get("/metrics");
  EXPECT_EQ(r.status, 200u);
  EXPECT_THAT(r.body, HasSubstr("paddock_build_info"));
  EXPECT_EQ(d.tcp().get("/v1/version").status, 401u);
}

TEST_F(ApiRoutes, GivenReadToken_WhenOpenApiJson_ThenTheDocumentOfDocsIsServed) {
  auto r = d.tcp().get("/v1/openapi.json", {bearer(d.read_token())});
  ASSERT_EQ(r.status, 200u);
  std::ifstream in(PADDOCK_SOURCE_DIR "/docs/openapi.json");
  EXPECT_EQ(r.json(), nlohmann::json::parse(in));
  EXPECT_EQ(r.json()["openapi"], "3.0.3");
  EXPECT_TRUE(r.json()["paths"].contains("/v1/workers/{id}"));
}

TEST_F(ApiRoutes, GivenMutatingRequests_WhenServed_ThenEachIsAuditedWithWhoAndStatus) {
  ASSERT_EQ(
      d.tcp().request("POST", "/v1/workers/w-none/restart", "{}", {bearer(d.write_token())}).status,
      404u);
  ASSERT_EQ(
      d.tcp().request("POST", "/v1/workers/w-none/restart", "{}", {bearer(d.read_token())}).status,
      403u);
  ASSERT_EQ(d.tcp().get("/v1/version", {bearer(d.read_token())}).status, 200u);
  ASSERT_EQ(d.unix_client().request("POST", "/v1/workers/w-none/restart", "{}").status, 404u);
  const auto lines = audit_lines(d);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["who"], "token:writer");
  EXPECT_EQ(lines[0]["method"], "POST");
  EXPECT_EQ(lines[0]["path"], "/v1/workers/w-none/restart");
  EXPECT_EQ(lines[0]["status"], 404);
  EXPECT_EQ(lines[1]["who"], "token:reader");
  EXPECT_EQ(lines[1]["status"], 403);
  EXPECT_EQ(lines[2]["who"], "uid:0");
  EXPECT_EQ(lines[2]["status"], 404);
}

TEST_F(ApiRoutes, GivenRequestsWithTokens_WhenServed_ThenNoTokenAppearsInLogs) {
  d.tcp().get("/v1/version", {bearer(d.read_token())});
  d.tcp().get("/v1/version", {bearer(d.write_token() + "-wrong")});
  d.tcp().request("POST", "/v1/workers/w-none/restart", "{}", {bearer(d.read_token())});
  ASSERT_TRUE(d.stop().has_value());
  const std::string log = d.log();
  std::ifstream in(d.audit_log_path());
  const std::string audit((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(log, HasSubstr("request refused"));  // the log does cover these requests
  for (const auto& text : {log, audit}) {
    EXPECT_THAT(text, Not(HasSubstr(d.read_token())));
    EXPECT_THAT(text, Not(HasSubstr(d.write_token())));
  }
}

TEST_F(ApiRoutes, GivenRootOnUnixSocket_WhenRequesting_ThenAcceptedWithoutToken) {
  auto r = d.unix_client().get("/v1/version");
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(d.unix_client().get("/metrics").status, 200u);
}

TEST_F(ApiRoutes, GivenSigterm_WhenStopping_ThenExitZeroAndSocketRemoved) {
  auto status = d.stop();
  ASSERT_TRUE(status.has_value()) << "paddockd needed SIGKILL";
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_FALSE(std::filesystem::exists(d.socket_path()));
  EXPECT_THAT(d.log(), HasSubstr("paddockd stopped"));
}

TEST_F(ApiRoutes, GivenSighup_WhenTokenFileChanged_ThenNewTokensApplyAndOldOnesStop) {
  const std::string fresh = "pdk_reloaded_token_for_test";
  {
    std::ofstream out(d.dir() + "/tokens");
    out << "fresh read sha256:" << paddock::util::sha256_hex(fresh) << "\n";
  }
  ASSERT_EQ(::kill(d.pid(), SIGHUP), 0);
  bool switched = false;
  for (int i = 0; i < 200 && !switched; ++i) {
    switched = d.tcp().get("/v1/version", {bearer(fresh)}).status == 200;
    if (!switched) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_TRUE(switched);
  EXPECT_EQ(d.tcp().get("/v1/version", {bearer(d.read_token())}).status, 401u);
  // A malformed file keeps the tokens loaded before.
  std::ofstream(d.dir() + "/tokens") << "broken line\n";
  ASSERT_EQ(::kill(d.pid(), SIGHUP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(d.tcp().get("/v1/version", {bearer(fresh)}).status, 200u);
  EXPECT_THAT(d.log(), HasSubstr("keeping the tokens loaded before"));
}

TEST(ApiShutdown,
     GivenRequestInFlightAndIdleConnection_WhenSigterm_ThenInFlightFinishesAndIdleCloses) {
  TestDaemonOptions o;
  o.set["server.header_timeout_seconds"] = "60";
  o.set["server.request_timeout_seconds"] = "60";
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();
  auto idle = RawConnection::tcp(d.port());
  auto busy = RawConnection::tcp(d.port());
  ASSERT_TRUE(idle.connected() && busy.connected());
  ASSERT_TRUE(
      busy.send("POST /v1/workers/w-none/restart HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                d.write_token() + "\r\nContent-Length: 10\r\n\r\n{\"a\":"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the header has been read
  ASSERT_EQ(::kill(d.pid(), SIGTERM), 0);
  // The idle connection is closed at once; the daemon keeps running for the busy one.
  auto idle_result = idle.read_until_closed(std::chrono::seconds(3));
  EXPECT_TRUE(idle_result.closed);
  EXPECT_TRUE(idle_result.data.empty()) << idle_result.data;
  EXPECT_TRUE(d.running());
  // New connections are no longer accepted.
  auto late = RawConnection::tcp(d.port());
  EXPECT_FALSE(late.connected());
  // The request in flight completes, with Connection: close.
  ASSERT_TRUE(busy.send("12345"));
  auto r = busy.read_until_closed(std::chrono::seconds(3));
  EXPECT_EQ(status_of(r.data), 404u) << r.data;
  EXPECT_THAT(r.data, HasSubstr("Connection: close"));
  // With the last connection gone the daemon exits by itself (no second signal).
  auto status = d.wait_exit(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value()) << "paddockd did not exit after its last connection closed";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status << "\n"
                                                               << d.log();
}
