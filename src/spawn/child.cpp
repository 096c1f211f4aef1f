#include "child.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace paddock::spawn::detail {

namespace {

[[noreturn]] void fail(const ChildSetup& s, Step step, int arg, int err) {
  ChildReport r{static_cast<int>(step), err, arg};
  // Nothing more can be done if this write fails; the parent then sees a bare exit 127.
  const ssize_t n = ::write(s.report_fd, &r, sizeof r);
  (void)n;
  ::_exit(127);
}

}  // namespace

void child_main(const ChildSetup& s) {
  // Wait until the parent has placed this process in the worker's cgroup (fallback path).
  if (s.go_fd >= 0) {
    ::close(s.go_write_fd);
    char go = 0;
    ssize_t n;
    do {
      n = ::read(s.go_fd, &go, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) ::_exit(127);
  }

  // Default dispositions for every signal (ignored ones survive execve otherwise) and an empty
  // mask (the parent blocked everything around clone). Errors for the few signals the C library
  // reserves are expected and harmless.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  }
  sigset_t empty;
  ::sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);

  // Own session: the daemon's terminal and process group signals do not reach the worker.
  if (::setsid() < 0) fail(s, Step::Setsid, 0, errno);

  // Park every source above the targets first so no dup2 clobbers a source still needed.
  int parked[kMaxChildFds];
  for (int i = 0; i < s.nfds; ++i) {
    parked[i] = ::fcntl(s.sources[i], F_DUPFD_CLOEXEC, s.first_free);
    if (parked[i] < 0) fail(s, Step::DupHigh, s.targets[i], errno);
  }
  int report_fd = s.report_fd;
  if (report_fd < s.first_free) {
    report_fd = ::fcntl(s.report_fd, F_DUPFD_CLOEXEC, s.first_free);
    if (report_fd < 0) fail(s, Step::DupHigh, s.report_fd, errno);
  }
  ChildSetup moved = s;  // plain copy on the stack: the report fd may have moved
  moved.report_fd = report_fd;
  for (int i = 0; i < s.nfds; ++i) {
    if (::dup2(parked[i], s.targets[i]) < 0) fail(moved, Step::Dup2, s.targets[i], errno);
  }
  // Every descriptor >= 3 is closed on exec, then the planned ones are kept open.
  if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    fail(moved, Step::CloseRange, 3, errno);
  }
  for (int i = 0; i < s.nfds; ++i) {
    if (s.targets[i] >= 3 && ::fcntl(s.targets[i], F_SETFD, 0) != 0) {
      fail(moved, Step::ClearCloexec, s.targets[i], errno);
    }
  }

  // The daemon may run with a low OOM score (the unit sets OOMScoreAdjust=-500 so the kernel
  // prefers a worker to the supervisor); workers must not inherit it. Raising the value needs
  // no privilege, so this cannot fail for lack of rights; a host without /proc keeps the
  // inherited value.
  if (const int oom = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC); oom >= 0) {
    const ssize_t n = ::write(oom, "0", 1);
    (void)n;
    ::close(oom);
  }

  // Drop to the worker's ids. Raw syscalls: the C library's wrappers would try to broadcast the
  // change to threads that only exist in the parent.
  if (::syscall(SYS_setgroups, 0, nullptr) != 0) fail(moved, Step::Setgroups, 0, errno);
  if (::syscall(SYS_setresgid, s.gid, s.gid, s.gid) != 0) {
    fail(moved, Step::Setresgid, static_cast<int>(s.gid), errno);
  }
  if (::syscall(SYS_setresuid, s.uid, s.uid, s.uid) != 0) {
    fail(moved, Step::Setresuid, static_cast<int>(s.uid), errno);
  }
  if (::syscall(SYS_setuid, 0) == 0) fail(moved, Step::SetuidCheck, 0, 0);
  // Read back what the kernel now holds: real, effective and saved ids all the worker's, and no
  // supplementary group.
  {
    uid_t ru = 0, eu = 0, su = 0;
    gid_t rg = 0, eg = 0, sg = 0;
    if (::getresuid(&ru, &eu, &su) != 0 || ::getresgid(&rg, &eg, &sg) != 0 || ru != s.uid ||
        eu != s.uid || su != s.uid || rg != s.gid || eg != s.gid || sg != s.gid ||
        ::getgroups(0, nullptr) != 0) {
      fail(moved, Step::IdCheck, 0, 0);
    }
  }

  // The uid change cleared both: bwrap must be able to write its uid_map (dumpable), and the
  // worker must die with the daemon (checked against the pid captured before clone).
  if (::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) fail(moved, Step::Dumpable, 0, errno);
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) fail(moved, Step::Pdeathsig, 0, errno);
  if (::getppid() != s.parent) ::_exit(127);

  for (int i = 0; i < s.nlimits; ++i) {
    if (::setrlimit(static_cast<__rlimit_resource_t>(s.resources[i]), &s.limits[i]) != 0) {
      fail(moved, Step::Setrlimit, s.resources[i], errno);
    }
  }

  if (s.hook != nullptr) {
    int step = 0;
    if (const int err = s.hook(s.hook_arg, moved.report_fd, &step); err != 0) {
      fail(moved, static_cast<Step>(step), 0, err);
    }
  }

  ::execve(s.path, s.argv, s.envp);
  fail(moved, Step::Execve, 0, errno);
}

const char* step_name(Step step) {
  switch (step) {
    case Step::Setsid:
      return "setsid";
    case Step::DupHigh:
      return "fcntl(F_DUPFD_CLOEXEC)";
    case Step::Dup2:
      return "dup2";
    case Step::CloseRange:
      return "close_range(3, ~0U, CLOSE_RANGE_CLOEXEC)";
    case Step::ClearCloexec:
      return "fcntl(F_SETFD, 0)";
    case Step::Setgroups:
      return "setgroups(0, NULL)";
    case Step::Setresgid:
      return "setresgid";
    case Step::Setresuid:
      return "setresuid";
    case Step::SetuidCheck:
      return "setuid(0) check";
    case Step::IdCheck:
      return "getresuid/getresgid/getgroups check";
    case Step::Dumpable:
      return "prctl(PR_SET_DUMPABLE, 1)";
    case Step::Pdeathsig:
      return "prctl(PR_SET_PDEATHSIG, SIGKILL)";
    case Step::Setrlimit:
      return "setrlimit";
    case Step::Execve:
      return "execve";
    case Step::OpenNetns:
      return "open(/proc/<workload>/ns/net)";
    case Step::NsGetUserns:
      return "ioctl(NS_GET_USERNS)";
    case Step::SetnsUser:
      return "setns(CLONE_NEWUSER)";
    case Step::SetnsNet:
      return "setns(CLONE_NEWNET)";
    case Step::ReportClose:
      return "close_range(4, ~0U, 0)";
  }
  return "?";
}

}  // namespace paddock::spawn::detail
