#pragma once
/// The daemon's start-up decision about cgroups, per [process] cgroup.

#include <sys/types.h>

#include <memory>
#include <string>

#include "paddock/cgroup/manager.hpp"

namespace paddock::cgroup {

/// For mode "auto": detects the cgroup2 mount and the daemon's own cgroup (under `proc_root`),
/// checks that it is writable and sets the sub-tree up (Manager::setup with this process's
/// pid). Logs what it found and did. Returns nullptr (workers then get rlimits only) for mode
/// "off", when there is no cgroup2 mount or the own cgroup is not writable, or when setup fails;
/// every one of those is logged with the reason.
/// `also`: another process of the service (the daemon, when the spawner sets up) that moves
/// into <own>/daemon first, so <own> itself holds no process.
std::shared_ptr<Manager> start_for_daemon(const std::string& mode,
                                          const std::string& proc_root = "/proc", pid_t also = 0);

}  // namespace paddock::cgroup
