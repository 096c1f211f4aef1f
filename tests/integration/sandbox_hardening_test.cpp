// The sandbox's hardening seen from inside a worker started through a real daemon: a read-only
// root with size-capped /tmp and /dev/shm, and the seccomp policy for unknown system calls.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "support/daemon.hpp"
#include "support/worker_api.hpp"

using namespace paddock;
using namespace paddock::test;
using nlohmann::json;

namespace {

/// stdout (and what the command sends to it) of `sh -c command`.
std::string capture(const std::string& command) {
  std::string out;
  if (FILE* p = ::popen(command.c_str(), "r")) {
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

/// GET /v1/workers/{id}/logs until its body contains `needle` (or ~10 s pass); the last body.
std::string wait_for_log(const WorkerApi& api, const std::string& id, const std::string& needle) {
  std::string log;
  for (int i = 0; i < 100 && log.find(needle) == std::string::npos; ++i) {
    if (i > 0) ::usleep(100 * 1000);
    log = api.get("/v1/workers/" + id + "/logs").body;
  }
  return log;
}

class SandboxHardening : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
    TestDaemonOptions o;
    o.set["limits.tmp_mb"] = "8";
    d = std::make_unique<TestDaemon>(o);
    ASSERT_TRUE(d->started()) << d->start_error();
  }

  /// Runs a shell script as a one-shot run; returns the run's JSON object.
  json run_sh(const std::string& script) {
    auto res = WorkerApi(*d).post(
        "/v1/runs", {{"command", {"/bin/sh", "-c", script}}, {"timeout_seconds", 30}});
    EXPECT_EQ(res.status, 200u) << res.body;
    return res.json();
  }

  std::unique_ptr<TestDaemon> d;
};

}  // namespace

TEST_F(SandboxHardening, GivenAWorker_WhenItWritesOutsideTmp_ThenTheRootIsReadOnly) {
  // Each line: the path and whether creating a file there worked.
  const auto out = run_sh(
      "for f in /x /etc/x /usr/x /dev/x /tmp/x /dev/shm/x; do "
      "if (: > $f) 2>/dev/null; then echo \"$f ok\"; else echo \"$f denied\"; fi; done; "
      "mkdir /newdir 2>/dev/null && echo 'mkdir ok' || echo 'mkdir denied'");
  EXPECT_EQ(out["stdout"],
            "/x denied\n/etc/x denied\n/usr/x denied\n/dev/x denied\n/tmp/x ok\n/dev/shm/x ok\n"
            "mkdir denied\n")
      << out.dump();
}

TEST_F(SandboxHardening, GivenTmpMb8_WhenAWorkerFillsTmpOrDevShm_ThenEachStopsAtTheCap) {
  // dd stops at "No space left on device" (or at RLIMIT_FSIZE, which is tmp_mb too); the sizes
  // written are what the tmpfs accepted. Two files each: the cap is per mount, not per file.
  const auto out = run_sh(
      "for d in /tmp /dev/shm; do "
      "dd if=/dev/zero of=$d/a bs=1M count=6 2>/dev/null; "
      "dd if=/dev/zero of=$d/b bs=1M count=6 2>/dev/null; "
      "echo $(( $(stat -c %s $d/a) + $(stat -c %s $d/b) )); done");
  const std::string text = out["stdout"].get<std::string>();
  const auto nl = text.find('\n');
  ASSERT_NE(nl, std::string::npos) << out.dump();
  for (const std::string& line : {text.substr(0, nl), text.substr(nl + 1)}) {
    const long long bytes = std::atoll(line.c_str());
    // 12 MiB were asked for; the mount holds at most 8 MiB and almost all of that is usable.
    EXPECT_LE(bytes, 8LL << 20) << out.dump();
    EXPECT_GE(bytes, 7LL << 20) << out.dump();
  }
}

