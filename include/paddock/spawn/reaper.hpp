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

/// Sends SIGKILL to every process whose real or saved UID is `uid`: kill(-1, SIGKILL) from a
/// short-lived vfork child that has switched to `uid` (so no pid can be reused in between).
/// A worker UID belongs to one worker at a time, so once that worker's bwrap has exited,
/// anything still running under its UID is a leftover of the sandbox: e.g. a sandbox init that
/// missed bwrap's --die-with-parent because bwrap was killed before it had set that up. Refuses
/// uid 0. Errors name the failed call.
Result<void> kill_uid(uid_t uid);

}  // namespace paddock::spawn
