#pragma once
/// The daemon's end of a socket relay (spawn::NetHelper in relay mode): TCP sockets made inside
/// a worker's network namespace by a helper that runs as the worker, so the daemon reaches the
/// worker's own loopback without entering the namespace and without any capability.

#include <string>
#include <utility>
#include <vector>

#include "paddock/util/fd.hpp"
#include "paddock/util/result.hpp"

namespace paddock::net {

/// A connected AF_UNIX SOCK_SEQPACKET pair, close-on-exec: {the daemon's end, the helper's end}.
Result<std::pair<util::UniqueFd, util::UniqueFd>> relay_pair();

/// Asks the relay on `ctl` for one TCP socket (AF_INET) made inside the worker's namespace.
/// Waits at most one second for the answer (the relay answers in microseconds unless it is
/// gone); errors: "relay_gone" when it has exited, "timeout", or the errno of its socket().
Result<util::UniqueFd> relay_socket(int ctl);

/// The slirp4netns command line for a worker's network namespace as a network helper sees it
/// (/proc/self/fd/3 the namespace, /proc/self/fd/4 its owning user namespace, fd 5 the ready
/// pipe): configures tap0 (10.0.2.100/24, gateway 10.0.2.2, DNS 10.0.2.3), refuses connections
/// to the host's loopback (--disable-host-loopback) and runs under slirp4netns's own seccomp
/// filter (--enable-seccomp). Pure.
std::vector<std::string> slirp4netns_argv(const std::string& path);

/// The first line of what slirp4netns wrote on stderr that says why it failed, with a remedy
/// for the failures a host can fix (e.g. /dev/net/tun not usable by the worker's uid). Pure.
std::string explain_slirp4netns_failure(const std::string& stderr_text);

}  // namespace paddock::net
