#pragma once
/// Sockets inside another process's network namespace, for reaching a worker that has no
/// network of its own (network = "none": only its private loopback exists).

#include <sys/types.h>

#include "paddock/util/fd.hpp"
#include "paddock/util/result.hpp"

namespace paddock::net {

/// Opens /proc/<pid>/ns/net (O_RDONLY|O_CLOEXEC). Holding it keeps the namespace alive.
Result<util::UniqueFd> open_netns(pid_t pid);

/// Creates a socket(domain, type | SOCK_CLOEXEC, protocol) that belongs to the network namespace
/// open as `netns_fd`. A short-lived helper thread enters the namespace with
/// setns(CLONE_NEWNET), which changes only that thread, creates the socket and ends; the calling
/// thread (the io thread) never leaves the host's namespace. The socket keeps its namespace:
/// connect() on it reaches the worker's loopback from any thread. Needs CAP_SYS_ADMIN.
Result<util::UniqueFd> socket_in_netns(int netns_fd, int domain, int type, int protocol = 0);

/// Whether this process holds CAP_SYS_ADMIN in its effective set (the `CapEff:` line of
/// /proc/self/status), which socket_in_netns needs. The shipped systemd unit drops it.
bool can_enter_netns();

}  // namespace paddock::net
