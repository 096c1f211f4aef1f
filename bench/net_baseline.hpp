#pragma once
/// The network "private" side of the spawn benchmark: slirp4netns started by hand for a raw
/// bwrap sandbox (the raw baseline of the daemon's egress), and a probe of a sandbox's network
/// namespace that sees when slirp4netns serves it, the same way whoever started slirp4netns
/// (the daemon keeps the ready pipe of the slirp4netns it starts, so its readiness can only be
/// seen from outside).

#include <sys/types.h>

#include <chrono>
#include <string>

#include "paddock/util/fd.hpp"
#include "paddock/util/result.hpp"

namespace paddock::bench {

/// slirp4netns started without the daemon.
struct RawSlirp {
  pid_t pid = -1;
  util::UniqueFd ready;      ///< read end of its --ready-fd pipe
  util::UniqueFd error_out;  ///< read end of its stderr
};

/// Starts `path` for the network namespace of `target` (a process of the sandbox) by a plain
/// fork, setgroups(0), setresgid(gid), setresuid(uid), then, as that uid, open of
/// /proc/<target>/ns/net and ioctl(NS_GET_USERNS) for its owning user namespace (bwrap nests
/// the workload's own user namespace inside it, so `slirp4netns <pid> tap0` gets EPERM from
/// setns), and execve with the daemon's argv (net::slirp4netns_argv: --configure --mtu=65520
/// --disable-host-loopback --enable-seccomp --ready-fd=5 --userns-path=/proc/self/fd/4
/// --netns-type=path /proc/self/fd/3 tap0).
Result<RawSlirp> start_raw_slirp(const std::string& path, uid_t uid, gid_t gid, pid_t target);

/// Sees from outside when slirp4netns serves a sandbox's network namespace: a NETLINK_ROUTE
/// socket and a UDP socket made inside the namespace of a process (the calling thread enters
/// it for the two socket() calls and returns to its own; needs root). A namespace made by bwrap
/// --unshare-net has only `lo` until slirp4netns --configure sets up tap0 and adds its default
/// route via 10.0.2.2 (the gateway slirp emulates); slirp4netns then takes the tap device over,
/// installs its seccomp filter, writes its ready byte and starts its poll loop, which is the
/// first moment anything answers on tap0.
class EgressProbe {
 public:
  static Result<EgressProbe> open(pid_t pid);

  struct Times {
    std::chrono::steady_clock::time_point route;     ///< the default route was seen
    std::chrono::steady_clock::time_point answered;  ///< slirp4netns answered for 10.0.2.2
    std::chrono::steady_clock::time_point ready;     ///< the ready fd fired (when one was given)
  };
  /// Waits for the default route, then sends one datagram to 10.0.2.2:9 (which makes the
  /// kernel ask for 10.0.2.2's link address on tap0; slirp4netns drops the datagram itself:
  /// 10.0.2.2 stands for the host's loopback, refused by --disable-host-loopback) and waits
  /// until slirp4netns has answered that request (the neighbour entry turns REACHABLE).
  /// Nothing leaves the namespace and slirp4netns. With `ready_fd` (slirp4netns's --ready-fd
  /// pipe) and `stderr_fd` (its stderr), also until the ready byte has come, all in one loop
  /// so that each moment is taken when it happens; when slirp4netns exits first, the error says
  /// what it wrote. An error after `timeout`.
  Result<Times> wait(std::chrono::milliseconds timeout, int ready_fd = -1, int stderr_fd = -1);

 private:
  util::UniqueFd netlink_;
  util::UniqueFd udp_;
};

}  // namespace paddock::bench
