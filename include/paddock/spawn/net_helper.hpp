#pragma once
/// Network helpers of a worker whose sandbox has a network namespace of its own (network
/// "private" or "none"): processes that run as the worker's uid/gid, inside its cgroup leaf, and
/// reach that namespace the unprivileged way (no capability of the daemon's is used). bwrap
/// nests the workload's user namespace inside the one that owns the network namespace, so the
/// helper opens /proc/<target>/ns/net and asks it for its owner (ioctl NS_GET_USERNS).

#include <sys/types.h>

#include <string>
#include <vector>

#include "paddock/util/fd.hpp"
#include "paddock/util/result.hpp"

namespace paddock::spawn {

/// In an exec'd helper: the worker's network namespace (/proc/self/fd/3).
inline constexpr int kHelperNetnsFd = 3;
/// In an exec'd helper: the user namespace that owns it (/proc/self/fd/4).
inline constexpr int kHelperUsernsFd = 4;
/// In the relay: its end of the socket pair (the same number as kHelperNetnsFd; the relay
/// closes its namespace descriptors once inside).
inline constexpr int kHelperRelayFd = 3;
/// `NetHelper::ready_fd` as the helper sees it.
inline constexpr int kHelperReadyFd = 5;

struct NetHelper {
  uid_t uid = 0;  ///< the worker's; never 0
  gid_t gid = 0;
  pid_t target = -1;   ///< a process inside the worker's network namespace
  int cgroup_fd = -1;  ///< the worker's leaf (borrowed), or -1
  /// Exec mode: the program and its argv (argv may name /proc/self/fd/3 and /proc/self/fd/4).
  std::string path;
  std::vector<std::string> argv;
  /// Relay mode (when valid; path/argv unused): the helper enters the namespace (setns to the
  /// owning user namespace, then to the network namespace) and, for each byte read on this
  /// socket ('4' or '6'), sends back a TCP socket made inside it by SCM_RIGHTS with a 4-byte
  /// errno (0 on success). A socket keeps the namespace it was made in, so the daemon can
  /// connect() it to the worker's loopback without entering anything. Ends at EOF.
  util::UniqueFd relay;
  util::UniqueFd stderr_fd;  ///< the helper's stderr (default /dev/null)
  util::UniqueFd ready_fd;   ///< passed as fd 5 (e.g. slirp4netns --ready-fd=5)
};

/// A started helper; the caller reaps it (or the daemon's orphan reaper does).
struct SpawnedHelper {
  pid_t pid = -1;
  util::UniqueFd pidfd;
};

/// Starts a network helper (see NetHelper). Returns once it has exec'd (exec mode) or entered
/// the namespace (relay mode); a failure names the step, e.g. "setns(CLONE_NEWNET): EPERM".
Result<SpawnedHelper> spawn_net_helper(NetHelper helper);

}  // namespace paddock::spawn
