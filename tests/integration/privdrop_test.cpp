// The daemon's privilege drop on the real kernel: a child of the test (root) looks up the
// account `paddock`, drops to it and loads the daemon's seccomp filter, then reports what it
// is (/proc/self/status) and what it can still do over a pipe. A victim process under another
// UID stands in for a worker.
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "paddock/privsep/drop.hpp"
#include "paddock/util/fd.hpp"

namespace {

constexpr uid_t kVictimUid = 60990;

std::string status_line(const std::string& status, const std::string& key) {
  const auto at = status.find("\n" + key + ":");
  if (at == std::string::npos) return "?";
  const auto start = status.find_first_not_of(" \t", at + key.size() + 2);
  auto end = status.find('\n', start);
  if (end == std::string::npos) end = status.size();
  std::string v = status.substr(start, end - start);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
  return v;
}

/// errno of a call that returned -1, or "ok".
std::string outcome(long rc) { return rc == -1 ? paddock::util::errno_name(errno) : "ok"; }

/// Runs in the forked child: drop, filter, then probe. Each line "key=value".
std::string drop_and_probe(pid_t victim) {
  std::ostringstream out;
  auto user = paddock::privsep::lookup_daemon_user("paddock", 60000, 60999, 65534);
  if (!user) return "error=" + user.error().message + "\n";
  if (auto r = paddock::privsep::drop_privileges(*user); !r) {
    return "error=" + r.error().message + "\n";
  }
  if (auto r = paddock::privsep::install_daemon_seccomp(); !r) {
    return "error=" + r.error().message + "\n";
  }
  const std::string status = paddock::util::read_small_file("/proc/self/status");
  for (const char* key : {"Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
                          "NoNewPrivs", "Seccomp"}) {
    out << key << "=" << status_line(status, key) << "\n";
  }
  out << "kill_init=" << outcome(::kill(1, 0)) << "\n";
  out << "kill_victim=" << outcome(::kill(victim, SIGKILL)) << "\n";
  out << "kill_self=" << outcome(::kill(::getpid(), 0)) << "\n";
  out << "ptrace_victim=" << outcome(::ptrace(PTRACE_ATTACH, victim, nullptr, nullptr)) << "\n";
  const std::string environ = "/proc/" + std::to_string(victim) + "/environ";
  out << "victim_environ=" << outcome(::open(environ.c_str(), O_RDONLY | O_CLOEXEC)) << "\n";
  // Without the filter an unprivileged process may create a user namespace; with it, clone
  // with CLONE_NEWUSER is EPERM. (A child, if ever created, leaves at once.)
  const long c = ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, 0);
  if (c == 0) ::_exit(0);
  if (c > 0) ::waitpid(static_cast<pid_t>(c), nullptr, 0);
  out << "clone_newuser=" << outcome(c > 0 ? 0 : c) << "\n";
  // Unfiltered, clone3(NULL, 0) is EINVAL (size too small); the filter answers ENOSYS.
  out << "clone3=" << outcome(::syscall(SYS_clone3, nullptr, 0)) << "\n";
  out << "mount=" << outcome(::mount("none", "/mnt", "tmpfs", 0, nullptr)) << "\n";
  out << "setuid0=" << outcome(::setuid(0)) << "\n";
  out << "pidfd_open_self=" << outcome(::syscall(SYS_pidfd_open, ::getpid(), 0)) << "\n";
  // glibc's pthread_create tries clone3 first and falls back to clone on ENOSYS.
  std::atomic<int> ran{0};
  try {
    std::thread t([&] { ran = 42; });
    t.join();
    out << "thread=" << (ran == 42 ? "ok" : "did not run") << "\n";
  } catch (const std::system_error& e) {
    out << "thread=" << e.what() << "\n";
  }
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool listening = s >= 0 &&
                         ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                         ::listen(s, 4) == 0;
  out << "listen=" << (listening ? "ok" : paddock::util::errno_name(errno)) << "\n";
  // Last: were it let through, the process would be in a new user namespace (where uid 0 is
  // unmapped) for any probe after it.
  out << "unshare_user=" << outcome(::unshare(CLONE_NEWUSER)) << "\n";
  return out.str();
}

