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

/// Sends SIGKILL to every process running as `uid`: a short-lived child drops to that uid and
/// calls kill(-1, SIGKILL), which reaches exactly the processes that uid may signal (its own).
/// Each worker has a UID of its own, so this stops a worker completely even when part of its
/// process tree has left bwrap's (for instance a sandbox init that missed bwrap's
/// --die-with-parent because bwrap was killed while it was still starting). Refuses uid 0.
/// Waits for the helper and reports how it failed.
Result<void> kill_uid(uid_t uid);

/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants of workers become the daemon's
/// children, so reap_orphans() can collect them. Call once at start-up.
Result<void> become_subreaper();

/// Reaps (waitid WNOHANG) every exited child of this process for which `is_managed` returns
/// false; children it claims (the bwrap processes the supervisor waits for through their
/// pidfds) are left alone. Reads /proc/self/task/*/children. Returns how many were reaped.
std::size_t reap_orphans(const std::function<bool(pid_t)>& is_managed);

/// Sends `sig` to the one child of `parent` (a warm sandbox's helper and the run's command it
/// forked), through a pidfd taken while that child was still listed as `parent`'s. False when
/// `parent` has no child or several, or the signal could not be sent.
bool signal_only_child(pid_t parent, int sig);

}  // namespace paddock::spawn
