// Integration tests of the spawner: real bwrap, real UIDs, as root. Each test starts workers
// through sandbox::make_plan + spawn::spawn directly (the supervisor and the daemon are not
// involved) and checks what the worker can and cannot see.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "paddock/pool/port_pool.hpp"
#include "paddock/pool/process_table.hpp"
#include "paddock/pool/uid_pool.hpp"
#include "paddock/sandbox/paths.hpp"
#include "paddock/sandbox/plan.hpp"
#include "paddock/spawn/reaper.hpp"
#include "paddock/spawn/spawn.hpp"
#include "paddock/spawn/status.hpp"
#include "support/spawn_support.hpp"

using namespace paddock;
using namespace std::chrono_literals;
namespace ts = paddock::testsupport;

namespace {

// A UID range of its own, away from the default 60000-60999 other suites use.
// Test programs of several checkouts may run at once on one machine; each process takes one of
// 15 slices of 62000-64999 (and of ports 21500-22999) so they do not count each other's workers.
const unsigned kSlice = static_cast<unsigned>(::getpid()) % 15;
const uid_t kFirstUid = 62000 + kSlice * 200;
const std::uint16_t kFirstPort = static_cast<std::uint16_t>(21500 + kSlice * 100);
constexpr uid_t kUidCount = 200;

class SpawnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to worker UIDs";
    if (::access("/usr/bin/bwrap", X_OK) != 0) GTEST_SKIP() << "needs /usr/bin/bwrap";
    cfg_ = layout_.config(kFirstUid, kUidCount);
    cfg_.process.port_range_start = kFirstPort;
    cfg_.process.port_range_end = kFirstPort + 99;
    bpf_ = ts::test_seccomp_bpf();
    shell_ = ts::source_profile("shell");
    // As the daemon does at start-up: UIDs that still own processes are not handed out.
    ASSERT_TRUE(uids_.adopt_host_state());
  }

  struct Worker {
    spawn::Spawned proc;
    uid_t uid = 0;
    std::optional<std::uint16_t> port;
    pid_t workload = -1;
  };

  /// Starts `command` in the shell profile with the bundle mounted; optionally with a port.
  Worker start(std::vector<std::string> command, bool with_port = false,
               const sandbox::SandboxProfile* profile = nullptr) {
    Worker w;
    auto uid = uids_.acquire();
    EXPECT_TRUE(uid) << uid.error().message;
    w.uid = *uid;
    sandbox::WorkerSpec spec;
    spec.command = std::move(command);
    spec.bundle = layout_.path("bundles/app");
    spec.port = with_port;
    sandbox::Allocation alloc;
    alloc.worker_id = "w" + std::to_string(++counter_);
    alloc.uid = w.uid;
    auto bundle = sandbox::resolve_bundle_path(spec.bundle, cfg_.process.bundle_roots,
                                               sandbox::RealFileSystem{});
    EXPECT_TRUE(bundle) << bundle.error().message;
    alloc.bundle_path = *bundle;
    spawn::SpawnInputs in;
    in.seccomp_bpf = bpf_;
    if (with_port) {
      auto lease = ports_.acquire();
      EXPECT_TRUE(lease) << lease.error().message;
      alloc.port = lease->port;
      w.port = lease->port;
      in.port_listener = std::move(lease->listener);
    }
    auto plan = sandbox::make_plan(spec, profile ? *profile : shell_, cfg_, alloc);
    EXPECT_TRUE(plan) << plan.error().message;
    auto s = spawn::spawn(*plan, std::move(in));
    EXPECT_TRUE(s) << s.error().message;
    if (s) w.proc = std::move(s.value());
    return w;
  }

  /// Runs a shell script to the end and returns what it printed.
  ts::Finished run_sh(const std::string& script) {
    Worker w = start({"/bin/sh", "-c", script});
    auto f = ts::run_to_end(w.proc);
    finish(w);
    return f;
  }

  void finish(Worker& w) {
    uids_.release(w.uid);
    if (w.port) ports_.release(*w.port);
  }

  pid_t workload_pid(Worker& w) {
    auto pid = spawn::read_workload_pid(w.proc.status_fd.get(), 10000ms);
    EXPECT_TRUE(pid) << pid.error().message;
    return pid ? *pid : -1;
  }

  /// The workload pid is known a moment before bwrap's last fork execs the command; wait for
  /// the command's name to show.
  static bool wait_for_exec(pid_t pid, const std::string& comm) {
    const std::string path = "/proc/" + std::to_string(pid) + "/comm";
    for (int i = 0; i < 500; ++i) {
      if (ts::read_file(path) == comm + "\n") return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  ts::DaemonLayout layout_;
  config::Config cfg_;
  std::string bpf_;
  sandbox::SandboxProfile shell_;
  pool::ProcProcessTable table_;
  pool::UidPool uids_{kFirstUid, kFirstUid + kUidCount - 1, table_};
  pool::LoopbackBinder binder_;
  pool::PortPool ports_{kFirstPort, static_cast<std::uint16_t>(kFirstPort + 99), binder_};
  int counter_ = 0;
};

std::string status_line(const std::string& status, const std::string& key) {
  std::istringstream in(status);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) {
      auto v = line.substr(key.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "<missing " + key + ">";
}

}  // namespace

TEST_F(SpawnTest, GivenAWorker_WhenTheHostLooksAtItsWorkload_ThenUidAndGidAreTheAllocatedOnes) {
  Worker w = start({"/bin/sleep", "30"});
  const pid_t pid = workload_pid(w);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_for_exec(pid, "sleep"));
  const std::string status = ts::read_file("/proc/" + std::to_string(pid) + "/status");
  EXPECT_EQ(status_line(status, "Name"), "sleep");
  const std::string u = std::to_string(w.uid);
  const std::string g = std::to_string(cfg_.process.worker_gid);
  EXPECT_EQ(status_line(status, "Uid"), u + "\t" + u + "\t" + u + "\t" + u);
  EXPECT_EQ(status_line(status, "Gid"), g + "\t" + g + "\t" + g + "\t" + g);
  EXPECT_EQ(status_line(status, "Groups"), "");
  // bwrap itself (the daemon's child) runs as the worker too.
  const std::string bstatus = ts::read_file("/proc/" + std::to_string(w.proc.pid) + "/status");
  EXPECT_EQ(status_line(bstatus, "Uid"), u + "\t" + u + "\t" + u + "\t" + u);
  ts::kill_and_reap(w.proc, w.uid);
  finish(w);
}

