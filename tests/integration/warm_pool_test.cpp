// Warm sandboxes ([pool] warm) through a real daemon, spawner, bwrap and paddock-warm: a run
// served by a parked sandbox must be indistinguishable from a cold one in what it can do and
// see (the same catalog of isolation checks passes in both), give the same answers, and a
// parked sandbox serves exactly one run.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "paddock/api/worker_json.hpp"
#include "support/daemon.hpp"
#include "support/worker_api.hpp"

using namespace paddock;
using namespace paddock::test;
using nlohmann::json;

namespace {

constexpr const char* kSecretName = "WARM_TEST_DAEMON_SECRET";

TestDaemonOptions pool_options(bool warm, int count = 2) {
  TestDaemonOptions o;
  o.set["process.worker_uid_range_start"] = "63100";
  o.set["process.worker_uid_range_end"] = "63199";
  if (warm) o.extra_toml = "\n[pool]\nwarm = {shell = " + std::to_string(count) + "}\n";
  o.env[kSecretName] = "s3cr3t-value-of-the-daemon";
  o.set["server.max_body_bytes"] = std::to_string(16 << 20);
  return o;
}

double warm_runs(const WorkerApi& api) {
  return api.metric("paddock_warm_runs_total").value_or(-1);
}

double parked_ready(const WorkerApi& api) {
  return api.metric("paddock_warm_sandboxes{state=\"ready\"}").value_or(-1);
}

/// Waits (bounded) until `n` sandboxes are parked and ready.
bool wait_parked(const WorkerApi& api, double n) {
  for (int i = 0; i < 200; ++i) {
    if (parked_ready(api) == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Processes whose real UID is in the test daemons' worker range (60000 and up).
std::vector<std::string> worker_uid_processes(uid_t first, uid_t last) {
  std::vector<std::string> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    struct stat st {};
    const std::string dir = std::string("/proc/") + e->d_name;
    if (::stat(dir.c_str(), &st) != 0) continue;
    if (st.st_uid >= first && st.st_uid <= last) {
      out.push_back(std::string(e->d_name) + " uid " + std::to_string(st.st_uid) + " " +
                    read_file(dir + "/comm"));
    }
  }
  ::closedir(d);
  return out;
}

/// The pool tests' daemons get a UID range of their own, so the processes found in it are
/// theirs (other tests' daemons may leave workers behind for a while, e.g. for adoption).
constexpr uid_t kFirstUid = 63100;
constexpr uid_t kLastUid = 63199;

/// Pids of the parked helpers (processes of a worker UID named "helper").
std::set<std::string> helper_pids() {
  std::set<std::string> out;
  for (const auto& p : worker_uid_processes(kFirstUid, kLastUid)) {
    if (p.find("helper") != std::string::npos) out.insert(p.substr(0, p.find(' ')));
  }
  return out;
}

/// Waits (bounded) until no process of a worker UID is left; what is left, as text.
std::string wait_no_worker_processes() {
  std::vector<std::string> left;
  for (int i = 0; i < 50; ++i) {
    left = worker_uid_processes(kFirstUid, kLastUid);
    if (left.empty()) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string list;
  for (const auto& p : left) list += p + "; ";
  return list;
}

/// The parts of a run's answer that must not depend on how its sandbox was started.
json comparable(const json& run) {
  json c;
  for (const char* k : {"state", "exit_code", "signal", "timed_out", "stdout", "stderr",
                        "stdout_truncated", "stderr_truncated", "finished", "files"}) {
    if (run.contains(k)) c[k] = run[k];
  }
  return c;
}

class WarmPool : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
    d = std::make_unique<TestDaemon>(pool_options(GetParam()));
    ASSERT_TRUE(d->started()) << d->start_error();
    if (GetParam()) {
      ASSERT_TRUE(wait_parked(WorkerApi(*d), 2)) << d->log();
    }
  }

  /// POST /v1/runs; checks that it was served warm (or cold) as the parameter says.
  json run(const json& body) {
    WorkerApi api(*d);
    const double before = warm_runs(api);
    auto res = api.post("/v1/runs", body);
    EXPECT_EQ(res.status, 200u) << res.body;
    EXPECT_EQ(warm_runs(api) - before, GetParam() ? 1 : 0)
        << "warm or cold as configured: " << body.dump().substr(0, 300);
    if (GetParam()) wait_parked(api, 2);  // the next run is warm too
    return res.json();
  }

  std::unique_ptr<TestDaemon> d;
};

std::string mode_name(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "Warm" : "Cold";
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Starts, WarmPool, ::testing::Bool(), mode_name);

// The catalog the preflight canary uses, from inside a run: denied system calls, a read-only
// root, no descriptor but 0-2, nothing of the daemon's environment; then the run's own
// environment and identity.
TEST_P(WarmPool, GivenTheCanaryCatalog_ThenEveryCheckHoldsInTheRun) {
  const std::string probe = read_file(PADDOCK_BINARY_DIR "/src/paddock-probe");
  ASSERT_GT(probe.size(), 1000u) << "build paddock-probe";
  const auto r = run({{"command",
                       {"/bin/sh", "-c",
                        std::string("chmod 755 probe && ./probe canary ") + kSecretName +
                            " && echo \"self_env $(env | tr '\\n' ' ')\" && echo \"id $(id -u) "
                            "$(id -g)\" && echo \"cwd $(pwd)\""}},
                      {"env", {{"APP_MODE", "catalog"}}},
                      {"files", {{"probe", {{"content_base64", api::base64_encode(probe)}}}}},
                      {"timeout_seconds", 60}});
  ASSERT_EQ(r["exit_code"], 0) << r.dump();
  std::map<std::string, std::string> seen;
  std::istringstream lines(r["stdout"].get<std::string>());
  for (std::string line; std::getline(lines, line);) {
    const auto sp = line.find(' ');
    if (sp != std::string::npos) seen[line.substr(0, sp)] = line.substr(sp + 1);
  }
  for (const char* k :
       {"keyctl", "io_uring_setup", "unshare_newuser", "mount", "socket_tipc", "tiocsetd"}) {
    EXPECT_EQ(seen[k].rfind("blocked", 0), 0u) << k << ": " << seen[k];
  }
  EXPECT_EQ(seen["unknown_syscall"].rfind("enosys", 0), 0u) << seen["unknown_syscall"];
  EXPECT_EQ(seen["root_readonly"].rfind("ok", 0), 0u) << seen["root_readonly"];
  EXPECT_EQ(seen["threads"], "ok");
  EXPECT_EQ(seen["environ"].rfind("ok", 0), 0u) << seen["environ"];
  EXPECT_EQ(seen["fds"], "ok 0,1,2");
  // The run's own environment: the profile's and the request's, nothing of the daemon's.
  const std::string env = seen["self_env"];
  SCOPED_TRACE(r["stdout"].get<std::string>());
  EXPECT_NE(env.find("APP_MODE=catalog"), std::string::npos) << env;
  EXPECT_NE(env.find("LANG=C.UTF-8"), std::string::npos) << env;
  EXPECT_EQ(env.find(kSecretName), std::string::npos) << env;
  EXPECT_EQ(env.find("INVOCATION_ID"), std::string::npos) << env;
  EXPECT_EQ(seen["id"].substr(0, seen["id"].find(' ')), std::to_string(r["uid"].get<int>()));
  EXPECT_EQ(seen["cwd"], "/work");
}

// The same requests give the same answers warm and cold: arguments of every shape, the
// environment, stdin, files in and out, exit codes, signals, a command that does not exist.
TEST_P(WarmPool, GivenRequestsOfEveryShape_ThenTheAnswersMatchAColdStartByteForByte) {
  // Its own UID range: its runs' ends kill every process of their UIDs.
  TestDaemonOptions cold_options = pool_options(false);
  cold_options.set["process.worker_uid_range_start"] = "61000";
  cold_options.set["process.worker_uid_range_end"] = "61999";
  TestDaemon cold(cold_options);
  ASSERT_TRUE(cold.started()) << cold.start_error();
  const std::vector<json> requests = {
      {{"command", {"/bin/sh", "-c", "printf '[%s]' \"$@\"", "sh", "", "a b", "new\nline", "ü"}}},
      {{"command", {"/bin/sh", "-c", "echo $APP_ONE-$APP_TWO; env | sort | grep -v '^PWD='"}},
       {"env", {{"APP_ONE", "1"}, {"APP_TWO", "two words"}}}},
      {{"command", {"/bin/sh", "-c", "wc -c; cat /dev/stdin"}}, {"stdin", "line one\nline two\n"}},
      {{"command", {"/bin/cat"}}},
      {{"command", {"/bin/sh", "-c", "mkdir -p out && tr a-z A-Z < in/x.txt > out/y.txt"}},
       {"files", {{"in/x.txt", {{"content", "hello"}}}}},
       {"collect", {"out/*.txt"}}},
      {{"command", {"/bin/sh", "-c", "stat -c '%a %U %n' . in in/x.txt"}},
       {"files", {{"in/x.txt", {{"content", "hello"}}}}}},
      {{"command", {"/bin/sh", "-c", "echo to-stderr >&2; exit 3"}}},
      {{"command", {"/bin/sh", "-c", "kill -9 $$"}}},
      {{"command", {"no-such-command-anywhere"}}},
      {{"command", {"/bin/sh", "-c", "ls -A; ls -A /tmp /home 2>&1"}}},
      // stdin without data is /dev/null; with data, a pipe.
      {{"command", {"/bin/sh", "-c", "readlink /proc/self/fd/0"}}},
      {{"command", {"/bin/sh", "-c", "readlink /proc/self/fd/0 | cut -d: -f1; cat"}},
       {"stdin", "in"}},
      // The run ends with its command: what it left running is killed, and holds nothing up.
      {{"command", {"/bin/sh", "-c", "sleep 30 & echo started"}}, {"timeout_seconds", 20}},
      {{"command", {"/bin/sh", "-c", "(sleep 30 >/dev/null 2>&1 &); exit 4"}},
       {"timeout_seconds", 20}},
  };
  for (const auto& req : requests) {
    const json warm_or_cold = run(req);
    auto res = WorkerApi(cold).post("/v1/runs", req);
    ASSERT_EQ(res.status, 200u) << res.body;
    EXPECT_EQ(comparable(warm_or_cold).dump(), comparable(res.json()).dump()) << req.dump();
  }
}

// A stop reaches the run's command as in a cold start: SIGTERM first (its trap answers), the
// run's answer then says how it ended.
TEST_P(WarmPool, GivenARunningRun_WhenStoppedWithAGrace_ThenItsCommandGetsSigterm) {
  WorkerApi api(*d);
  const double before = warm_runs(api);
  auto res = api.post("/v1/runs?async=1", {{"command",
                                            {"/bin/sh", "-c",
                                             "trap 'echo got-term; exit 7' TERM; echo ready; "
                                             "while :; do sleep 0.05; done"}},
                                           {"timeout_seconds", 60}});
  ASSERT_EQ(res.status, 202u) << res.body;
  EXPECT_EQ(warm_runs(api) - before, GetParam() ? 1 : 0);
  const std::string id = res.json()["id"];
  bool ready = false;
  for (int i = 0; i < 200 && !ready; ++i) {
    ready = api.get("/v1/workers/" + id + "/logs").body.find("ready") != std::string::npos;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_TRUE(ready) << api.get("/v1/runs/" + id).body;
  EXPECT_EQ(api.del("/v1/runs/" + id + "?grace_seconds=10").status, 202u);
  json done;
  for (int i = 0; i < 200; ++i) {
    done = api.get_json("/v1/runs/" + id);
    if (done["finished"] == true) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_EQ(done["finished"], true) << done.dump();
  EXPECT_EQ(done["exit_code"], 7) << done.dump();
  EXPECT_EQ(done["stdout"], "ready\ngot-term\n") << done.dump();
}

// Each parked sandbox serves one run: every run has its own id, UID and a /tmp no other run
// wrote to; the pool comes back to its size after each.
TEST_P(WarmPool, GivenSeveralRunsInARow_ThenNoSandboxServesTwo) {
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    const auto r =
        run({{"command",
              {"/bin/sh", "-c", "ls /tmp; echo x > /tmp/left-by-a-run; touch /work/also-left"}}});
    EXPECT_EQ(r["exit_code"], 0) << r.dump();
    EXPECT_EQ(r["stdout"], "") << "a sandbox served a second run: " << r.dump();
    ids.insert(r["id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), 5u);
  // Nothing of them is left in data_root.
  std::size_t left = 0;
  for (const auto& id : ids) left += ::access((d->dir() + "/data/" + id).c_str(), F_OK) == 0;
  EXPECT_EQ(left, 0u);
}

// A run that needs another sandbox than the parked ones (lower limits, egress, another profile)
// is started cold, and works.
// A run's working directory is gone when its answer comes, and nothing of the run is left:
// whether the command ends alone (the warm sandbox is then killed after the end is told) or
// leaves a process behind that keeps writing into the directory (killed before).
TEST_P(WarmPool, GivenARunThatLeavesAWriterBehind_ThenItsDirectoryIsGoneAndNothingIsLeft) {
  for (const std::string script : {"echo alone > out.txt",
                                   "(while :; do echo x >> late.txt; done) >/dev/null 2>&1 & "
                                   "echo left"}) {
    const auto r = run({{"command", {"/bin/sh", "-c", script}}});
    ASSERT_EQ(r["exit_code"], 0) << r.dump();
    const std::string dir = d->dir() + "/data/" + r["id"].get<std::string>();
    EXPECT_FALSE(std::filesystem::exists(dir)) << dir << " after: " << script;
    // The run's UID is not a parked sandbox's any more: every process of it ends.
    const uid_t uid = r["uid"].get<uid_t>();
    std::vector<std::string> left;
    for (int i = 0; i < 50; ++i) {
      left = worker_uid_processes(uid, uid);
      if (left.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(left.empty()) << left.size() << " left of uid " << uid << " after: " << script;
  }
}

TEST(WarmPoolMisses, GivenRunsThatNeedAnotherSandbox_ThenTheyStartColdAndTheParkedOnesWait) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
  TestDaemon d(pool_options(true));
  ASSERT_TRUE(d.started()) << d.start_error();
  WorkerApi api(d);
  ASSERT_TRUE(wait_parked(api, 2)) << d.log();
  for (const json& req :
       {json{{"command", {"/bin/sh", "-c", "echo ok"}}, {"limits", {{"memory_mb", 128}}}},
        json{{"command", {"/bin/sh", "-c", "echo ok"}}, {"network", "private"}},
        json{{"command", {"/bin/sh", "-c", "echo ok"}}, {"profile", "python"}}}) {
    auto res = api.post("/v1/runs", req);
    ASSERT_EQ(res.status, 200u) << res.body;
    EXPECT_EQ(res.json()["stdout"], "ok\n") << res.body;
  }
  EXPECT_EQ(warm_runs(api), 0);
  EXPECT_EQ(parked_ready(api), 2);
  // A bad request is refused as a cold start refuses it.
  auto bad = api.post("/v1/runs", {{"command", {"true"}}, {"env", {{"HOME", "/root"}}}});
  EXPECT_EQ(bad.status, 400u) << bad.body;
  EXPECT_EQ(bad.json()["error"]["code"], "env_not_allowed") << bad.body;
  EXPECT_EQ(parked_ready(api), 2);
}

// The pool never outlives the daemon: after it stops, no process of a worker UID is left.
// A parked sandbox that dies is replaced.
TEST(WarmPoolLifecycle, GivenAParkedSandboxKilled_ThenItIsReplaced_AndNothingOutlivesTheDaemon) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
  auto d = std::make_unique<TestDaemon>(pool_options(true, 3));
  ASSERT_TRUE(d->started()) << d->start_error();
  WorkerApi api(*d);
  ASSERT_TRUE(wait_parked(api, 3)) << d->log();
  const auto before = helper_pids();
  ASSERT_EQ(before.size(), 3u);
  // Kill one parked helper (the sandbox's workload) from outside.
  ::kill(std::stoi(*before.begin()), SIGKILL);
  // Replaced after the back-off (1 s).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(wait_parked(api, 3)) << d->log();
  EXPECT_NE(d->log().find("ended before a run took it"), std::string::npos) << d->log();
  auto r = api.post("/v1/runs", {{"command", {"/bin/sh", "-c", "echo still"}}});
  EXPECT_EQ(r.json()["stdout"], "still\n") << r.body;
  ASSERT_TRUE(d->stop().has_value()) << d->log();
  EXPECT_EQ(wait_no_worker_processes(), "");
}

// A profile the pool names but that does not exist stops the start with a message naming it.
TEST(WarmPoolConfig, GivenAnUnknownProfileInThePool_ThenTheDaemonRefusesToStart) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the spawner starts as root";
  TestDaemonOptions o;
  o.extra_toml = "\n[pool]\nwarm = {no_such_profile = 1}\n";
  o.start_timeout = std::chrono::milliseconds(8000);
  TestDaemon d(o);
  EXPECT_FALSE(d.started());
  EXPECT_NE(d.log().find("[pool] warm names profile 'no_such_profile'"), std::string::npos)
      << d.log();
}

// An upgrade in place keeps the parked sandboxes (they live in the spawner): the new image's
// first run is served by one that was parked before, and nothing is left after the stop.
TEST(WarmPoolUpgrade, GivenParkedSandboxes_WhenTheDaemonUpgradesInPlace_ThenTheNewImageUsesThem) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
  auto d = std::make_unique<TestDaemon>(pool_options(true, 2));
  ASSERT_TRUE(d->started()) << d->start_error();
  WorkerApi api(*d);
  ASSERT_TRUE(wait_parked(api, 2)) << d->log();
  const auto helpers = helper_pids();
  ASSERT_EQ(helpers.size(), 2u);
  ASSERT_EQ(::kill(d->pid(), SIGUSR2), 0);
  bool upgraded = false;
  for (int i = 0; i < 200 && !upgraded; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto v = api.get("/v1/version");
    upgraded = v.status == 200 && v.json().value("generation", 0) == 1;
  }
  ASSERT_TRUE(upgraded) << d->log();
  EXPECT_EQ(parked_ready(api), 2);
  auto r = api.post("/v1/runs", {{"command", {"/bin/sh", "-c", "echo $$; echo after"}}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(warm_runs(api), 1) << d->log();
  EXPECT_NE(r.json()["stdout"].get<std::string>().find("after"), std::string::npos) << r.body;
  // The helpers parked before the upgrade served it: one of them is gone, one still waits.
  std::size_t still = 0;
  for (const auto& pid : helper_pids()) still += helpers.count(pid);
  EXPECT_EQ(still, 1u);
  ASSERT_TRUE(d->stop().has_value()) << d->log();
  EXPECT_EQ(wait_no_worker_processes(), "");
}

// SIGHUP: an unchanged pool keeps its parked sandboxes; a changed count parks more or stops the
// extra ones.
TEST(WarmPoolReload, GivenTheCountChanged_WhenReloaded_ThenThePoolFollowsAndKeepsWhatStillFits) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
  TestDaemon d(pool_options(true, 2));
  ASSERT_TRUE(d.started()) << d.start_error();
  WorkerApi api(d);
  ASSERT_TRUE(wait_parked(api, 2)) << d.log();
  const auto helpers = helper_pids;
  const auto before = helpers();
  ASSERT_EQ(before.size(), 2u);
  auto set_count = [&d](int from, int to) {
    std::string text = read_file(d.config_path());
    const std::string was = "warm = {shell = " + std::to_string(from) + "}";
    ASSERT_NE(text.find(was), std::string::npos) << text;
    text.replace(text.find(was), was.size(), "warm = {shell = " + std::to_string(to) + "}");
    std::ofstream(d.config_path()) << text;
    ASSERT_EQ(::kill(d.pid(), SIGHUP), 0);
  };
  ASSERT_EQ(::kill(d.pid(), SIGHUP), 0);  // nothing changed
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(helpers(), before);
  set_count(2, 3);
  EXPECT_TRUE(wait_parked(api, 3)) << d.log();
  const auto three = helpers();
  EXPECT_EQ(three.size(), 3u);
  for (const auto& pid : before) EXPECT_EQ(three.count(pid), 1u) << "kept " << pid;
  set_count(3, 1);
  EXPECT_TRUE(wait_parked(api, 1)) << d.log();
  for (int i = 0; i < 50 && helpers().size() != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(helpers().size(), 1u);
}
