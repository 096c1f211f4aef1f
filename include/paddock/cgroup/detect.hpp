#pragma once
/// Where the cgroup v2 hierarchy is mounted and which cgroup the daemon is in, read from
/// /proc/self/mountinfo and /proc/self/cgroup. The parsing is pure so tests feed it fixture text.

#include <string>
#include <string_view>

#include "paddock/util/result.hpp"

namespace paddock::cgroup {

/// How the host mounts cgroups.
enum class Layout {
  Unified,  ///< only cgroup2 (usually at /sys/fs/cgroup)
  Hybrid,   ///< v1 controller hierarchies plus cgroup2 (usually at /sys/fs/cgroup/unified)
  Legacy,   ///< v1 hierarchies only; no cgroup2 mount
  None,     ///< no cgroup filesystem mounted at all
};

/// "unified" | "hybrid" | "legacy" | "none".
std::string_view to_string(Layout layout);

/// What detection found.
struct Detection {
  Layout layout = Layout::None;
  /// The cgroup2 mount point ("" when there is none).
  std::string mount_point;
  /// The process's cgroup v2 path from the "0::<path>" line of /proc/<pid>/cgroup, relative to
  /// the mount's root ("" when there is no such line).
  std::string own_path;

  /// Whether a cgroup v2 directory for the process was found.
  bool has_v2() const { return !mount_point.empty() && !own_path.empty(); }
  /// mount_point joined with own_path ("/sys/fs/cgroup" + "/system.slice/x.service"); "" when
  /// !has_v2().
  std::string own_dir() const;
};

/// Parses mountinfo text (the format of /proc/self/mountinfo: "... mountpoint ... - fstype ...")
/// and /proc/self/cgroup text. When several cgroup2 mounts exist, /sys/fs/cgroup is preferred,
/// then /sys/fs/cgroup/unified, then the first one listed. A mount whose root is not "/" (a
/// bind-mounted sub-tree) is used only when own_path lies under that root; own_path is then
/// made relative to it. Octal escapes in mount points (\040 for a space) are decoded.
Detection parse_detection(std::string_view mountinfo, std::string_view proc_cgroup);

/// Reads <proc_root>/self/mountinfo and <proc_root>/self/cgroup and parses them. Error code
/// "io" when mountinfo cannot be read.
Result<Detection> detect(const std::string& proc_root = "/proc");

}  // namespace paddock::cgroup