TEST_F(SpawnTest, GivenTheDaemonHasAnOomScoreAdjust_WhenAWorkerRuns_ThenItsScoreAdjustIsZero) {
  // Under systemd the daemon runs with OOMScoreAdjust=-500; workers must not inherit it. Lowering
  // the score needs CAP_SYS_RESOURCE, which a test host may not grant (containers often drop it),
  // so the daemon's side is raised instead: a worker that inherited anything would show it.
  const std::string own = ts::read_file("/proc/self/oom_score_adj");
  ASSERT_EQ(own, "0\n") << "the test process starts with a non-zero oom_score_adj";
  { std::ofstream("/proc/self/oom_score_adj") << "300"; }
  ASSERT_EQ(ts::read_file("/proc/self/oom_score_adj"), "300\n");
  Worker w = start({"/bin/sleep", "30"});
  const pid_t pid = workload_pid(w);
  { std::ofstream("/proc/self/oom_score_adj") << "0"; }
  EXPECT_EQ(ts::read_file("/proc/self/oom_score_adj"), "0\n");
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_for_exec(pid, "sleep"));
  EXPECT_EQ(ts::read_file("/proc/" + std::to_string(pid) + "/oom_score_adj"), "0\n");
  EXPECT_EQ(ts::read_file("/proc/" + std::to_string(w.proc.pid) + "/oom_score_adj"), "0\n");
  ts::kill_and_reap(w.proc, w.uid);
  finish(w);
}

