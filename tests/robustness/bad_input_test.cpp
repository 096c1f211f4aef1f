// Robustness: hostile input at a real paddockd. Malformed JSON bodies on the worker and run
// routes, bundle path attacks, bad and wrong-scope tokens against live workers, the admin socket
// seen from inside a sandbox, and 1000 connections that all ask at once.
//
// Covered elsewhere, not repeated here:
//  - a 10 GB Content-Length -> 413 without reading it:
//    ApiLimits.GivenTenGigabyteContentLength_WhenAnnounced_Then413WithoutReadingIt
//  - slowloris (headers trickled byte by byte) -> closed at the header deadline:
//    ApiLimits.GivenClientTricklingHeaders_WhenHeaderTimeoutPasses_ThenConnectionIsClosed
//  - 1000 idle connections while /healthz still answers:
//    ApiLimits.Given1000IdleConnections_WhenHealthzIsRequested_ThenItAnswers
//  - wrong types of command, limits.memory_mb, restart, profile, env, bundle=/etc, unknown
//    fields: ApiWorkers.GivenBadRequestsThen4xxNamingTheField
//  - missing, wrong, Basic and doubled tokens on /v1/version:
//    ApiRoutes.GivenTokens_WhenVersion_ThenReadAndWriteTokensSucceedAndOthersGet401
//  - a host process with a worker UID on the admin socket:
//    ApiUnixSocket.GivenWorkerRangeUid_WhenRequesting_ThenRefusedEvenWithAdminGroupAndForHealth
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "support/daemon.hpp"
#include "support/proc_probe.hpp"
#include "support/worker_api.hpp"

using namespace paddock::test;
using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;

namespace {

constexpr uid_t kFirstUid = 61300;

TestDaemonOptions small_range() {
  TestDaemonOptions o;
  o.set["process.worker_uid_range_start"] = std::to_string(kFirstUid);
  o.set["process.worker_uid_range_end"] = std::to_string(kFirstUid + 9);
  o.set["process.stop_grace_seconds"] = "1";
  return o;
}

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
    // Bundles live outside the daemon's own directory, which no mount may expose.
    char tmpl[] = "/tmp/paddock-bundles-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    bundle_root = tmpl;
    ::chmod(bundle_root.c_str(), 0755);
    auto o = small_range();
    o.set["process.bundle_roots"] = "[\"" + bundle_root + "\"]";
    d = std::make_unique<TestDaemon>(o);
    ASSERT_TRUE(d->started()) << d->start_error();
    api = std::make_unique<WorkerApi>(*d);
  }
  void TearDown() override {
    api.reset();
    d.reset();
    std::error_code ec;
    if (!bundle_root.empty()) std::filesystem::remove_all(bundle_root, ec);
  }
  std::string bundle_root;
  std::unique_ptr<TestDaemon> d;
  std::unique_ptr<WorkerApi> api;
};

struct BodyCase {
  std::string what;
  std::string body;
  std::string code;   ///< expected error.code
  std::string field;  ///< expected error.field ("" when the error is about the whole body)
};

}  // namespace

