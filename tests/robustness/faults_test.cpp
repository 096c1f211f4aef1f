// Robustness: faults of workers and of the host around a real paddockd. Crash loops, the daemon
// killed outright, UIDs running out, bwrap vanishing under a running daemon, broken seccomp and
// config files at start.
//
// Covered elsewhere, not repeated here:
//  - an on-failure worker exiting 1 until the start limit:
//    ApiWorkers.GivenOnFailureWorkerThenRestartedAndFailedAtStartLimit
//  - a seccomp file that is missing, empty or not a multiple of 8 bytes:
//    SeccompCli.GivenAMissingOrMalformedSeccompProfile_WhenTheDaemonStarts_ThenItRefuses
//  - worker_gid = 0 at start: Daemon.GivenInvalidConfigThenRefusesToStart
//  - SIGKILL of a stand-in daemon that uses the spawn module directly:
//    SpawnTest.GivenTheDaemonIsKilledWithSigkill_ThenNoWorkerProcessIsAlive1sLater
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
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

/// Worker UIDs of the daemons in this file: away from the default range other suites use, so a
/// leftover of another test cannot be mistaken for one of ours (and the reverse).
constexpr uid_t kFirstUid = 61200;

TestDaemonOptions with_uids(uid_t first, uid_t count) {
  TestDaemonOptions o;
  o.set["process.worker_uid_range_start"] = std::to_string(first);
  o.set["process.worker_uid_range_end"] = std::to_string(first + count - 1);
  o.set["process.stop_grace_seconds"] = "2";
  return o;
}

/// A fresh directory under /tmp, removed with everything in it on destruction.
struct TempDir {
  std::string path;
  explicit TempDir(const char* prefix) {
    std::string tmpl = std::string("/tmp/") + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

/// Starts paddockd with `o` and expects it to refuse: exit status 1 within 20 s. Returns its log.
std::string expect_refusal(TestDaemonOptions o) {
  o.wait_healthy = false;
  TestDaemon d(o);
  EXPECT_TRUE(d.started()) << d.start_error();
  const auto status = d.wait_exit(20s);
  EXPECT_TRUE(status.has_value()) << "paddockd kept running; its log:\n" << d.log();
  if (status) {
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1)
        << "wait status " << *status << "\n"
        << d.log();
  }
  const std::string log = d.log();
  EXPECT_THAT(log, ::testing::Not(HasSubstr("paddockd started"))) << log;
  return log;
}

class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
  }
};

}  // namespace

