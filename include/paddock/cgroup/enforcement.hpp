#pragma once
/// Which mechanism enforces each of a worker's limits, as the worker object reports it.

#include <optional>
#include <string>

#include "paddock/cgroup/files.hpp"

namespace paddock::cgroup {

/// Each field is "cgroup", "rlimit", "tmpfs", "supervisor" or "none".
struct Enforcement {
  std::string memory = "none";  ///< cgroup memory.max, else RLIMIT_AS when the profile sets one
  std::string cpus = "none";    ///< cgroup cpu.max only (RLIMIT_CPU bounds CPU time, not rate)
  std::string pids = "rlimit";  ///< cgroup pids.max, else RLIMIT_NPROC (always set)
  std::string nofile = "rlimit";
  std::string tmp = "tmpfs";        ///< bwrap --size on /tmp (and RLIMIT_FSIZE per file)
  std::string wall = "supervisor";  ///< the supervisor's timers
  bool operator==(const Enforcement&) const = default;
};

/// The enforcement for a worker whose cgroup has `leaf` controllers (nullopt: no cgroup) and
/// whose profile sets RLIMIT_AS (`rlimit_as`).
Enforcement enforcement_for(const std::optional<Controllers>& leaf, bool rlimit_as);

}  // namespace paddock::cgroup
