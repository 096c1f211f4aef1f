#include "paddock/cgroup/startup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "paddock/cgroup/detect.hpp"
#include "paddock/log/log.hpp"

namespace paddock::cgroup {

namespace {

/// systemd marks the cgroups it delegates with this extended attribute (v249 and newer).
bool marked_delegated(const std::string& dir) {
  for (const char* name : {"trusted.delegate", "user.delegate"}) {
    if (::getxattr(dir.c_str(), name, nullptr, 0) >= 0) return true;
  }
  return false;
}

std::string names(const Controllers& c) {
  const std::string line = enable_line(c);
  std::string out;
  for (char ch : line) {
    if (ch != '+') out += ch;
  }
  return out.empty() ? "none" : out;
}

}  // namespace

std::shared_ptr<Manager> start_for_daemon(const std::string& mode, const std::string& proc_root,
                                          pid_t also) {
  if (mode == "off") {
    log::info("cgroups off ([process] cgroup = \"off\"); worker limits are rlimits only");
    return nullptr;
  }
  auto found = detect(proc_root);
  if (!found) {
    log::warn("cgroups not used: " + found.error().message);
    return nullptr;
  }
  if (!found->has_v2()) {
    log::warn(
        "cgroups not used: no cgroup2 mount holds this process; worker limits are "
        "rlimits only",
        {{"layout", std::string(to_string(found->layout))}});
    return nullptr;
  }
  const std::string own = found->own_dir();
  if (auto w = Manager::check_writable(own); !w) {
    log::warn("cgroups not used: " + w.error().message,
              {{"layout", std::string(to_string(found->layout))}, {"cgroup", own}});
    return nullptr;
  }
  const bool delegated = marked_delegated(own);
  if (!delegated && found->own_path != "/") {
    log::warn(
        "the daemon's cgroup is writable but not marked as delegated; without "
        "Delegate=yes systemd may rearrange it",
        {{"cgroup", own}});
  }
  if (also > 0) {
    (void)::mkdir((own + "/daemon").c_str(), 0755);
    const std::string pid = std::to_string(also);
    const int fd = ::open((own + "/daemon/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, pid.data(), pid.size()) != static_cast<ssize_t>(pid.size())) {
      log::warn("cannot move the daemon into its cgroup", {{"cgroup", own + "/daemon"}});
    }
    if (fd >= 0) ::close(fd);
  }
  SetupReport rep;
  auto m = Manager::setup(own, ::getpid(), &rep);
  if (!m) {
    log::error("cgroups not used: setting up the daemon's cgroup failed: " + m.error().message,
               {{"cgroup", own}});
    return nullptr;
  }
  if (!rep.warning.empty()) log::warn("some cgroup controllers stay off: " + rep.warning);
  // Leaves of an earlier run that was killed; a shared root cgroup may hold other daemons'.
  std::size_t stale = 0;
  if (found->own_path != "/") stale = (*m)->remove_empty_leaves();
  log::info("cgroups in use", {{"layout", std::string(to_string(found->layout))},
                               {"workers", (*m)->workers_dir()},
                               {"controllers", names(rep.enabled)},
                               {"available", names(rep.available)},
                               {"cgroup_kill", rep.has_kill},
                               {"delegated", delegated},
                               {"stale_leaves_removed", stale}});
  return std::shared_ptr<Manager>(std::move(*m));
}

}  // namespace paddock::cgroup
