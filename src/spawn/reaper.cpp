#include "paddock/spawn/reaper.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "paddock/util/fd.hpp"
#include "pid_list.hpp"

namespace paddock::spawn {

namespace {

/// The child of kill_uid: raw syscalls only (it shares the caller's memory and may be the child
/// of a multi-threaded process, so it must not take locks or touch errno-free library state).
int kill_as(void* arg) {
  const auto uid = *static_cast<const uid_t*>(arg);
  if (::syscall(SYS_setgroups, 0, nullptr) != 0 ||
      ::syscall(SYS_setresgid, 65534, 65534, 65534) != 0 ||
      ::syscall(SYS_setresuid, uid, uid, uid) != 0) {
    ::syscall(SYS_exit, 2);
  }
  // ESRCH: nothing left to kill, which is success too.
  const long r = ::syscall(SYS_kill, -1, SIGKILL);
  ::syscall(SYS_exit, r == 0 || errno == ESRCH ? 0 : 3);
  return 0;
}

}  // namespace

Result<void> kill_uid(uid_t uid) {
  if (uid == 0) return make_error("invalid_request", "kill_uid refuses uid 0");
  // CLONE_VM|CLONE_VFORK: no copy of the caller's page tables (a fork of the spawner costs a
  // millisecond or more on every worker's end); the caller waits until the child has exited.
  alignas(16) static thread_local char stack[64 * 1024];
  uid_t target = uid;
  const pid_t pid =
      ::clone(kill_as, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &target);
  if (pid < 0) return util::errno_error("clone", errno);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return util::errno_error("waitpid", errno);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return make_error("kill_failed", "could not signal the processes of uid " +
                                         std::to_string(uid) + " (helper status " +
                                         std::to_string(status) + ")");
  }
  return {};
}

Result<void> become_subreaper() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    return util::errno_error("prctl(PR_SET_CHILD_SUBREAPER, 1)", errno);
  }
  return {};
}

std::size_t reap_orphans(const std::function<bool(pid_t)>& is_managed) {
  std::vector<pid_t> children;
  DIR* tasks = ::opendir("/proc/self/task");
  if (tasks == nullptr) return 0;
  while (const dirent* t = ::readdir(tasks)) {
    if (t->d_name[0] < '0' || t->d_name[0] > '9') continue;
    const std::string list =
        util::read_small_file(std::string("/proc/self/task/") + t->d_name + "/children");
    for (pid_t pid : detail::parse_pid_list(list)) children.push_back(pid);
  }
  ::closedir(tasks);
  std::size_t reaped = 0;
  for (pid_t pid : children) {
    if (is_managed(pid)) continue;
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG) == 0 &&
        info.si_pid == pid) {
      ++reaped;
    }
  }
  return reaped;
}

bool signal_only_child(pid_t parent, int sig) {
  const std::string list =
      "/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) + "/children";
  const auto kids = detail::parse_pid_list(util::read_small_file(list));
  if (kids.size() != 1) return false;
  util::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, kids[0], 0)));
  if (!pidfd) return false;
  // Still the same child now that the pidfd pins it (a pid reused meanwhile is not).
  const auto again = detail::parse_pid_list(util::read_small_file(list));
  if (again.size() != 1 || again[0] != kids[0]) return false;
  return ::syscall(SYS_pidfd_send_signal, pidfd.get(), sig, nullptr, 0) == 0;
}

}  // namespace paddock::spawn
