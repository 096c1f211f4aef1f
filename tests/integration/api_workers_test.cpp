// The worker, run, log and event routes against a real daemon with real bwrap sandboxes.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "support/daemon.hpp"
#include "support/http_client.hpp"

using namespace paddock::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

class ApiWorkers : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
    TestDaemonOptions o;
    o.set["process.stop_grace_seconds"] = "2";
    o.set["process.readiness_timeout_seconds"] = "20";
    o.env["PADDOCK_TEST_SECRET"] = "hunter2-do-not-leak";
    d = std::make_unique<TestDaemon>(o);
    ASSERT_TRUE(d->started()) << d->start_error();
  }

  Headers w() const { return {bearer(d->write_token())}; }
  Headers r() const { return {bearer(d->read_token())}; }

  HttpResponse post(const std::string& target, const json& body) {
    return d->tcp().request("POST", target, body.dump(), w());
  }
  json get_json(const std::string& target) { return d->tcp().get(target, r()).json(); }

  /// Polls GET /v1/workers/{id} until its state is one of `states` (bounded).
  json wait_state(const std::string& id, std::initializer_list<const char*> states,
                  std::chrono::milliseconds limit = 15s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    json last;
    while (std::chrono::steady_clock::now() < deadline) {
      last = get_json("/v1/workers/" + id);
      for (const char* s : states) {
        if (last["state"] == s) return last;
      }
      std::this_thread::sleep_for(50ms);
    }
    return last;
  }

  std::string logs_text(const std::string& id) {
    std::string out;
    const json body =
        get_json("/v1/workers/" + id + "/logs?tail=1000");  // keep it alive for the loop
    for (const auto& l : body["lines"]) {
      out += l["line"].get<std::string>() + "\n";
    }
    return out;
  }

  std::unique_ptr<TestDaemon> d;
};

}  // namespace