TEST_F(SpawnTest, GivenAWorker_WhenItReadsItsOwnStatus_ThenNoCapabilitiesNoNewPrivsAndSeccomp) {
  auto f = run_sh("grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status");
  ASSERT_EQ(f.exit_status, 0) << f.err;
  for (const char* cap : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
    EXPECT_EQ(status_line(f.out, cap), "0000000000000000") << f.out;
  }
  EXPECT_EQ(status_line(f.out, "NoNewPrivs"), "1") << f.out;
  EXPECT_EQ(status_line(f.out, "Seccomp"), "2") << f.out;
}

TEST_F(SpawnTest, GivenASecretInTheDaemonsEnvironment_WhenAWorkerLooksEverywhere_ThenItIsAbsent) {
  const std::string secret = "pdk-secret-4f2a9c17e";
  ::setenv("PADDOCK_TEST_SECRET", secret.c_str(), 1);
  auto f = run_sh(
      "env; echo '--- self'; tr '\\0' '\\n' < /proc/self/environ; echo '--- init';"
      " tr '\\0' '\\n' < /proc/1/environ");
  ::unsetenv("PADDOCK_TEST_SECRET");
  ASSERT_EQ(f.exit_status, 0) << f.err;
  EXPECT_EQ(f.out.find(secret), std::string::npos) << f.out;
  EXPECT_EQ(f.out.find("PADDOCK_TEST_SECRET"), std::string::npos) << f.out;
  // The reads really happened: the workload's env and bwrap's own (PATH and LANG only).
  const auto init_at = f.out.find("--- init");
  ASSERT_NE(init_at, std::string::npos);
  EXPECT_NE(f.out.find("HOME=/tmp"), std::string::npos) << f.out;
  EXPECT_NE(f.out.find("LANG=C.UTF-8", init_at), std::string::npos) << f.out;
  EXPECT_EQ(f.err, "");
}

TEST_F(SpawnTest, GivenTheDaemonHoldsSocketsAndFiles_WhenAWorkerListsItsFds_ThenOnly012) {
  // Deliberately without close-on-exec: the spawner alone must keep them out.
  const int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(tcp, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(tcp, 4), 0);
  const int unix_sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un u{};
  u.sun_family = AF_UNIX;
  const std::string sock_path = layout_.path("run/paddock.sock");
  std::snprintf(u.sun_path, sizeof u.sun_path, "%s", sock_path.c_str());
  ASSERT_EQ(::bind(unix_sock, reinterpret_cast<sockaddr*>(&u), sizeof u), 0);
  ASSERT_EQ(::listen(unix_sock, 4), 0);
  const int file = ::open(layout_.path("etc/tokens").c_str(), O_RDONLY);
  const int file2 = ::open(layout_.path("etc/paddock.toml").c_str(), O_RDONLY);
  ASSERT_GE(file, 0);

  // From the inside: ls's own directory descriptor (-> /proc/<pid>/fd) is the only extra entry.
  auto f = run_sh("ls -l /proc/self/fd | tail -n +2 | awk '{print $9, $11}'");
  ASSERT_EQ(f.exit_status, 0) << f.err;
  std::istringstream lines(f.out);
  std::string num, target;
  std::vector<std::string> fds;
  while (lines >> num >> target) {
    if (target.find("/fd") != std::string::npos && target.rfind("/proc/", 0) == 0) continue;
    fds.push_back(num);
  }
  EXPECT_EQ(fds, (std::vector<std::string>{"0", "1", "2"})) << f.out;

  // From the host: the running workload holds exactly 0, 1 and 2. Right after exec the dynamic
  // loader briefly has a library open, so look again until sleep is settled; a descriptor that
  // leaked into the sandbox would stay open for the process's whole life.
  Worker w = start({"/bin/sleep", "30"});
  const pid_t pid = workload_pid(w);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_for_exec(pid, "sleep"));
  std::vector<std::string> host_view;
  for (int i = 0; i < 200; ++i) {
    host_view.clear();
    for (const auto& e :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
      host_view.push_back(e.path().filename());
    }
    std::sort(host_view.begin(), host_view.end());
    if (host_view.size() <= 3) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(host_view, (std::vector<std::string>{"0", "1", "2"}));
  ts::kill_and_reap(w.proc, w.uid);
  finish(w);
  for (int fd : {tcp, unix_sock, file, file2}) ::close(fd);
}

