#pragma once
// Internal: the part of spawn that runs in the child between clone and execve. Everything it
// touches is prepared by the parent; it only makes async-signal-safe calls and raw syscalls.

#include <sys/resource.h>
#include <sys/types.h>

namespace paddock::spawn::detail {

/// Steps the child reports when one fails (sent with errno through the report pipe).
enum class Step : int {
  Setsid = 1,
  DupHigh,
  Dup2,
  CloseRange,
  ClearCloexec,
  Setgroups,
  Setresgid,
  Setresuid,
  SetuidCheck,
  IdCheck,
  Dumpable,
  Pdeathsig,
  Setrlimit,
  Execve,
  OpenNetns,    ///< open(/proc/<pid>/ns/net) as the worker's uid (network helpers)
  NsGetUserns,  ///< ioctl(NS_GET_USERNS) on it
  SetnsUser,    ///< setns(CLONE_NEWUSER) into the namespace's owner
  SetnsNet,     ///< setns(CLONE_NEWNET)
  ReportClose,  ///< closing the report pipe (a helper that does not exec)
};

/// What the child writes to the report pipe when a step fails.
struct ChildReport {
  int step = 0;
  int err = 0;
  int arg = 0;  ///< the target fd or RLIMIT_* the step was about
};

inline constexpr int kMaxChildFds = 16;
inline constexpr int kMaxRlimits = 8;

/// Everything the child needs, in plain memory prepared before clone.
struct ChildSetup {
  const char* path = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  int sources[kMaxChildFds] = {};  ///< descriptors in the parent (close-on-exec there)
  int targets[kMaxChildFds] = {};  ///< where each must appear in bwrap (0, 1, 2, 3, ...)
  int nfds = 0;
  int first_free = 3;  ///< above every target: where sources are parked before dup2
  uid_t uid = 0;
  gid_t gid = 0;
  int resources[kMaxRlimits] = {};
  struct rlimit limits[kMaxRlimits] = {};
  int nlimits = 0;
  pid_t parent = 0;
  int report_fd = -1;
  /// When >= 0: read end of the placement pipe; the child waits for one byte on it (the parent
  /// has moved it into its cgroup) before doing anything else, and exits on EOF.
  int go_fd = -1;
  int go_write_fd = -1;  ///< the parent's end, closed in the child first
  /// When set: runs after the uid drop and the rlimits, instead of going straight to execve;
  /// `report_fd` is where failures go. Returns 0 to go on to execve, or an errno with `*step`
  /// set; a hook that never returns (a helper that does not exec) closes `report_fd` itself
  /// once it is set up. Async-signal-safe code only.
  int (*hook)(const void* arg, int report_fd, int* step) = nullptr;
  const void* hook_arg = nullptr;
  /// The hook returns to execve and only makes system calls about the child's own descriptors
  /// (no setns: a user namespace cannot be entered by a process that shares its memory), so the
  /// child may borrow the caller's memory until its execve, as without a hook.
  bool hook_execs = false;
};

/// Runs in the child; never returns (execve or _exit(127) after reporting).
[[noreturn]] void child_main(const ChildSetup& s);

/// "setresuid(60012)" etc. for a report.
const char* step_name(Step step);

}  // namespace paddock::spawn::detail