TEST_F(ApiWorkers, GivenTrapWorkerWhenDeletedThenItLogsGotTermAndExitsZero) {
  auto res = post(
      "/v1/workers",
      {{"command",
        {"sh", "-c", "trap 'echo got-term; exit 0' TERM; echo up; while :; do sleep 0.1; done"}},
       {"labels", {{"app", "trap"}}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const auto worker = res.json();
  const std::string id = worker["id"];
  EXPECT_EQ(res.header("location"), "/v1/workers/" + id);
  EXPECT_GE(worker["uid"].get<int>(), 60000);
  EXPECT_EQ(wait_state(id, {"ready"})["state"], "ready");
  // "ready" means the workload exists; its trap is set once it has printed "up".
  for (int i = 0; i < 200 && logs_text(id).find("up\n") == std::string::npos; ++i) {
    std::this_thread::sleep_for(25ms);
  }

  auto del = d->tcp().request("DELETE", "/v1/workers/" + id + "?grace_seconds=5", {}, w());
  EXPECT_EQ(del.status, 202u) << del.body;
  auto done = wait_state(id, {"exited", "failed"});
  EXPECT_EQ(done["state"], "exited") << done.dump();
  EXPECT_EQ(done["exit_code"], 0) << done.dump();
  EXPECT_NE(logs_text(id).find("got-term"), std::string::npos) << logs_text(id);

  // Filters: the label matches, another does not; state filter works.
  EXPECT_EQ(get_json("/v1/workers?label=app=trap")["count"], 1);
  EXPECT_EQ(get_json("/v1/workers?label=app=other")["count"], 0);
  EXPECT_EQ(get_json("/v1/workers?state=exited")["count"], 1);
  EXPECT_EQ(d->tcp().get("/v1/workers?state=sleeping", r()).status, 400u);
}

TEST_F(ApiWorkers, GivenWorkerThenTheSandboxHoldsNothingOfTheDaemon) {
  auto res =
      post("/v1/runs",
           {{"command",
             {"sh", "-c",
              "id -u; grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status; "
              "env; tr '\\0' '\\n' < /proc/1/environ; ls /proc/self/fd; "
              "cat /etc/shadow 2>&1; echo done"}}});
  ASSERT_EQ(res.status, 200u) << res.body;
  const auto run = res.json();
  const std::string out = run["stdout"];
  EXPECT_EQ(run["exit_code"], 0) << run.dump();
  EXPECT_EQ(out.find("hunter2"), std::string::npos) << out;
  EXPECT_EQ(out.find("PADDOCK_"), std::string::npos) << out;
  EXPECT_NE(out.find("CapEff:\t0000000000000000"), std::string::npos) << out;
  EXPECT_NE(out.find("CapBnd:\t0000000000000000"), std::string::npos) << out;
  EXPECT_NE(out.find("NoNewPrivs:\t1"), std::string::npos) << out;
  EXPECT_NE(out.find("Seccomp:\t2"), std::string::npos) << out;
  EXPECT_EQ(out.find("root:"), std::string::npos) << "read /etc/shadow:\n" << out;
  EXPECT_EQ(std::to_string(run["uid"].get<int>()) + "\n", out.substr(0, out.find('\n') + 1));
}

TEST_F(ApiWorkers, GivenRunsThenExitCodesOutputAndTimeouts) {
  auto echo = post("/v1/runs", {{"command", {"echo", "hi"}}});
  ASSERT_EQ(echo.status, 200u) << echo.body;
  EXPECT_EQ(echo.json()["stdout"], "hi\n");
  EXPECT_EQ(echo.json()["exit_code"], 0);

  auto three = post("/v1/runs", {{"command", {"sh", "-c", "exit 3"}}});
  EXPECT_EQ(three.json()["exit_code"], 3);

  auto stdin_run = post("/v1/runs", {{"command", {"cat"}}, {"stdin_base64", "aGVsbG8="}});
  EXPECT_EQ(stdin_run.json()["stdout"], "hello");

  auto slow = post("/v1/runs", {{"command", {"sleep", "10"}}, {"timeout_seconds", 1}});
  ASSERT_EQ(slow.status, 200u) << slow.body;
  EXPECT_EQ(slow.json()["timed_out"], true) << slow.body;

  auto async =
      d->tcp().request("POST", "/v1/runs?async=1",
                       json{{"command", {"sh", "-c", "sleep 0.2; echo later"}}}.dump(), w());
  ASSERT_EQ(async.status, 202u) << async.body;
  const std::string id = async.json()["id"];
  json result;
  for (int i = 0; i < 100; ++i) {
    result = get_json("/v1/runs/" + id);
    if (result["finished"] == true) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(result["stdout"], "later\n") << result.dump();
  EXPECT_EQ(d->tcp().get("/v1/runs/r-nope", r()).status, 404u);
}

TEST_F(ApiWorkers, GivenBadRequestsThen4xxNamingTheField) {
  struct Case {
    json body;
    std::string field;
  };
  const std::vector<Case> cases = {
      {{{"command", "echo hi"}}, "command"},
      {{{"command", {"true"}}, {"limits", {{"memory_mb", "lots"}}}}, "limits.memory_mb"},
      {{{"command", {"true"}}, {"restart", "sometimes"}}, "restart"},
      {{{"command", {"true"}}, {"profile", "nope"}}, "profile"},
      {{{"command", {"true"}}, {"env", {{"LD_PRELOAD", "/x.so"}}}}, "env"},
      {{{"command", {"true"}}, {"bundle", "/etc"}}, "bundle"},
      {{{"command", {"true"}}, {"colour", "blue"}}, "colour"},
  };
  for (const auto& c : cases) {
    auto res = post("/v1/workers", c.body);
    EXPECT_EQ(res.status, 400u) << c.body.dump() << " -> " << res.body;
    auto err = res.json()["error"];
    EXPECT_NE(err.value("field", "").find(c.field), std::string::npos)
        << c.body.dump() << " -> " << res.body;
  }
  EXPECT_EQ(d->tcp().request("POST", "/v1/workers", "{not json", w()).status, 400u);
  EXPECT_EQ(d->tcp().request("DELETE", "/v1/workers/w-unknown", {}, w()).status, 404u);
  EXPECT_EQ(get_json("/v1/workers")["count"], 0) << "a refused request left a worker behind";
  // A read token cannot start workers.
  EXPECT_EQ(d->tcp().request("POST", "/v1/workers", json{{"command", {"true"}}}.dump(), r()).status,
            403u);
}

TEST_F(ApiWorkers, GivenWorkerPrintingThenLogsFollowStreamsUntilExit) {
  auto res = post("/v1/workers",
                  {{"command", {"sh", "-c", "for i in 1 2 3; do echo line-$i; sleep 0.2; done"}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  HttpClient c = d->tcp();
  c.set_timeout(15s);
  auto follow = c.get("/v1/workers/" + id + "/logs?follow=1&stream=stdout", r());
  ASSERT_EQ(follow.status, 200u);
  EXPECT_EQ(follow.header("content-type"), "application/x-ndjson");
  std::vector<std::string> lines;
  std::istringstream in(follow.body);
  std::string l;
  while (std::getline(in, l)) {
    if (!l.empty()) lines.push_back(json::parse(l)["line"]);
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"line-1", "line-2", "line-3"})) << follow.body;
}

TEST_F(ApiWorkers, GivenEventStreamThenAWorkersStartAndExitArrive) {
  auto conn = RawConnection::tcp(d->port());
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(conn.send("GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                        d->read_token() + "\r\n\r\n"));
  std::string got = conn.read_some(2s);
  ASSERT_EQ(status_of(got), 200u) << got;
  // Long enough to be seen running (a workload that ends at once may skip "running").
  auto res = post("/v1/workers", {{"command", {"sleep", "0.3"}}});
  ASSERT_EQ(res.status, 201u);
  const std::string id = res.json()["id"];
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (got.find("\"to\":\"exited\"") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    got += conn.read_some(500ms);
  }
  EXPECT_NE(got.find("\"worker_id\":\"" + id + "\""), std::string::npos) << got;
  EXPECT_NE(got.find("\"to\":\"running\""), std::string::npos) << got;
  EXPECT_NE(got.find("\"to\":\"exited\""), std::string::npos) << got;
  EXPECT_NE(got.find("event: worker"), std::string::npos) << got;

  // Resuming with Last-Event-ID replays only what came after.
  auto again = RawConnection::tcp(d->port());
  ASSERT_TRUE(again.send(
      "GET /v1/events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 1\r\nAuthorization: Bearer " +
      d->read_token() + "\r\n\r\n"));
  std::string replay;
  for (int i = 0; i < 10 && replay.find("id: 2\n") == std::string::npos; ++i)
    replay += again.read_some(300ms);
  EXPECT_EQ(replay.find("id: 1\n"), std::string::npos) << replay;
  EXPECT_NE(replay.find("id: 2\n"), std::string::npos) << replay;
}

TEST_F(ApiWorkers, GivenOnFailureWorkerThenRestartedAndFailedAtStartLimit) {
  auto res = post("/v1/workers", {{"command", {"sh", "-c", "exit 1"}}, {"restart", "on-failure"}});
  ASSERT_EQ(res.status, 201u) << res.body;
  auto done = wait_state(res.json()["id"], {"failed"}, 20s);
  EXPECT_EQ(done["state"], "failed") << done.dump();
  EXPECT_EQ(done["restarts"], 4);
  EXPECT_NE(done["reason"].get<std::string>().find("start limit"), std::string::npos);
}

TEST_F(ApiWorkers, GivenHttpServerWorkerThenReadyAndAnswersOnItsPort) {
  auto res =
      post("/v1/workers",
           {{"profile", "python"},
            {"port", true},
            {"command", {"sh", "-c", "exec python3 -m http.server --bind 127.0.0.1 \"$PORT\""}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  const int port = res.json()["port"];
  auto ready = wait_state(id, {"ready", "failed", "exited"}, 20s);
  ASSERT_EQ(ready["state"], "ready") << ready.dump() << logs_text(id);
  auto page = HttpClient::tcp("127.0.0.1", static_cast<std::uint16_t>(port)).get("/");
  EXPECT_EQ(page.status, 200u);
}

TEST_F(ApiWorkers, GivenSignalRouteThenTheWorkloadReceivesIt) {
  auto res = post(
      "/v1/workers",
      {{"command", {"sh", "-c", "trap 'echo got-hup' HUP; echo up; while :; do sleep 0.1; done"}}});
  const std::string id = res.json()["id"];
  ASSERT_EQ(wait_state(id, {"ready"})["state"], "ready");
  for (int i = 0; i < 50 && logs_text(id).find("up") == std::string::npos; ++i)
    std::this_thread::sleep_for(50ms);
  auto sig = post("/v1/workers/" + id + "/signal", {{"signal", "HUP"}});
  EXPECT_EQ(sig.status, 202u) << sig.body;
  for (int i = 0; i < 50 && logs_text(id).find("got-hup") == std::string::npos; ++i)
    std::this_thread::sleep_for(50ms);
  EXPECT_NE(logs_text(id).find("got-hup"), std::string::npos)
      << get_json("/v1/workers/" + id + "/logs?tail=1000").dump()
      << get_json("/v1/workers/" + id).dump();
  EXPECT_EQ(post("/v1/workers/" + id + "/signal", {{"signal", "NOPE"}}).status, 400u);
}

TEST_F(ApiWorkers, GivenDaemonSigtermThenWorkersStopAndDaemonExitsZero) {
  auto res = post("/v1/workers", {{"command", {"sleep", "600"}}});
  ASSERT_EQ(res.status, 201u);
  const int uid = res.json()["uid"];
  wait_state(res.json()["id"], {"ready"});
  auto status = d->stop(20s);
  ASSERT_TRUE(status.has_value()) << "the daemon had to be killed";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  // Nothing of the worker is left running (a zombie waiting for pid 1 is not running).
  bool alive = false;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (!std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream st(e.path() / "status");
    std::string line, state;
    bool match = false;
    while (std::getline(st, line)) {
      if (line.rfind("State:", 0) == 0) state = line;
      if (line.rfind("Uid:", 0) == 0)
        match = line.find("\t" + std::to_string(uid) + "\t") != std::string::npos;
    }
    if (match && state.find("Z (zombie)") == std::string::npos) alive = true;
  }
  EXPECT_FALSE(alive);
}

TEST_F(ApiWorkers, GivenMetricsThenWorkerFiguresAndSeccompDigestAppear) {
  post("/v1/runs", {{"command", {"true"}}});
  auto m = d->tcp().get("/metrics", r());
  ASSERT_EQ(m.status, 200u);
  EXPECT_NE(m.body.find("paddock_workers{state=\"exited\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("paddock_spawns_total{result=\"ok\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("paddock_seccomp_profile_info{path="), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("paddock_free_uids "), std::string::npos) << m.body;
}

namespace {
long status_kib(pid_t pid, const std::string& key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  }
  return -1;
}
}  // namespace

TEST_F(ApiWorkers, GivenWorkerPrinting200MBThenDaemonMemoryStaysBounded) {
  const long before = status_kib(d->pid(), "VmRSS");
  auto res =
      post("/v1/workers",
           {{"command", {"sh", "-c", "head -c 200000000 /dev/zero | tr '\\0' x | fold -w 200"}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  auto done = wait_state(id, {"exited", "failed"}, 120s);
  ASSERT_EQ(done["state"], "exited") << done.dump();
  const long peak = status_kib(d->pid(), "VmHWM");
  // The ring holds 256 KiB by default: the daemon's peak must not grow with the 200 MB printed.
  if (kAddressSanitizer) {
    std::printf(
        "RSS bound not checked under ASan (its quarantine keeps freed memory): %ld -> %ld KiB\n",
        before, peak);
  } else {
    EXPECT_LT(peak - before, 64 * 1024)
        << "RSS before " << before << " KiB, peak " << peak << " KiB";
  }
  EXPECT_GT(done["dropped_log_bytes"].get<long>(), 190000000L) << done.dump();
  const json tail = get_json("/v1/workers/" + id + "/logs?tail=3");
  EXPECT_EQ(tail["lines"].size(), 3u);
  EXPECT_GT(tail["dropped_bytes"].get<long>(), 190000000L);
}

TEST_F(ApiWorkers, GivenSpawnAndExitThenBothAreInTheAuditLog) {
  auto res = post("/v1/runs", {{"command", {"true"}}});
  ASSERT_EQ(res.status, 200u);
  const std::string id = res.json()["id"];
  std::ifstream in(d->audit_log_path());
  std::string line;
  bool spawn = false, exit = false;
  while (std::getline(in, line)) {
    auto j = json::parse(line);
    if (j.value("worker_id", "") != id) continue;
    if (j["event"] == "spawn") spawn = true;
    if (j["event"] == "exit") exit = j["exit_code"] == 0 && j["uid"].is_number();
  }
  EXPECT_TRUE(spawn);
  EXPECT_TRUE(exit);
}
