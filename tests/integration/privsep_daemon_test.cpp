// The split as it runs: a real paddockd serving, its spawner beside it. The daemon holds no
// privilege (/proc/<pid>/status); a process with exactly its credentials and filter cannot
// signal, trace or read the environment of a worker; and when either half dies, the other goes
// too (the spawner after waiting [process] adopt_seconds for a new daemon) and no worker is left
// unsupervised.
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "paddock/privsep/drop.hpp"
#include "paddock/util/fd.hpp"
#include "support/daemon.hpp"

using namespace paddock;
using namespace paddock::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

std::string status_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string field(const std::string& status, const std::string& key) {
  const auto at = status.find("\n" + key + ":");
  if (at == std::string::npos) return "?";
  const auto start = status.find_first_not_of(" \t", at + key.size() + 2);
  const auto end = status.find('\n', start);
  std::string v = status.substr(start, end - start);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
  return v;
}

/// The children of `pid` (from /proc/<pid>/task/*/children).
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  pid_t c;
  while (in >> c) out.push_back(c);
  return out;
}

bool alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

bool gone_within(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string st = status_of(pid);
    if (st.empty() || field(st, "State").rfind("Z", 0) == 0) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

class PrivsepDaemon : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: the daemon starts as root and drops";
    d = std::make_unique<TestDaemon>();
    ASSERT_TRUE(d->started()) << d->start_error();
    const auto kids = children_of(d->pid());
    ASSERT_EQ(kids.size(), 1u) << "the daemon should have exactly one child, its spawner";
    spawner = kids[0];
  }

  /// Starts `sleep 600` and returns its host pid once it runs.
  pid_t start_worker() {
    auto res = d->tcp().request("POST", "/v1/workers", json{{"command", {"sleep", "600"}}}.dump(),
                                {bearer(d->write_token())});
    EXPECT_EQ(res.status, 201u) << res.body;
    const std::string id = res.json().value("id", "");
    for (int i = 0; i < 300; ++i) {
      auto w = d->tcp().get("/v1/workers/" + id, {bearer(d->read_token())}).json();
      if (w["state"] == "ready" && w["pid"].is_number()) return w["pid"].get<pid_t>();
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "the worker never became ready";
    return -1;
  }

  std::unique_ptr<TestDaemon> d;
  pid_t spawner = -1;
};

}  // namespace

TEST_F(PrivsepDaemon, GivenTheDaemonServingThenItHoldsNoPrivilegeAndTheSpawnerDoes) {
  auto user = privsep::lookup_daemon_user("paddock");
  ASSERT_TRUE(user) << user.error().message;
  const std::string st = status_of(d->pid());
  const std::string uid = std::to_string(user->uid);
  const std::string gid = std::to_string(user->gid);
  EXPECT_EQ(field(st, "Uid"), uid + "\t" + uid + "\t" + uid + "\t" + uid) << st;
  EXPECT_EQ(field(st, "Gid"), gid + "\t" + gid + "\t" + gid + "\t" + gid) << st;
  EXPECT_EQ(field(st, "Groups"), gid);
  for (const char* cap : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
    EXPECT_EQ(field(st, cap), "0000000000000000") << cap;
  }
  EXPECT_EQ(field(st, "NoNewPrivs"), "1");
  EXPECT_EQ(field(st, "Seccomp"), "2");
  // The spawner is root (what the unit's bounding set allows) and filters nothing itself.
  const std::string sp = status_of(spawner);
  EXPECT_EQ(field(sp, "Uid").substr(0, 2), "0\t") << sp;
  std::ifstream cmdline("/proc/" + std::to_string(spawner) + "/cmdline");
  std::string argv;
  std::getline(cmdline, argv);
  EXPECT_NE(argv.find("spawner"), std::string::npos) << argv;
  // And the API still works end to end through it.
  EXPECT_GT(start_worker(), 0);
}

TEST_F(PrivsepDaemon, GivenTheDaemonsCredentialsThenAWorkerCannotBeSignalledTracedOrRead) {
  const pid_t worker = start_worker();
  ASSERT_GT(worker, 0);
  const std::string st = status_of(d->pid());
  // A child with exactly the daemon's credentials and filter (the same functions the daemon
  // used), reporting what the kernel lets it do.
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(p[0]);
    std::string out;
    auto user = privsep::lookup_daemon_user("paddock");
    if (!user || !privsep::drop_privileges(*user) || !privsep::install_daemon_seccomp()) {
      out = "drop failed";
    } else {
      auto outcome = [](long rc) { return rc == -1 ? util::errno_name(errno) : std::string("ok"); };
      out += "kill_worker=" + outcome(::kill(worker, SIGKILL)) + "\n";
      out += "kill_spawner=" + outcome(::kill(spawner, SIGKILL)) + "\n";
      out += "kill_init=" + outcome(::kill(1, 0)) + "\n";
      out += "ptrace=" + outcome(::ptrace(PTRACE_ATTACH, worker, nullptr, nullptr)) + "\n";
      out += "environ=" +
             outcome(::open(("/proc/" + std::to_string(worker) + "/environ").c_str(), O_RDONLY)) +
             "\n";
      out +=
          "mem=" + outcome(::open(("/proc/" + std::to_string(worker) + "/mem").c_str(), O_RDONLY)) +
          "\n";
    }
    (void)!::write(p[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(p[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(p[0]);
  ::waitpid(child, nullptr, 0);
  EXPECT_NE(out.find("kill_worker=EPERM"), std::string::npos) << out;
  EXPECT_NE(out.find("kill_spawner=EPERM"), std::string::npos) << out;
  EXPECT_NE(out.find("kill_init=EPERM"), std::string::npos) << out;
  EXPECT_NE(out.find("ptrace=EPERM"), std::string::npos) << out;
  EXPECT_NE(out.find("environ=EACCES"), std::string::npos) << out;
  EXPECT_NE(out.find("mem=EACCES"), std::string::npos) << out;
  EXPECT_TRUE(alive(worker));
  // That child was the daemon's double: same uid, same gid, same empty capability sets.
  EXPECT_EQ(field(st, "CapEff"), "0000000000000000");
}

TEST_F(PrivsepDaemon, GivenTheSpawnerKilledThenTheDaemonExitsAndNoWorkerIsLeft) {
  const pid_t worker = start_worker();
  ASSERT_GT(worker, 0);
  ASSERT_EQ(::kill(spawner, SIGKILL), 0);
  auto status = d->wait_exit(10s);
  ASSERT_TRUE(status.has_value()) << "the daemon kept running without its spawner";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << *status;
  EXPECT_TRUE(gone_within(worker, 5s)) << "the worker outlived its spawner";
  EXPECT_NE(d->log().find("the spawner"), std::string::npos);
}

TEST_F(PrivsepDaemon, GivenTheDaemonKilledAndNoneAdoptsThenTheSpawnerExitsAndNoWorkerIsLeft) {
  const pid_t worker = start_worker();
  ASSERT_GT(worker, 0);
  ASSERT_EQ(::kill(d->pid(), SIGKILL), 0);
  (void)d->wait_exit(5s);
  // The spawner keeps the worker [process] adopt_seconds (5 s for test daemons) for a new
  // daemon; none comes, so both end.
  EXPECT_TRUE(gone_within(spawner, 15s)) << "the spawner outlived its daemon";
  EXPECT_TRUE(gone_within(worker, 5s)) << "the worker outlived its daemon";
}