TEST_F(SpawnTest, GivenDaemonFilesAndAnotherWorker_WhenAWorkerTriesToReadThem_ThenItCannot) {
  Worker other = start({"/bin/sh", "-c", "echo other-worker-tmp-5d1e > /tmp/mine.txt; sleep 30"});
  const pid_t other_pid = workload_pid(other);
  ASSERT_GT(other_pid, 0);
  // The file really exists in the other worker's /tmp (seen from the host through its root).
  const std::string other_file = "/proc/" + std::to_string(other_pid) + "/root/tmp/mine.txt";
  for (int i = 0; i < 100 && ts::read_file(other_file).empty(); ++i) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(ts::read_file(other_file), "other-worker-tmp-5d1e\n");

  const std::string script =
      "for f in '" + layout_.path("etc/paddock.toml") + "' '" + layout_.path("etc/tokens") +
      "' /etc/shadow /tmp/mine.txt /proc/" + std::to_string(other_pid) +
      "/root/tmp/mine.txt; do cat \"$f\" && echo \"READ $f\"; done; ls /; true";
  auto f = run_sh(script);
  EXPECT_EQ(f.out.find("READ "), std::string::npos) << f.out;
  EXPECT_EQ(f.out.find("config-file-marker"), std::string::npos);
  EXPECT_EQ(f.out.find("token-file-marker"), std::string::npos);
  EXPECT_EQ(f.out.find("other-worker-tmp"), std::string::npos);
  EXPECT_NE(f.err.find("No such file"), std::string::npos) << f.err;
  // The bundle is there, read-only; the generated /etc/passwd names the worker; the uts
  // namespace has the profile's host name.
  auto b = run_sh(
      "cat /app/hello.txt; touch /app/x 2>/dev/null && echo WRITABLE; pwd; id -un; uname -n");
  EXPECT_EQ(b.out, "hello from the bundle\n/app\nworker\nsandbox\n") << b.err;
  ts::kill_and_reap(other.proc, other.uid);
  finish(other);
}

TEST_F(SpawnTest, GivenTwoConcurrentWorkers_ThenTheyRunUnderDifferentUids) {
  Worker a = start({"/bin/sleep", "30"});
  Worker b = start({"/bin/sleep", "30"});
  EXPECT_NE(a.uid, b.uid);
  const pid_t pa = workload_pid(a);
  const pid_t pb = workload_pid(b);
  ASSERT_GT(pa, 0);
  ASSERT_GT(pb, 0);
  const auto ua = status_line(ts::read_file("/proc/" + std::to_string(pa) + "/status"), "Uid");
  const auto ub = status_line(ts::read_file("/proc/" + std::to_string(pb) + "/status"), "Uid");
  EXPECT_EQ(ua.substr(0, ua.find('\t')), std::to_string(a.uid));
  EXPECT_EQ(ub.substr(0, ub.find('\t')), std::to_string(b.uid));
  EXPECT_NE(ua, ub);
  ts::kill_and_reap(a.proc, a.uid);
  ts::kill_and_reap(b.proc, b.uid);
  finish(a);
  finish(b);
}

TEST_F(SpawnTest, GivenAPort_WhenTheWorkloadBindsPORT_ThenTheDaemonNoLongerHoldsIt) {
  auto py = ts::source_profile("python");
  Worker w =
      start({"python3", "-c",
             "import os,socket; s=socket.socket(); "
             "s.bind(('127.0.0.1', int(os.environ['PORT']))); print('bound', os.environ['PORT'])"},
            true, &py);
  ASSERT_TRUE(w.port);
  auto f = ts::run_to_end(w.proc);
  EXPECT_EQ(f.exit_status, 0) << f.err;
  EXPECT_EQ(f.out, "bound " + std::to_string(*w.port) + "\n");
  finish(w);
}