TEST_F(SandboxHardening, GivenASecretEnvValue_ThenNeitherHostPsNorTheSandboxsPid1ShowIt) {
  // The value is unique to this test run, so any match is this worker's.
  const std::string secret = "pk-" + std::to_string(::getpid()) + "-hunter2";
  auto res = WorkerApi(*d).post(
      "/v1/workers",
      {{"command", {"/bin/sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; sleep 60"}},
       {"env", {{"APP_TOKEN", secret}}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  const auto ready = WorkerApi(*d).wait_state(id, {"ready"});
  ASSERT_EQ(ready["state"], "ready") << ready.dump();

  // Every process's arguments as another host user sees them. Other daemons may run on this
  // host, so the bwrap lines checked in detail are this worker's: the workload's parent (the
  // sandbox's init) and grandparent (bwrap).
  const std::string ps =
      capture("setpriv --reuid 65534 --regid 65534 --clear-groups ps -eo pid=,ppid=,args= 2>&1");
  EXPECT_EQ(ps.find(secret), std::string::npos) << ps;
  std::map<long, std::pair<long, std::string>> procs;
  {
    std::istringstream in(ps);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      long pid = 0;
      long ppid = 0;
      if (!(fields >> pid >> ppid)) continue;
      std::string args;
      std::getline(fields >> std::ws, args);
      procs[pid] = {ppid, args};
    }
  }
  long at = ready["pid"].get<long>();
  for (int up = 0; up < 2; ++up) {
    ASSERT_TRUE(procs.count(at)) << at << "\n" << ps;
    at = procs[at].first;
    ASSERT_TRUE(procs.count(at)) << at << "\n" << ps;
    const std::string& args = procs[at].second;
    EXPECT_EQ(args.rfind("/usr/bin/bwrap --args 7 -- /bin/sh -c", 0), 0u) << args;
    EXPECT_EQ(args.find("--setenv"), std::string::npos) << args;
    EXPECT_EQ(args.find("APP_TOKEN"), std::string::npos) << args;
  }

  // Inside: pid 1 is bwrap's init, whose command line is bwrap's.
  std::string log = wait_for_log(WorkerApi(*d), id, "bwrap");
  EXPECT_NE(log.find("--args 7 -- /bin/sh -c"), std::string::npos) << log;
  EXPECT_EQ(log.find(secret), std::string::npos) << log;
  EXPECT_EQ(log.find("--setenv"), std::string::npos) << log;
  WorkerApi(*d).del("/v1/workers/" + id + "?grace_seconds=0");
}

TEST_F(SandboxHardening,
       GivenABundleReplacedByASymlinkToEtc_WhenTheWorkerRestarts_ThenEtcIsNeverMounted) {
  namespace fs = std::filesystem;
  // A bundle root of its own: the daemon's directory holds its config, which is never mounted.
  char root_template[] = "/tmp/paddock-bundles-XXXXXX";
  ASSERT_NE(::mkdtemp(root_template), nullptr);
  const std::string root = root_template;
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  } cleanup{root};
  TestDaemonOptions o;
  o.set["process.bundle_roots"] = "[\"" + root + "\"]";
  o.set["process.stop_grace_seconds"] = "1";
  d = std::make_unique<TestDaemon>(o);
  ASSERT_TRUE(d->started()) << d->start_error();
  const std::string bundle = root + "/app1";
  fs::create_directories(bundle);
  { std::ofstream(bundle + "/marker") << "app1\n"; }
  fs::permissions(root, fs::perms(0755));
  fs::permissions(bundle, fs::perms(0755));
  fs::permissions(bundle + "/marker", fs::perms(0644));
  // Prints what /app holds, then fails so the on-failure policy restarts it.
  auto res = WorkerApi(*d).post("/v1/workers",
                                {{"command", {"/bin/sh", "-c", "ls /app; sleep 0.3; exit 1"}},
                                 {"bundle", bundle},
                                 {"restart", "on-failure"}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  std::string log = wait_for_log(WorkerApi(*d), id, "marker");
  ASSERT_NE(log.find("marker"), std::string::npos) << log;
  fs::rename(bundle, root + "/app1.old");
  fs::create_directory_symlink("/etc", bundle);
  const auto end = WorkerApi(*d).wait_state(id, {"failed"}, std::chrono::seconds(30));
  EXPECT_EQ(end["state"], "failed") << end.dump();
  EXPECT_NE(end["reason"].get<std::string>().find("changed since the worker was created"),
            std::string::npos)
      << end.dump();
  log = WorkerApi(*d).get("/v1/workers/" + id + "/logs").body;
  // /etc holds passwd on every host; /app never showed it.
  EXPECT_EQ(log.find("passwd"), std::string::npos) << log;
}

namespace {

/// Copies the built paddockd and paddock-probe into `dir` (created 0755 inside `parent`) and
/// starts the daemon from there with a bundle root and data under `parent` as well.
void start_from_copy(const std::string& parent, bool bundle_readable_by_workers) {
  namespace fs = std::filesystem;
  const std::string bin = parent + "/bin";
  fs::create_directories(bin);
  fs::copy_file(PADDOCKD_PATH, bin + "/paddockd", fs::copy_options::overwrite_existing);
  fs::copy_file(PADDOCK_BINARY_DIR "/src/paddock-probe", bin + "/paddock-probe",
                fs::copy_options::overwrite_existing);
  const std::string root = parent + "/bundles";
  fs::create_directories(root + "/app1");
  { std::ofstream(root + "/app1/marker") << "app1\n"; }
  if (bundle_readable_by_workers) {
    fs::permissions(root, fs::perms(0755));
    fs::permissions(root + "/app1", fs::perms(0755));
    fs::permissions(root + "/app1/marker", fs::perms(0644));
  }
  TestDaemonOptions o;
  o.daemon_path = bin + "/paddockd";
  o.set["process.bundle_roots"] = "[\"" + root + "\"]";
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();
  const std::string log = d.log();
  // The daemon starts only without preflight errors; the probes ran the copied helper.
  EXPECT_EQ(log.find("\"severity\":\"error\""), std::string::npos) << log;
  EXPECT_NE(log.find("preflight sandbox_canary: inside a worker"), std::string::npos) << log;
  if (!bundle_readable_by_workers) return;
  auto res = WorkerApi(d).post(
      "/v1/runs", {{"command", {"/bin/sh", "-c", "cat /app/marker"}}, {"bundle", root + "/app1"}});
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(res.json()["stdout"], "app1\n") << res.body;
}

struct TempDir {
  std::string path;
  explicit TempDir(std::string tmpl) {
    if (::mkdtemp(tmpl.data()) != nullptr) path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

/// Writes the shell profile into `dir` with a writable data mount at /data as HOME.
void write_data_mount_profile(const std::string& dir) {
  ::chmod(dir.c_str(), 0755);
  std::ifstream in(PADDOCK_SOURCE_DIR "/profiles/sandbox/shell.toml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto& [from, to] :
       {std::pair<std::string, std::string>{"data_mount = \"\"", "data_mount = \"/data\""},
        {"home = \"/tmp\"", "home = \"/data\""}}) {
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
  }
  std::ofstream(dir + "/shell.toml") << text;
}

}  // namespace

TEST(SandboxInstallPlaces, GivenTheBinariesUnderA0700RootDirectory_ThenPreflightIsClean) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
  std::filesystem::create_directories("/root");
  TempDir home("/root/paddock-install-XXXXXX");
  ASSERT_FALSE(home.path.empty());
  ::chmod(home.path.c_str(), 0700);
  // Bundles must stay reachable by worker UIDs (bubblewrap resolves bind sources by path, as
  // the worker), so only the binaries live under the 0700 directory here.
  start_from_copy(home.path, false);
}

TEST(SandboxInstallPlaces,
     GivenTheBinariesAndBundleUnderTmp_ThenPreflightIsCleanAndTheBundleWorks) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
  TempDir dir("/tmp/paddock-install-XXXXXX");
  ASSERT_FALSE(dir.path.empty());
  ::chmod(dir.path.c_str(), 0755);
  start_from_copy(dir.path, true);
}

TEST(SandboxDataMount,
     GivenADaemonWithTheUnitsCapabilities_ThenADataMountWorkerRestartsAndItsDataGoesAtTheEnd) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
  TempDir profiles("/tmp/paddock-profiles-XXXXXX");
  ASSERT_FALSE(profiles.path.empty());
  write_data_mount_profile(profiles.path);
  TestDaemonOptions o;
  // What the shipped unit leaves out: CAP_FOWNER, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH.
  o.before_exec = [] {
    for (int cap : {CAP_FOWNER, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH}) {
      ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    }
  };
  o.set["process.sandbox_profiles_dir"] = "\"" + profiles.path + "\"";
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();
  // Counts its starts in the data directory and fails until the third, which leaves a nested
  // directory nobody may enter behind and stays.
  auto res = WorkerApi(d).post(
      "/v1/workers",
      {{"command",
        {"/bin/sh", "-c",
         "echo x >> /data/starts; n=$(wc -l < /data/starts); "
         "if [ $n -ge 3 ]; then mkdir -p /data/a/b && echo s > /data/a/b/f && chmod 0 /data/a/b "
         "/data/a && ln -s /etc /data/etc && echo start $n && exec sleep 60; fi; "
         "echo start $n; exit 1"}},
       {"restart", "on-failure"}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  std::string log = wait_for_log(WorkerApi(d), id, "start 3");
  EXPECT_NE(log.find("start 3"), std::string::npos)
      << log << "\n"
      << WorkerApi(d).get("/v1/workers/" + id).body << "\n"
      << d.log();
  const std::string dir = d.dir() + "/data/" + id;
  EXPECT_TRUE(std::filesystem::exists(dir + "/a"));
  EXPECT_EQ(WorkerApi(d).del("/v1/workers/" + id + "?grace_seconds=0").status, 202u);
  const auto end = WorkerApi(d).wait_state(id, {"exited", "failed"});
  EXPECT_TRUE(end["state"] == "exited" || end["state"] == "failed") << end.dump();
  EXPECT_FALSE(std::filesystem::exists(dir)) << d.log();
  EXPECT_TRUE(std::filesystem::exists("/etc/passwd")) << "the symlink was followed";
}

TEST(SandboxIds, GivenTwentyDaemonLives_ThenNoIdRepeatsAndNothingOfAnEndedWorkerRemains) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
  namespace fs = std::filesystem;
  TempDir profiles("/tmp/paddock-profiles-XXXXXX");
  ASSERT_FALSE(profiles.path.empty());
  write_data_mount_profile(profiles.path);
  TempDir logs("/tmp/paddock-worker-logs-XXXXXX");
  ASSERT_FALSE(logs.path.empty());
  TestDaemonOptions o;
  o.set["process.sandbox_profiles_dir"] = "\"" + profiles.path + "\"";
  o.set["log.worker_log_dir"] = "\"" + logs.path + "\"";
  std::set<std::string> ids;
  for (int life = 0; life < 20; ++life) {
    TestDaemon d(o);
    ASSERT_TRUE(d.started()) << d.start_error();
    auto first = WorkerApi(d).post("/v1/runs", {{"command",
                                                 {"/bin/sh", "-c",
                                                  "echo s3cr3t-$0 > /data/secret.txt; "
                                                  "cat /data/secret.txt"}}});
    ASSERT_EQ(first.status, 200u) << first.body;
    const std::string id = first.json()["id"];
    EXPECT_EQ(id.rfind("r-", 0), 0u) << id;
    EXPECT_EQ(id.size(), 24u) << id;
    EXPECT_TRUE(ids.insert(id).second) << "id repeated: " << id;
    EXPECT_EQ(first.json()["stdout"], "s3cr3t-/bin/sh\n") << first.body;
    if (life > 0) continue;
    // Within one daemon life: the ended run's data directory is gone, the next one starts
    // empty and gets a log file of its own.
    EXPECT_FALSE(fs::exists(d.dir() + "/data/" + id)) << "data directory left behind";
    auto second =
        WorkerApi(d).post("/v1/runs", {{"command", {"/bin/sh", "-c", "ls -A /data; echo end"}}});
    ASSERT_EQ(second.status, 200u) << second.body;
    EXPECT_EQ(second.json()["stdout"], "end\n") << second.body;
    EXPECT_TRUE(ids.insert(second.json()["id"]).second);
    auto read = [](const std::string& path) {
      std::ifstream in(path);
      return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    };
    const std::string second_id = second.json()["id"];
    EXPECT_NE(read(logs.path + "/" + id + ".log").find("s3cr3t"), std::string::npos);
    const std::string second_log = read(logs.path + "/" + second_id + ".log");
    EXPECT_NE(second_log.find(" out end\n"), std::string::npos) << second_log;
    EXPECT_EQ(second_log.find("s3cr3t"), std::string::npos) << second_log;
  }
  EXPECT_EQ(ids.size(), 21u);
}

TEST(SandboxBundleRace,
     GivenABundleExchangedWithASymlinkToEtcInALoop_ThenOnlyTheBundleIsEverMounted) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
  namespace fs = std::filesystem;
  TempDir root("/tmp/paddock-race-XXXXXX");
  ASSERT_FALSE(root.path.empty());
  fs::permissions(root.path, fs::perms(0755));
  const std::string bundle = root.path + "/app1";
  const std::string link = root.path + "/link";
  fs::create_directories(bundle);
  fs::permissions(bundle, fs::perms(0755));
  { std::ofstream(bundle + "/marker") << "app1\n"; }
  fs::permissions(bundle + "/marker", fs::perms(0644));
  fs::create_directory_symlink("/etc", link);
  TestDaemonOptions o;
  o.set["process.bundle_roots"] = "[\"" + root.path + "\"]";
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();

  // The bundle directory and a symlink to /etc trade places as fast as the kernel allows while
  // runs are created on the bundle's path.
  std::atomic<bool> stop{false};
  // Between exchanges the swapper pauses for a random 0-100 us: back to back, on a 2-core machine
  // the exchanges can be so dense that every run is refused and the mount is never exercised.
  std::thread swapper([&] {
    std::minstd_rand rng(12345);
    while (!stop) {
      ::renameat2(AT_FDCWD, bundle.c_str(), AT_FDCWD, link.c_str(), RENAME_EXCHANGE);
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 100));
    }
  });
  int bundle_seen = 0;
  int refused = 0;
  int runs = 0;
  std::string wrong;
  // At least 300 runs; more (up to 1000) until both outcomes were seen.
  for (int i = 0; i < 1000 && (i < 300 || bundle_seen == 0 || refused == 0); ++i) {
    ++runs;
    auto r = WorkerApi(d).post(
        "/v1/runs",
        {{"command", {"/bin/sh", "-c", "cat /app/marker 2>/dev/null || ls /app | head -3"}},
         {"bundle", bundle}});
    if (r.status != 200) {
      ++refused;  // the bundle resolved through the symlink, or did not open without one
      continue;
    }
    const std::string out = r.json()["stdout"];
    if (out == "app1\n") {
      ++bundle_seen;
    } else if (!out.empty()) {
      wrong += r.body.substr(0, 400) + "\n";  // /app showed something else
    }
    // Empty: bwrap saw the directory move and refused to mount ("Race condition binding dirfd").
  }
  stop = true;
  swapper.join();
  std::printf("bundle exchange loop: %d runs saw the bundle, %d were refused, of %d\n", bundle_seen,
              refused, runs);
  EXPECT_EQ(wrong, "");
  EXPECT_GT(bundle_seen, 0) << "no run mounted anything; nothing was tested";
  EXPECT_GT(refused, 0) << "the loop never made the bundle a symlink; nothing was tested";
}
