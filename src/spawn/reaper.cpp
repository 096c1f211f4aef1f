#include "paddock/spawn/reaper.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <string>
#include <vector>

#include "paddock/util/fd.hpp"

namespace paddock::spawn {

Result<void> become_subreaper() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    return make_error(util::errno_name(errno),
                      util::syscall_error("prctl(PR_SET_CHILD_SUBREAPER, 1)", errno));
  }
  return {};
}

std::size_t reap_orphans(const std::function<bool(pid_t)>& is_managed) {
  std::vector<pid_t> children;
  DIR* tasks = ::opendir("/proc/self/task");
  if (tasks == nullptr) return 0;
  while (const dirent* t = ::readdir(tasks)) {
    if (t->d_name[0] < '0' || t->d_name[0] > '9') continue;
    const std::string path = std::string("/proc/self/task/") + t->d_name + "/children";
    util::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) continue;
    std::string list;
    char buf[512];
    ssize_t n;
    while ((n = ::read(fd.get(), buf, sizeof buf)) > 0)
      list.append(buf, static_cast<std::size_t>(n));
    const char* p = list.data();
    const char* end = list.data() + list.size();
    while (p < end) {
      pid_t pid = 0;
      auto [next, ec] = std::from_chars(p, end, pid);
      if (ec == std::errc{}) children.push_back(pid);
      p = next + 1;
    }
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

Result<void> kill_uid(uid_t uid) {
  if (uid == 0) return make_error("invalid_argument", "kill_uid(0): refusing to kill as root");
  // vfork: the child borrows the daemon's memory until it exits, so it makes raw syscalls only
  // (glibc's setresuid would try to change the credentials of every thread of the process).
  const pid_t pid = ::vfork();
  if (pid == 0) {
    if (::syscall(SYS_setresuid, uid, uid, uid) != 0) ::syscall(SYS_exit, 2);
    ::syscall(SYS_kill, -1, SIGKILL);
    ::syscall(SYS_exit, 0);
  }
  if (pid < 0) return make_error(util::errno_name(errno), util::syscall_error("vfork", errno));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return make_error(util::errno_name(errno), util::syscall_error("waitpid", errno));
    }
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return make_error("EPERM", "setresuid(" + std::to_string(uid) + ") failed in the kill helper");
  }
  return {};
}

}  // namespace paddock::spawn