TEST_F(SpawnTest, GivenAHundredSpawnExitCycles_ThenNoZombieAndEveryUidAndPortReturns) {
  // The test plays the daemon, which is a child subreaper: the sandbox's init, re-parented
  // when bwrap exits, comes to it and is reaped by reap_orphans().
  ASSERT_TRUE(spawn::become_subreaper());
  // What the pools hand out first before the cycles must be what they hand out after them.
  auto first_uid = uids_.acquire();
  ASSERT_TRUE(first_uid);
  uids_.release(*first_uid);
  auto first_port = ports_.acquire();
  ASSERT_TRUE(first_port);
  ports_.release(first_port->port);
  first_port->listener.reset();
  std::set<uid_t> used;
  for (int i = 0; i < 100; ++i) {
    Worker w = start({"/bin/true"}, true);
    used.insert(w.uid);
    ASSERT_TRUE(w.proc.pidfd.valid());
    auto f = ts::run_to_end(w.proc);
    ASSERT_EQ(f.exit_status, 0) << "cycle " << i << ": " << f.err;
    // The status stream ends with the workload's exit code.
    spawn::StatusParser parser;
    const std::string rest = [&] {
      std::string s;
      char buf[256];
      ssize_t n;
      while ((n = ::read(w.proc.status_fd.get(), buf, sizeof buf)) > 0) s.append(buf, n);
      return s;
    }();
    auto events = parser.feed(rest);
    ASSERT_TRUE(events);
    ASSERT_FALSE(events->empty());
    EXPECT_EQ(events->back().exit_code, 0);
    finish(w);
    spawn::reap_orphans([](pid_t) { return false; });
  }
  EXPECT_EQ(uids_.leased(), 0u);
  EXPECT_EQ(ports_.leased(), 0u);
  // A UID whose sandbox init was still being torn down at release drains until it is gone.
  // (Only the UIDs used here are looked at: other programs on the host may hold others.)
  auto any_draining = [&] {
    return std::any_of(used.begin(), used.end(), [&](uid_t u) { return uids_.is_draining(u); });
  };
  for (int i = 0; i < 300 && any_draining(); ++i) {
    std::this_thread::sleep_for(10ms);
    spawn::reap_orphans([](pid_t) { return false; });
    ASSERT_TRUE(uids_.reclaim());
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  EXPECT_FALSE(any_draining());
  // Every UID and port is free again: the lowest ones come back first (a UID that was still
  // draining from an earlier test when this one began may have come free meanwhile).
  auto uid = uids_.acquire();
  ASSERT_TRUE(uid);
  EXPECT_LE(*uid, *first_uid);
  uids_.release(*uid);
  auto port = ports_.acquire();
  ASSERT_TRUE(port);
  EXPECT_LE(port->port, first_port->port);
  ports_.release(port->port);
  // No child of ours is left, not even a zombie.
  errno = 0;
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  auto live = table_.live_uids(kFirstUid, kFirstUid + kUidCount - 1);
  ASSERT_TRUE(live);
  for (uid_t u : used) EXPECT_EQ(live->count(u), 0u) << "uid " << u << " still has a process";
}

TEST_F(SpawnTest, GivenTheDaemonIsKilledWithSigkill_ThenNoWorkerProcessIsAlive1sLater) {
  // Orphans are re-parented to this test process so it can reap them and nothing lingers as a
  // zombie owned by the worker UID.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  const pid_t daemon = ::fork();
  ASSERT_GE(daemon, 0);
  if (daemon == 0) {
    // The stand-in daemon: spawn a worker through the module, say its pids, wait to be killed.
    // It never outlives the test, whatever happens to the test.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::alarm(60);
    ::close(report[0]);
    Worker w = start({"/bin/sleep", "60"});
    pid_t pids[3] = {w.proc.pid, workload_pid(w), static_cast<pid_t>(w.uid)};
    // Fully started: bwrap's own --die-with-parent is only armed once its setup is done.
    if (!wait_for_exec(pids[1], "sleep")) ::_exit(1);
    if (::write(report[1], pids, sizeof pids) != sizeof pids) ::_exit(1);
    for (;;) ::pause();
  }
  ::close(report[1]);
  struct KillOnExit {
    pid_t pid;
    ~KillOnExit() {
      if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
    }
  } guard{daemon};
  pid_t pids[3] = {-1, -1, -1};
  ASSERT_EQ(::read(report[0], pids, sizeof pids), static_cast<ssize_t>(sizeof pids));
  ::close(report[0]);
  ASSERT_GT(pids[1], 0);
  const uid_t uid = static_cast<uid_t>(pids[2]);
  auto before = table_.live_uids(uid, uid);
  ASSERT_TRUE(before);
  ASSERT_EQ(before->count(uid), 1u) << "the worker should be running before the kill";

  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  ASSERT_EQ(::waitpid(daemon, nullptr, 0), daemon);
  guard.pid = 0;  // reaped: its pid may be reused from now on
  std::this_thread::sleep_for(1s);
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  auto after = table_.live_uids(uid, uid);
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->empty()) << "a process with worker uid " << uid << " survived the daemon";
  EXPECT_NE(::kill(pids[0], 0), 0);
  EXPECT_NE(::kill(pids[1], 0), 0);
}