TEST_F(BadInput, GivenMalformedJsonBodies_WhenPostedToWorkersAndRuns_Then400NamingTheField) {
  const std::string deep_arrays = std::string(100000, '[') + std::string(100000, ']');
  std::string deep_objects;
  for (int i = 0; i < 5000; ++i) deep_objects += "{\"a\":";
  deep_objects += "1" + std::string(5000, '}');
  const std::vector<BodyCase> cases = {
      {"arrays nested 100000 deep", "{\"command\":[\"true\"],\"labels\":" + deep_arrays + "}",
       "too_deep", ""},
      {"objects nested 5000 deep", "{\"command\":[\"true\"],\"limits\":" + deep_objects + "}",
       "too_deep", ""},
      {"invalid UTF-8 byte", "{\"command\":[\"echo\",\"\xff\xfe\"]}", "invalid_utf8", ""},
      {"overlong UTF-8 slash",
       "{\"command\":[\"cat\",\"\xc0\xaf"
       "etc\"]}",
       "invalid_utf8", ""},
      {"UTF-16 surrogate in UTF-8", "{\"command\":[\"echo\",\"\xed\xa0\x80\"]}", "invalid_utf8",
       ""},
      {"truncated UTF-8 sequence", "{\"command\":[\"echo\",\"\xe2\x82\"]}", "invalid_utf8", ""},
      {"raw NUL byte in a string", std::string("{\"command\":[\"echo\",\"a\0b\"]}", 27),
       "invalid_json", ""},
      {"escaped NUL in an argument", "{\"command\":[\"echo\",\"a\\u0000b\"]}", "invalid_field",
       "command[1]"},
      {"escaped NUL in an env name", "{\"command\":[\"true\"],\"env\":{\"A\\u0000B\":\"x\"}}",
       "invalid_field", "env"},
      {"escaped NUL in a label value", "{\"command\":[\"true\"],\"labels\":{\"k\":\"\\u0000\"}}",
       "invalid_field", "labels"},
      {"1e999", "{\"command\":[\"true\"],\"limits\":{\"memory_mb\":1e999}}", "invalid_number",
       "limits.memory_mb"},
      {"-1e999", "{\"command\":[\"true\"],\"limits\":{\"cpus\":-1e999}}", "invalid_number",
       "limits.cpus"},
      {"1e308 for an integer", "{\"command\":[\"true\"],\"limits\":{\"pids\":1e308}}",
       "invalid_field", "limits.pids"},
      {"fraction for an integer", "{\"command\":[\"true\"],\"limits\":{\"pids\":1.5}}",
       "invalid_field", "limits.pids"},
      {"negative integer", "{\"command\":[\"true\"],\"limits\":{\"nofile\":-1}}", "invalid_field",
       "limits.nofile"},
      {"number for the command", "{\"command\":5}", "invalid_field", "command"},
      {"number inside the command", "{\"command\":[\"echo\",1]}", "invalid_field", "command[1]"},
      {"null inside the command", "{\"command\":[\"echo\",null]}", "invalid_field", "command[1]"},
      {"array for limits", "{\"command\":[\"true\"],\"limits\":[]}", "invalid_field", "limits"},
      {"number for an env value", "{\"command\":[\"true\"],\"env\":{\"A\":1}}", "invalid_field",
       "env"},
      {"number for network", "{\"command\":[\"true\"],\"network\":5}", "invalid_field", "network"},
      {"string for a boolean", "{\"command\":[\"true\"],\"network\":\"none\",\"labels\":true}",
       "invalid_field", "labels"},
      {"object for labels", "{\"command\":[\"true\"],\"labels\":{\"k\":{}}}", "invalid_field",
       "labels"},
      {"array at the root", "[\"true\"]", "not_an_object", ""},
      {"string at the root", "\"true\"", "not_an_object", ""},
      {"empty body", "", "invalid_json", ""},
      {"trailing garbage", "{\"command\":[\"true\"]}x", "invalid_json", ""},
      {"a key twice", "{\"command\":[\"true\"],\"command\":[\"id\"]}", "duplicate_field",
       "command"},
  };
  for (const char* route : {"/v1/workers", "/v1/runs"}) {
    for (const auto& c : cases) {
      SCOPED_TRACE(std::string(route) + ": " + c.what);
      auto res = api->post_raw(route, c.body);
      ASSERT_EQ(res.status, 400u) << res.body.substr(0, 500);
      const auto err = res.json()["error"];
      EXPECT_EQ(err["code"], c.code) << res.body.substr(0, 500);
      if (!c.field.empty()) {
        EXPECT_THAT(err.value("field", ""), HasSubstr(c.field)) << res.body.substr(0, 500);
      }
      EXPECT_FALSE(err.value("message", "").empty());
    }
  }
  // Runs have their own fields.
  auto neg = api->post("/v1/runs", {{"command", {"true"}}, {"timeout_seconds", -1}});
  EXPECT_EQ(neg.status, 400u) << neg.body;
  EXPECT_EQ(neg.json()["error"]["field"], "timeout_seconds") << neg.body;
  auto b64 = api->post("/v1/runs", {{"command", {"cat"}}, {"stdin_base64", "!!not base64!!"}});
  EXPECT_EQ(b64.status, 400u) << b64.body;
  EXPECT_EQ(b64.json()["error"]["field"], "stdin_base64") << b64.body;
  // Nothing was started by any of them, and the daemon still works.
  EXPECT_EQ(api->metric("paddock_spawns_total{result=\"ok\"}"), 0.0);
  auto ok = api->post("/v1/runs", {{"command", {"echo", "still fine"}}});
  ASSERT_EQ(ok.status, 200u) << ok.body;
  EXPECT_EQ(ok.json()["stdout"], "still fine\n");
}