TEST_F(Faults, GivenAlwaysRestartedWorkerThatCrashesBySignal_WhenItKeepsCrashing_ThenItEndsFailed) {
  TestDaemon d(with_uids(kFirstUid, 4));
  ASSERT_TRUE(d.started()) << d.start_error();
  WorkerApi api(d);
  // restart=always restarts clean exits too; a crash (SIGSEGV) is what it must give up on.
  auto res =
      api.post("/v1/workers", {{"command", {"sh", "-c", "kill -SEGV $$"}}, {"restart", "always"}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  const auto done = api.wait_state(id, {"failed"}, 30s);
  ASSERT_EQ(done["state"], "failed") << done.dump();
  EXPECT_THAT(done["reason"].get<std::string>(), HasSubstr("start limit")) << done.dump();
  EXPECT_GE(done["restarts"].get<int>(), 1) << done.dump();
  EXPECT_EQ(api.metric("paddock_restarts_total").value_or(-1), done["restarts"].get<int>());
  // Nothing of it stays behind: every UID is free again.
  EXPECT_TRUE(eventually([&] { return api.metric("paddock_free_uids") == 4.0; }, 5s))
      << api.get("/metrics").body;
}

TEST_F(Faults, GivenLiveWorkersWithGrandchildren_WhenTheDaemonIsSigkilled_ThenNoWorkerProcessRuns) {
  constexpr uid_t kCount = 8;
  // Adoption off: the spawner stops every tree as soon as the daemon is gone.
  auto options = with_uids(kFirstUid, kCount);
  options.set["process.adopt_seconds"] = "0";
  TestDaemon d(options);
  ASSERT_TRUE(d.started()) << d.start_error();
  WorkerApi api(d);
  const std::vector<std::vector<std::string>> commands = {
      {"sleep", "600"},
      {"sh", "-c", "sleep 600 & sleep 600 & wait"},
      {"sh", "-c", "trap '' TERM HUP; (sleep 600 &); exec sleep 600"},
  };
  std::vector<std::string> ids;
  for (const auto& c : commands) {
    auto res = api.post("/v1/workers", {{"command", c}});
    ASSERT_EQ(res.status, 201u) << res.body;
    ids.push_back(res.json()["id"]);
  }
  for (const auto& id : ids) ASSERT_EQ(api.wait_state(id, {"ready"})["state"], "ready");
  // Every workload (and the grandchildren) is running under a worker UID before the kill.
  ASSERT_TRUE(eventually(
      [&] {
        return not_zombies(processes_with_uids(kFirstUid, kFirstUid + kCount - 1)).size() >= 6;
      },
      5s))
      << describe(processes_with_uids(kFirstUid, kFirstUid + kCount - 1));

  ASSERT_EQ(::kill(d.pid(), SIGKILL), 0);
  ASSERT_TRUE(d.wait_exit(10s).has_value());
  // The spawner kills every tree it holds; zombies that wait for pid 1 to
  // reap them run nothing and do not count.
  std::vector<ProcInfo> left;
  const bool gone = eventually(
      [&] {
        left = not_zombies(processes_with_uids(kFirstUid, kFirstUid + kCount - 1));
        return left.empty();
      },
      5s, 50ms);
  EXPECT_TRUE(gone) << "processes under worker UIDs survived the daemon:\n" << describe(left);
}

TEST_F(Faults, GivenFiveUids_WhenAllAreLeased_Then503UntilAWorkerExitsAndThenServedAgain) {
  constexpr uid_t kCount = 5;
  TestDaemon d(with_uids(kFirstUid + 20, kCount));
  ASSERT_TRUE(d.started()) << d.start_error();
  WorkerApi api(d);
  std::vector<std::string> ids;
  for (uid_t i = 0; i < kCount; ++i) {
    auto res = api.post("/v1/workers", {{"command", {"sleep", "600"}}});
    ASSERT_EQ(res.status, 201u) << res.body;
    ids.push_back(res.json()["id"]);
  }
  // The gauge may be up to 200 ms old (api.md): wait for it rather than read it once.
  EXPECT_TRUE(eventually([&] { return api.metric("paddock_free_uids") == 0.0; }, 5s))
      << api.get("/metrics").body;
  for (const char* route : {"/v1/workers", "/v1/runs"}) {
    auto full = api.post(route, {{"command", {"true"}}});
    EXPECT_EQ(full.status, 503u) << route << ": " << full.body;
    EXPECT_EQ(full.json()["error"]["code"], "uid_exhausted") << full.body;
  }
  // The refusals left nothing half-made behind.
  EXPECT_EQ(api.live_count(), static_cast<int>(kCount));

  ASSERT_EQ(api.del("/v1/workers/" + ids[2] + "?grace_seconds=0").status, 202u);
  ASSERT_EQ(api.wait_state(ids[2], {"exited", "failed"})["state"], "exited");
  // The UID comes back once the sandbox's last process is gone; a short settle is allowed.
  HttpResponse again;
  ASSERT_TRUE(eventually(
      [&] {
        again = api.post("/v1/runs", {{"command", {"echo", "back"}}});
        return again.status != 503;
      },
      5s, 100ms))
      << again.body;
  EXPECT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(again.json()["stdout"], "back\n") << again.body;

  for (const auto& id : ids) api.del("/v1/workers/" + id + "?grace_seconds=0");
  EXPECT_TRUE(eventually([&] { return api.metric("paddock_free_uids") == double(kCount); }, 10s))
      << api.get("/metrics").body;
  auto fresh = api.post("/v1/runs", {{"command", {"true"}}});
  EXPECT_EQ(fresh.status, 200u) << fresh.body;
}

TEST_F(Faults, GivenBwrapRemovedAfterStart_WhenSpawning_ThenA500NamingExecveAndNoHang) {
  // check-config refuses a bwrap_path that does not exist, so the binary disappears only after
  // the daemon has started: a copy the config points at is deleted.
  TempDir tmp("paddock-bwrap");
  ASSERT_FALSE(tmp.path.empty());
  const std::string& dir = tmp.path;
  ::chmod(dir.c_str(), 0755);  // worker UIDs exec it after dropping privileges
  const std::string bwrap = dir + "/bwrap";
  std::filesystem::copy_file("/usr/bin/bwrap", bwrap);
  ::chmod(bwrap.c_str(), 0755);
  auto o = with_uids(kFirstUid + 40, 4);
  o.set["process.bwrap_path"] = "\"" + bwrap + "\"";
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();
  WorkerApi api(d);
  auto ok = api.post("/v1/runs", {{"command", {"echo", "copied bwrap works"}}});
  ASSERT_EQ(ok.status, 200u) << ok.body;
  EXPECT_EQ(ok.json()["exit_code"], 0) << ok.body;

  ASSERT_EQ(::unlink(bwrap.c_str()), 0);
  for (const char* route : {"/v1/runs", "/v1/workers"}) {
    // HttpClient gives up after its timeout (10 s): a hang fails the test.
    auto res = api.post(route, {{"command", {"true"}}});
    EXPECT_EQ(res.status, 500u) << route << ": " << res.body;
    EXPECT_EQ(res.json()["error"]["code"], "spawn_failed") << res.body;
    EXPECT_THAT(res.json()["error"]["message"].get<std::string>(),
                HasSubstr("execve(" + bwrap + "): ENOENT"))
        << res.body;
  }
  EXPECT_EQ(d.tcp().get("/healthz").status, 200u);
  EXPECT_EQ(api.live_count(), 0);
  // The failed spawns' UIDs come back; the gauge may be up to 200 ms old (api.md).
  EXPECT_TRUE(eventually([&] { return api.metric("paddock_free_uids") == 4.0; }, 5s))
      << api.get("/metrics").body;
  EXPECT_EQ(api.metric("paddock_spawns_total{result=\"error\"}"), 2.0);
}

TEST(FaultsAtStart, GivenTruncatedSeccompFilters_WhenTheDaemonStarts_ThenItRefuses) {
  TempDir tmp("paddock-bpf");
  ASSERT_FALSE(tmp.path.empty());
  const std::string& dir = tmp.path;
  const std::string full = read_all(seccomp_profile_for_tests(dir));
  ASSERT_GE(full.size(), 8u * 8u) << "the test filter is too small to cut";
  const std::size_t n = full.size() / sizeof(sock_filter);
  std::vector<sock_filter> prog(n);
  std::memcpy(prog.data(), full.data(), full.size());

  std::vector<std::pair<std::string, std::string>> cuts;  // (what, bytes)
  cuts.emplace_back("cut mid-instruction", full.substr(0, full.size() / 2 + 3));
  // Cut on an instruction boundary where the last kept instruction is not a return.
  for (std::size_t k = n - 1; k > 1; --k) {
    if (BPF_CLASS(prog[k - 1].code) != BPF_RET) {
      cuts.emplace_back("cut after a non-return", full.substr(0, k * sizeof(sock_filter)));
      break;
    }
  }
  // The nastiest cut: the last kept instruction is a return, but earlier jumps lead past the
  // new end. The kernel refuses such a program, so every spawn would fail.
  for (std::size_t k = n - 1; k > 1; --k) {
    if (BPF_CLASS(prog[k - 1].code) != BPF_RET) continue;
    bool jumps_out = false;
    for (std::size_t i = 0; i < k; ++i) {
      if (BPF_CLASS(prog[i].code) != BPF_JMP) continue;
      const std::size_t far = BPF_OP(prog[i].code) == BPF_JA
                                  ? i + 1 + prog[i].k
                                  : i + 1 + std::max(prog[i].jt, prog[i].jf);
      jumps_out = jumps_out || far >= k;
    }
    if (jumps_out) {
      cuts.emplace_back("cut after a return, jumps past the end",
                        full.substr(0, k * sizeof(sock_filter)));
      break;
    }
  }
  ASSERT_EQ(cuts.size(), 3u) << "could not find every kind of cut in the test filter";
  for (const auto& [what, bytes] : cuts) {
    SCOPED_TRACE(what);
    const std::string path = dir + "/truncated.bpf";
    write_all(path, bytes);
    TestDaemonOptions o;
    o.set["process.seccomp_profile"] = "\"" + path + "\"";
    const std::string log = expect_refusal(o);
    EXPECT_THAT(log, HasSubstr("seccomp_profile")) << log;
    EXPECT_THAT(log, HasSubstr("refusing to start")) << log;
  }
}

TEST(FaultsAtStart, GivenInvalidConfigs_WhenTheDaemonStarts_ThenItRefusesNamingTheProblem) {
  struct Case {
    std::string what;
    TestDaemonOptions options;
    std::string expect;  ///< in the log
  };
  std::vector<Case> cases;
  {
    Case c{"TOML syntax error", {}, "paddock.toml:"};
    c.options.extra_toml = "[process\nmax_workers = 3\n";
    cases.push_back(std::move(c));
  }
  {
    Case c{"unknown key", {}, "max_workerz"};
    c.options.set["process.max_workerz"] = "3";
    cases.push_back(std::move(c));
  }
  {
    Case c{"wrong type", {}, "max_connections"};
    c.options.set["server.max_connections"] = "\"many\"";
    cases.push_back(std::move(c));
  }
  {
    Case c{"inverted UID range", {}, "worker_uid_range"};
    c.options.set["process.worker_uid_range_start"] = "61000";
    c.options.set["process.worker_uid_range_end"] = "60000";
    cases.push_back(std::move(c));
  }
  {
    Case c{"UID range reaching root", {}, "worker_uid_range"};
    c.options.set["process.worker_uid_range_start"] = "0";
    cases.push_back(std::move(c));
  }
  {
    Case c{"unknown log level", {}, "log.level"};
    c.options.set["log.level"] = "\"loud\"";
    cases.push_back(std::move(c));
  }
  {
    Case c{"a listen address that is not host:port", {}, "listen"};
    c.options.set["server.listen"] = "[\"localhost\"]";
    cases.push_back(std::move(c));
  }
  for (auto& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string log = expect_refusal(c.options);
    EXPECT_THAT(log, HasSubstr(c.expect)) << log;
    EXPECT_THAT(log, HasSubstr("refusing to start")) << log;
  }
}

TEST(FaultsAtRuntime, GivenTheConfigFileBrokenWhileRunning_WhenSighup_ThenTheDaemonKeepsServing) {
  // SIGHUP reloads the token file and reopens the audit log; the config itself is read only at
  // start. A config broken on disk must neither stop nor confuse a running daemon.
  TestDaemon d;
  ASSERT_TRUE(d.started()) << d.start_error();
  std::ofstream(d.config_path(), std::ios::trunc) << "[server\nthis is = not toml = at all\n";
  ASSERT_EQ(::kill(d.pid(), SIGHUP), 0);
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(d.running()) << d.log();
  EXPECT_EQ(d.tcp().get("/healthz").status, 200u);
  EXPECT_EQ(d.tcp().get("/v1/version", {bearer(d.read_token())}).status, 200u);
}