/// Runs `fn` in a forked child and returns what it returned, sent back over a pipe, and whether
/// the child exited 0.
std::pair<std::string, bool> in_child(const std::function<std::string()>& fn) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {"error=pipe2 failed\n", false};
  const pid_t child = ::fork();
  if (child < 0) return {"error=fork failed\n", false};
  if (child == 0) {
    ::close(fds[0]);
    const std::string report = fn();
    std::size_t off = 0;
    while (off < report.size()) {
      const ssize_t n = ::write(fds[1], report.data() + off, report.size() - off);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int wstatus = 0;
  ::waitpid(child, &wstatus, 0);
  return {text, WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0};
}

std::map<std::string, std::string> parse(const std::string& text) {
  std::map<std::string, std::string> m;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) m[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return m;
}

}  // namespace

TEST(PrivDrop, GivenTheDaemonDroppedToPaddock_ThenItHoldsNothingAndCannotTouchOtherProcesses) {
  if (::geteuid() != 0) GTEST_SKIP() << "the drop starts from root (CI runs as root)";
  struct passwd* pw = ::getpwnam("paddock");
  ASSERT_NE(pw, nullptr) << "the system user 'paddock' does not exist; ./dev.sh test creates it "
                            "(or: useradd --system --no-create-home --home-dir /nonexistent "
                            "--shell /usr/sbin/nologin paddock)";
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;

  // The victim: a process under another UID, like a worker.
  const pid_t victim = ::fork();
  ASSERT_GE(victim, 0);
  if (victim == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(kVictimUid, kVictimUid, kVictimUid) != 0) {
      ::_exit(1);
    }
    for (;;) ::pause();
  }
  const std::string victim_status = "/proc/" + std::to_string(victim) + "/status";
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (status_line(paddock::util::read_small_file(victim_status), "Uid").rfind("60990", 0) != 0 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  const auto [text, exited_0] = in_child([victim] { return drop_and_probe(victim); });
  const bool victim_alive = ::kill(victim, 0) == 0;
  ::kill(victim, SIGKILL);
  ::waitpid(victim, nullptr, 0);

  EXPECT_TRUE(exited_0) << text;
  const auto r = parse(text);
  ASSERT_EQ(r.count("error"), 0u) << r.at("error");
  const std::string u = std::to_string(uid), g = std::to_string(gid);
  EXPECT_EQ(r.at("Uid"), u + "\t" + u + "\t" + u + "\t" + u);
  EXPECT_EQ(r.at("Gid"), g + "\t" + g + "\t" + g + "\t" + g);
  EXPECT_EQ(r.at("Groups"), g);
  for (const char* cap : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
    EXPECT_EQ(r.at(cap), "0000000000000000") << cap;
  }
  EXPECT_EQ(r.at("NoNewPrivs"), "1");
  EXPECT_EQ(r.at("Seccomp"), "2");

  EXPECT_EQ(r.at("kill_init"), "EPERM");
  EXPECT_EQ(r.at("kill_victim"), "EPERM");
  EXPECT_TRUE(victim_alive);
  EXPECT_EQ(r.at("kill_self"), "ok");
  EXPECT_EQ(r.at("ptrace_victim"), "EPERM");
  EXPECT_EQ(r.at("victim_environ"), "EACCES");
  EXPECT_EQ(r.at("unshare_user"), "EPERM");
  EXPECT_EQ(r.at("clone_newuser"), "EPERM");
  EXPECT_EQ(r.at("clone3"), "ENOSYS");
  EXPECT_EQ(r.at("mount"), "EPERM");
  EXPECT_EQ(r.at("setuid0"), "EPERM");
  EXPECT_EQ(r.at("pidfd_open_self"), "ok");
  EXPECT_EQ(r.at("thread"), "ok");
  EXPECT_EQ(r.at("listen"), "ok");
}

TEST(PrivDrop, GivenAProcessWithTwoThreads_ThenTheDropIsRefusedAndNothingChanges) {
  if (::geteuid() != 0) GTEST_SKIP() << "the drop starts from root (CI runs as root)";
  const auto [text, exited_0] = in_child([] {
    std::atomic<bool> stop{false};
    std::thread t([&] {
      while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    const auto r = paddock::privsep::drop_privileges({"paddock", 60998, 60998});
    stop = true;
    t.join();
    return (r.ok() ? std::string("dropped") : r.error().message) + "|" + std::to_string(::getuid());
  });
  EXPECT_TRUE(exited_0);
  EXPECT_NE(text.find("single-threaded"), std::string::npos) << text;
  EXPECT_NE(text.find("|0"), std::string::npos) << text;
}