TEST_F(BadInput, GivenBundlePathAttacks_WhenStartingWorkers_Then400NamingBundle) {
  namespace fs = std::filesystem;
  const std::string root = bundle_root;
  fs::create_directories(root + "/app/sub");
  std::ofstream(root + "/app/hello.txt") << "hello\n";
  fs::create_directory_symlink("/etc", root + "/escape-abs");
  fs::create_directory_symlink("../..", root + "/app/escape-rel");
  fs::create_directory_symlink(d->dir(), root + "/escape-daemon-dir");
  fs::create_directory_symlink(root + "/app", root + "/inside-link");
  ::chmod((root + "/app").c_str(), 0755);

  const std::vector<std::pair<std::string, std::string>> attacks = {
      {"dot-dot out of the root", root + "/../etc"},
      {"dot-dot inside then out", root + "/app/../../etc"},
      {"dot-dot to the daemon's directory", root + "/.." + d->dir()},
      {"dot-dot to the root itself", root + "/app/.."},
      {"relative path", "app"},
      {"relative dot-dot", "../bundles/app"},
      {"the root itself", root},
      {"absolute path elsewhere", "/etc"},
      {"symlink to /etc", root + "/escape-abs"},
      {"relative symlink climbing out", root + "/app/escape-rel"},
      {"symlink to the daemon's directory", root + "/escape-daemon-dir"},
      {"path through a symlink out", root + "/escape-daemon-dir/state"},
      {"a file, not a directory", root + "/app/hello.txt"},
      {"missing directory", root + "/nope"},
      {"NUL inside", root + "/app" + std::string(1, '\0') + "/../../.."},
      {"5000-character path", root + "/" + std::string(5000, 'a')},
      {"5000 components", root +
                              [] {
                                std::string s;
                                for (int i = 0; i < 2500; ++i) s += "/a";
                                return s;
                              }()},
      {"dot component", root + "/./app"},
      {"newline", root + "/app\n"},
  };
  for (const char* route : {"/v1/workers", "/v1/runs"}) {
    for (const auto& [what, path] : attacks) {
      SCOPED_TRACE(std::string(route) + ": " + what);
      auto res = api->post(route, {{"command", {"ls", "/app"}}, {"bundle", path}});
      EXPECT_EQ(res.status, 400u) << res.body.substr(0, 400);
      if (res.status == 400) {
        EXPECT_EQ(res.json()["error"]["field"], "bundle") << res.body.substr(0, 400);
      }
    }
  }
  EXPECT_EQ(api->metric("paddock_spawns_total{result=\"ok\"}"), 0.0);
  // The controls: a bundle under the root, also through a symlink that stays inside, is mounted.
  for (const std::string& good : {root + "/app", root + "/inside-link"}) {
    auto ok = api->post("/v1/runs", {{"command", {"cat", "/app/hello.txt"}}, {"bundle", good}});
    ASSERT_EQ(ok.status, 200u) << good << ": " << ok.body;
    EXPECT_EQ(ok.json()["stdout"], "hello\n") << ok.body;
  }
}

