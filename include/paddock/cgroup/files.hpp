#pragma once
/// Parsing and formatting of cgroup v2 interface files: controller lists, flat-keyed files
/// (cpu.stat, memory.events) and the limit values written from a worker's limits. Pure.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "paddock/sandbox/worker_spec.hpp"

namespace paddock::cgroup {

/// The controllers paddock uses.
struct Controllers {
  bool memory = false;
  bool cpu = false;
  bool pids = false;
  bool any() const { return memory || cpu || pids; }
  bool operator==(const Controllers&) const = default;
};

/// Parses cgroup.controllers ("cpuset cpu io memory pids") or cgroup.subtree_control text
/// (the same, or "+memory +cpu" as written); unknown names are ignored.
Controllers parse_controllers(std::string_view text);

/// "+memory +cpu +pids" for the controllers set in `c` (in that order); "" when none.
std::string enable_line(const Controllers& c);

/// The value of `key` in a flat-keyed file ("usage_usec 1234\nuser_usec ..."); nullopt when the
/// key is missing or its value is not an unsigned integer.
std::optional<std::uint64_t> flat_keyed_value(std::string_view text, std::string_view key);

/// A single unsigned number such as memory.current ("1234\n"); nullopt for anything else.
std::optional<std::uint64_t> single_value(std::string_view text);

/// Extra processes a worker's cgroup holds besides the workload's own: bwrap and the sandbox's
/// init (the same allowance RLIMIT_NPROC gets).
inline constexpr std::uint32_t kSandboxProcesses = 2;

/// memory.max for limits.memory_mb: the byte count as decimal text.
std::string memory_max_value(const sandbox::Limits& limits);
/// cpu.max for limits.cpus: "<quota> 100000" with quota = cpus * 100000 microseconds per
/// 100 ms period (at least 1000, the kernel's minimum).
std::string cpu_max_value(const sandbox::Limits& limits);
/// pids.max for limits.pids: pids + kSandboxProcesses.
std::string pids_max_value(const sandbox::Limits& limits);

/// What a worker's cgroup reports now; a field is nullopt when its file is missing (its
/// controller is not enabled) or unreadable.
struct Usage {
  std::optional<std::uint64_t> memory_bytes;  ///< memory.current
  std::optional<std::uint64_t> cpu_usec;      ///< cpu.stat usage_usec
  std::optional<std::uint64_t> pids;          ///< pids.current
  std::optional<std::uint64_t> oom_kills;     ///< memory.events oom_kill
  bool operator==(const Usage&) const = default;
};

}  // namespace paddock::cgroup
