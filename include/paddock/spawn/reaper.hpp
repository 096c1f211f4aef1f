#pragma once
/// Reaping what bwrap leaves behind. bwrap may exit a moment before the sandbox's init process
/// (its child, pid 1 inside), which is then re-parented. Unless the daemon is a child subreaper,
/// that init lands on the host's pid 1 and lingers as a zombie owned by the worker UID until
/// pid 1 gets round to it, which keeps the UID from being reused.

#include <sys/types.h>

#include <cstddef>
#include <functional>

#include "paddock/util/result.hpp"

namespace paddock::spawn {

/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants of workers become the daemon's
/// children, so reap_orphans() can collect them. Call once at start-up.
Result<void> become_subreaper();

/// Reaps (waitid WNOHANG) every exited child of this process for which `is_managed` returns
/// false; children it claims (the bwrap processes the supervisor waits for through their
/// pidfds) are left alone. Reads /proc/self/task/*/children. Returns how many were reaped.
std::size_t reap_orphans(const std::function<bool(pid_t)>& is_managed);

}  // namespace paddock::spawn