TEST_F(BadInput, GivenALiveWorker_WhenBadOrReadScopedTokensTryToChangeIt_ThenRefusedAndItRuns) {
  auto res = api->post("/v1/workers", {{"command", {"sleep", "600"}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  ASSERT_EQ(api->wait_state(id, {"ready"})["state"], "ready");

  struct Attempt {
    std::string method;
    std::string target;
    std::string body;
  };
  const std::vector<Attempt> changes = {
      {"DELETE", "/v1/workers/" + id, ""},
      {"DELETE", "/v1/workers/" + id + "?grace_seconds=0", ""},
      {"POST", "/v1/workers/" + id + "/restart", "{}"},
      {"POST", "/v1/workers/" + id + "/signal", "{\"signal\":\"KILL\"}"},
      {"POST", "/v1/workers", "{\"command\":[\"true\"]}"},
      {"POST", "/v1/runs", "{\"command\":[\"true\"]}"},
  };
  const std::string w = d->write_token();
  const std::vector<std::pair<std::string, Headers>> bad_auth = {
      {"no header", {}},
      {"empty bearer", {{"Authorization", "Bearer "}}},
      {"scheme only", {{"Authorization", "Bearer"}}},
      {"write token with a byte more", {bearer(w + "x")}},
      {"write token cut short", {bearer(w.substr(0, w.size() - 1))}},
      {"write token as Basic", {{"Authorization", "Basic " + w}}},
      {"token of 8000 bytes", {bearer(std::string(8000, 'A'))}},
      {"token with bytes above 0x7f", {bearer("\xc3\xa9\xff" + w)}},
      {"hash of the token instead of the token", {bearer("sha256:" + w)}},
  };
  for (const auto& a : changes) {
    for (const auto& [what, headers] : bad_auth) {
      SCOPED_TRACE(a.method + " " + a.target + " with " + what);
      auto r = d->tcp().request(a.method, a.target, a.body, headers);
      EXPECT_EQ(r.status, 401u) << r.body;
    }
    SCOPED_TRACE(a.method + " " + a.target + " with the read token");
    auto r = d->tcp().request(a.method, a.target, a.body, {bearer(d->read_token())});
    EXPECT_EQ(r.status, 403u) << r.body;
    EXPECT_EQ(r.json()["error"]["code"], "insufficient_scope") << r.body;
  }
  // Reading needs a token too.
  EXPECT_EQ(d->tcp().get("/v1/workers/" + id).status, 401u);
  EXPECT_EQ(d->tcp().get("/v1/workers/" + id + "/logs").status, 401u);
  EXPECT_EQ(d->tcp().get("/v1/events").status, 401u);
  // The worker was not touched and nothing else was started.
  const auto now = api->get_json("/v1/workers/" + id);
  EXPECT_EQ(now["state"], "ready") << now.dump();
  EXPECT_EQ(now["restarts"], 0) << now.dump();
  EXPECT_EQ(api->metric("paddock_spawns_total{result=\"ok\"}"), 1.0);
  EXPECT_EQ(api->del("/v1/workers/" + id + "?grace_seconds=0").status, 202u);
}

TEST_F(BadInput, GivenAWorker_WhenItLooksForTheAdminSocketOrCallsTheApi_ThenItGetsNothing) {
  // The admin socket authenticates by peer credentials. Its directory is never mounted into a
  // sandbox, so a worker cannot even name it; and the TCP API wants a token it does not have.
  const std::string script =
      "test -e '" + d->socket_path() +
      "' && echo socket-visible || echo socket-absent; "
      "test -e '" +
      d->dir() +
      "/tokens' && echo tokens-visible || echo tokens-absent; "
      "ls /proc/1/root/ >/dev/null 2>&1 && ls /proc/1/root" +
      d->socket_path() +
      " 2>/dev/null && echo via-proc || echo no-via-proc; "
      "exec 3<>/dev/tcp/127.0.0.1/" +
      std::to_string(d->port()) +
      " 2>/dev/null || "
      "{ echo no-tcp; exit 0; }; "
      "printf 'POST /v1/workers HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 2\\r\\n"
      "Connection: close\\r\\n\\r\\n{}' >&3; head -c 12 <&3; echo";
  auto res = api->post("/v1/runs", {{"command", {"bash", "-c", script}}});
  ASSERT_EQ(res.status, 200u) << res.body;
  const std::string out = res.json()["stdout"];
  EXPECT_THAT(out, HasSubstr("socket-absent")) << out;
  EXPECT_THAT(out, HasSubstr("tokens-absent")) << out;
  EXPECT_THAT(out, HasSubstr("no-via-proc")) << out;
  // With the host network the API is reachable, and answers 401 without a token.
  if (out.find("no-tcp") == std::string::npos) {
    EXPECT_THAT(out, HasSubstr("HTTP/1.1 401")) << out;
  }
  EXPECT_EQ(api->metric("paddock_spawns_total{result=\"ok\"}"), 1.0);
}

TEST(BadInputLoad, Given1000ConnectionsAskingAtOnce_WhenServed_ThenEveryOneGetsItsAnswer) {
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur < 4096) {
    rl.rlim_cur = std::min<rlim_t>(4096, rl.rlim_max);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &rl), 0);
  }
  TestDaemonOptions o;
  o.set["server.max_connections"] = "2000";
  // A thousand busy clients from one address, within the limits: no per-address limit, and
  // none of them is idle long enough to count.
  o.set["server.max_connections_per_address"] = "0";
  o.set["server.idle_connections_soft_limit"] = "2000";
  o.set["server.header_timeout_seconds"] = "60";
  o.set["log.level"] = "\"info\"";
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();
  std::vector<RawConnection> conns;
  conns.reserve(1000);
  for (int i = 0; i < 1000; ++i) {
    conns.push_back(RawConnection::tcp(d.port()));
    ASSERT_TRUE(conns.back().connected()) << i << ": errno " << conns.back().connect_errno();
  }
  // Every connection sends a complete request before any answer is read; alternate public,
  // authenticated and refused requests, and keep the connections open.
  for (int i = 0; i < 1000; ++i) {
    std::string req;
    switch (i % 3) {
      case 0:
        req = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
        break;
      case 1:
        req = "GET /v1/version HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + d.read_token() +
              "\r\n\r\n";
        break;
      default:
        req = "GET /v1/version HTTP/1.1\r\nHost: t\r\n\r\n";
        break;
    }
    ASSERT_TRUE(conns[i].send(req)) << i;
  }
  int answered = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string got;
    for (int tries = 0; tries < 100 && got.find("\r\n\r\n") == std::string::npos; ++tries) {
      got += conns[i].read_some(100ms);
    }
    const unsigned want = i % 3 == 2 ? 401u : 200u;
    EXPECT_EQ(status_of(got), want) << "connection " << i << ": " << got.substr(0, 200);
    answered += status_of(got) == want ? 1 : 0;
  }
  EXPECT_EQ(answered, 1000);
  // The connections were kept alive: a second request on each of a sample is answered too.
  for (int i = 0; i < 1000; i += 97) {
    ASSERT_TRUE(conns[i].send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
    EXPECT_EQ(status_of(conns[i].read_some(5s)), 200u) << i;
  }
  conns.clear();
  EXPECT_EQ(d.tcp().get("/healthz").status, 200u);
  EXPECT_TRUE(d.running());
}