TEST_F(SpawnTest, GivenAMissingBwrap_WhenSpawning_ThenTheErrorNamesExecveAndErrno) {
  sandbox::WorkerSpec spec;
  spec.command = {"/bin/true"};
  cfg_.process.bwrap_path = "/nonexistent/bwrap";
  sandbox::Allocation alloc;
  alloc.worker_id = "missing-bwrap";
  alloc.uid = kFirstUid + kUidCount - 1;
  auto plan = sandbox::make_plan(spec, shell_, cfg_, alloc);
  ASSERT_TRUE(plan) << plan.error().message;
  spawn::SpawnInputs in;
  in.seccomp_bpf = bpf_;
  auto s = spawn::spawn(*plan, std::move(in));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("execve(/nonexistent/bwrap): ENOENT"), std::string::npos)
      << s.error().message;
  errno = 0;
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1) << "the failed child must have been reaped";
}

TEST_F(SpawnTest, GivenTheRProfile_WhenRIsInstalled_ThenRscriptRunsInTheSandbox) {
  if (::access("/usr/bin/Rscript", X_OK) != 0) GTEST_SKIP() << "R is not installed on this host";
  auto r = ts::source_profile("r");
  Worker w = start({"Rscript", "-e", "cat(R.version$major, '\\n')"}, false, &r);
  auto f = ts::run_to_end(w.proc);
  EXPECT_EQ(f.exit_status, 0) << f.err;
  EXPECT_FALSE(f.out.empty());
  finish(w);
}

TEST_F(SpawnTest, GivenARunningWorker_WhenItsUidIsKilled_ThenEveryProcessOfItEnds) {
  Worker w = start({"/bin/sh", "-c", "sleep 60 & sleep 60 & wait"});
  const pid_t pid = workload_pid(w);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_for_exec(pid, "sh"));
  ASSERT_TRUE(spawn::kill_uid(w.uid));
  auto f = ts::run_to_end(w.proc);
  EXPECT_EQ(f.exit_status, 128 + SIGKILL);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    auto live = table_.live_uids(w.uid, w.uid);
    ASSERT_TRUE(live);
    gone = live->empty();
    if (!gone) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(gone) << "processes of uid " << w.uid << " are left";
  EXPECT_FALSE(spawn::kill_uid(0));
  finish(w);
}
