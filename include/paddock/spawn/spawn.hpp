#pragma once
/// spawn: the only code in paddock that forks. It starts bwrap for a SandboxPlan as the plan's
/// uid/gid with only the planned descriptors open, and hands back the pieces the supervisor needs.

#include <sys/types.h>

#include <string_view>

#include "paddock/sandbox/plan.hpp"
#include "paddock/util/fd.hpp"
#include "paddock/util/result.hpp"

namespace paddock::spawn {

/// What the spawner needs beyond the plan.
struct SpawnInputs {
  /// The compiled seccomp program (struct sock_filter array); required when the plan has a
  /// Seccomp descriptor. Copied into a fresh memfd per spawn.
  std::string_view seccomp_bpf;
  /// true: stdin is a pipe whose write end is returned; false: stdin is /dev/null.
  bool stdin_pipe = false;
  /// The port reservation (PortPool lease): closed in the parent as soon as the child exists,
  /// and in the child by close-on-exec when it execs bwrap, so the port is free for the
  /// workload. May be empty.
  util::UniqueFd port_listener;
  /// An open directory of the cgroup v2 leaf the worker must live in, or -1 for none. The child
  /// is created inside it (clone3 with CLONE_INTO_CGROUP); where the kernel refuses that, the
  /// child waits on a pipe until the parent has written its pid to the leaf's cgroup.procs, so
  /// bwrap never runs outside the leaf. Borrowed: the caller keeps it open.
  int cgroup_fd = -1;
  /// Place the child through cgroup.procs even where CLONE_INTO_CGROUP would work (tests of the
  /// fallback path).
  bool cgroup_via_procs = false;
};

/// How a spawned child was placed in its cgroup.
enum class CgroupPlacement {
  None,       ///< no cgroup_fd was given
  Clone3,     ///< created inside the leaf (clone3 CLONE_INTO_CGROUP)
  ProcsFile,  ///< moved by writing its pid to cgroup.procs before it went on
};

/// A started bwrap. All descriptors are close-on-exec in the daemon.
struct Spawned {
  pid_t pid = -1;             ///< bwrap's pid (the daemon's direct child)
  util::UniqueFd pidfd;       ///< pidfd of `pid`, for poll/waitid(P_PIDFD)/pidfd_send_signal
  util::UniqueFd stdin_fd;    ///< write end when SpawnInputs::stdin_pipe, else empty
  util::UniqueFd stdout_fd;   ///< read end of the workload's stdout
  util::UniqueFd stderr_fd;   ///< read end of the workload's stderr (bwrap's own errors too)
  util::UniqueFd status_fd;   ///< read end of bwrap's --json-status-fd
  util::UniqueFd control_fd;  ///< the spawner's end of a FdRole::WarmControl socket pair
  CgroupPlacement cgroup_placement = CgroupPlacement::None;
};

/// Starts bwrap as described by `plan`. Everything is allocated before fork; the child only
/// makes async-signal-safe calls: it resets signal dispositions and the mask, moves the planned
/// descriptors into place (every other descriptor is closed on exec), drops to plan.gid/uid
/// with no supplementary groups (and checks that setuid(0) then fails), sets PR_SET_DUMPABLE
/// and PR_SET_PDEATHSIG=SIGKILL (exiting at once if the daemon is already gone), applies the
/// rlimits and execs bwrap with plan.envp only. A failure before exec is reported as an Error
/// naming the step, its argument and errno, e.g. "setresuid(60012): EPERM (...)".
///
/// PR_SET_PDEATHSIG fires when the *thread* that called spawn() exits, so call it from a thread
/// that lives as long as the daemon (the io_context thread). The caller reaps the child
/// (waitid on the pidfd); nothing here waits for it except after a failed exec.
Result<Spawned> spawn(const sandbox::SandboxPlan& plan, SpawnInputs inputs);

/// A pipe, both ends close-on-exec: {read end, write end}. Fails with code "spawn_failed" and a
/// message naming pipe2 and the errno.
Result<std::pair<util::UniqueFd, util::UniqueFd>> make_pipe();

/// Creates the per-worker writable directory of a plan (plan.data_dir), mode 0700, owned by the
/// worker's uid:gid. Does nothing when the plan has none. The parent (data_root) must exist.
Result<void> prepare_data_dir(const sandbox::SandboxPlan& plan);

/// Deletes a worker's data directory and everything in it, never following a symlink. Each
/// directory is made the daemon's (chown, then mode 0700) before it is entered, so whatever
/// owners and modes the worker left behind, CAP_CHOWN is all it takes (the shipped unit has no
/// CAP_DAC_OVERRIDE or CAP_FOWNER). A missing directory is not an error.
Result<void> remove_data_dir(const std::string& path);

}  // namespace paddock::spawn
