#pragma once
/// Looking at processes from the outside through /proc, for tests and benchmarks that check what
/// a real daemon leaves behind: its memory, its descriptors, its children, and every process that
/// runs under a worker UID.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace paddock::test {

/// One process as /proc/<pid>/stat and /proc/<pid>/status describe it.
struct ProcInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';  ///< R, S, D, Z, ...
  uid_t uid = 0;     ///< real uid
  std::string comm;
};

/// A "<field>:  <n> kB" line of /proc/<pid>/status ("VmRSS", "VmHWM") in KiB; nullopt when the
/// process or the field does not exist.
std::optional<long> proc_status_kb(pid_t pid, const std::string& field);

/// Entries of /proc/<pid>/fd; -1 when the directory cannot be read.
int count_fds(pid_t pid);

/// pid, ppid, state, real uid and comm of one process; nullopt when it is gone.
std::optional<ProcInfo> proc_info(pid_t pid);

/// Every process whose parent is `pid` (a scan of /proc, so re-parented processes count).
std::vector<ProcInfo> children_of(pid_t pid);

/// Every process on the host whose real uid lies in [first, last].
std::vector<ProcInfo> processes_with_uids(uid_t first, uid_t last);

/// Those of `procs` that are not zombies (a zombie runs nothing; it only waits to be reaped).
std::vector<ProcInfo> not_zombies(const std::vector<ProcInfo>& procs);

/// "pid(comm) state uid" per process, for failure messages.
std::string describe(const std::vector<ProcInfo>& procs);

/// The value of one series in Prometheus text, e.g. "paddock_free_uids" or
/// "paddock_workers{state=\"exited\"}"; nullopt when the series is absent.
std::optional<double> metric_value(const std::string& text, const std::string& series);

/// Calls `condition` every `every` until it is true (returns true) or `timeout` passes (false).
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every = std::chrono::milliseconds(20));

}  // namespace paddock::test
