#pragma once
/// Manager: the daemon's delegated cgroup v2 sub-tree. Layout under the daemon's own cgroup
/// <own>:
///
///   <own>/daemon             the daemon itself (cgroup v2 lets only leaves hold processes once
///                            controllers are enabled below a cgroup)
///   <own>/workers            the parent of every worker; operators match it with
///                            `iptables -m cgroup --path`
///   <own>/workers/<id>       one leaf per running worker, with its limits written
///
/// Every path is built from the directory given to setup(), so tests run against a plain
/// directory laid out like cgroupfs (a fixture). Not thread-safe; used from the io thread.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "paddock/cgroup/files.hpp"
#include "paddock/sandbox/worker_spec.hpp"
#include "paddock/util/fd.hpp"
#include "paddock/util/result.hpp"

namespace paddock::cgroup {

/// A worker's cgroup as created.
struct Leaf {
  std::string path;         ///< <own>/workers/<id>
  util::UniqueFd dir;       ///< the directory, open (O_DIRECTORY) for clone3 CLONE_INTO_CGROUP
  Controllers controllers;  ///< the controllers limiting it (whose limits were written)
};

/// What setup() did, for the start-up log line.
struct SetupReport {
  bool moved_self = false;  ///< the daemon now lives in <own>/daemon
  Controllers available;    ///< listed in <own>/cgroup.controllers
  Controllers enabled;      ///< enabled for worker leaves
  bool has_kill = false;    ///< cgroup.kill exists (Linux 5.14+)
  std::string warning;      ///< why some controller could not be enabled ("" when all were)
};

class Manager {
 public:
  /// Whether <own_dir> can be managed: it exists and its cgroup.procs, cgroup.subtree_control
  /// and the directory itself are writable by this process. Error code "not_writable" (or
  /// "not_found") with a message that says how to delegate it (systemd Delegate=yes).
  static Result<void> check_writable(const std::string& own_dir);

  /// Prepares the sub-tree: creates <own>/daemon and moves `self` there (writes its pid to
  /// <own>/daemon/cgroup.procs; skipped when self <= 0), enables memory, cpu and pids (those
  /// listed in <own>/cgroup.controllers) in <own>/cgroup.subtree_control, creates
  /// <own>/workers and enables the same there. A controller the kernel refuses is left out (see
  /// SetupReport::warning); failing to create the directories or to move self is an error.
  static Result<std::unique_ptr<Manager>> setup(const std::string& own_dir, pid_t self,
                                                SetupReport* report = nullptr);

  /// <own>/workers.
  const std::string& workers_dir() const { return workers_; }
  /// Controllers enabled for worker leaves.
  const Controllers& controllers() const { return enabled_; }
  /// Whether leaves have cgroup.kill.
  bool has_kill() const { return has_kill_; }

  /// <own>/workers/<worker_id>.
  std::string leaf_path(const std::string& worker_id) const;

  /// Creates the leaf (one left by the worker's previous tree is emptied, bounded, removed and
  /// made anew: never reused, see manager.cpp) and writes memory.max and
  /// memory.swap.max = 0 (memory), cpu.max (cpu) and pids.max (pids) for the enabled
  /// controllers. A limit that cannot be written is an error naming the file (the leaf is
  /// removed again); memory.swap.max is skipped where swap accounting is off.
  /// `worker_id` must be a plain name ([A-Za-z0-9_-]).
  Result<Leaf> create_leaf(const std::string& worker_id, const sandbox::Limits& limits);

  /// Writes "1" to the leaf's cgroup.kill: SIGKILL to every process in it at once. Error code
  /// "unsupported" when the kernel has no cgroup.kill.
  Result<void> kill(const std::string& worker_id);

  /// The processes in the leaf (its cgroup.procs). Error when the file cannot be read.
  Result<std::vector<pid_t>> procs(const std::string& worker_id) const;

  /// Removes the leaf. Error code "busy" while processes are still in it (EBUSY: retry a moment
  /// later); a missing leaf is success. On a plain directory (a fixture), files in the leaf are
  /// removed first.
  Result<void> remove_leaf(const std::string& worker_id);

  /// Reads memory.current, cpu.stat, pids.current and memory.events of the leaf.
  Usage usage(const std::string& worker_id) const;
  /// memory.events' oom_kill of the leaf alone (nullopt without the memory controller).
  std::optional<std::uint64_t> oom_kills(const std::string& worker_id) const;

  /// Removes leaves under <own>/workers that hold no process (left by an earlier run that was
  /// killed). Populated ones are left alone (the kernel refuses to remove them). Returns how
  /// many were removed.
  std::size_t remove_empty_leaves();

 private:
  Manager(std::string own, Controllers enabled, bool has_kill);
  std::string own_;
  std::string workers_;
  Controllers enabled_;
  bool has_kill_ = false;
};

/// What the cgroup directory `leaf` reports now (each file read on its own; a missing one
/// leaves its field unset, as do the controllers `on` does not name). The files are
/// world-readable, so the unprivileged daemon reads the leaves the spawner created.
Usage read_usage(const std::string& leaf, const Controllers& on);

}  // namespace paddock::cgroup
