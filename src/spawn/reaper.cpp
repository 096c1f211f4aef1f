#include "paddock/spawn/reaper.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "paddock/util/fd.hpp"
#include "pid_list.hpp"

namespace paddock::spawn {

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

}  // namespace paddock::spawn
