#pragma once
/// The spawner: the one privileged process. paddockd forks and execs itself as
/// `paddockd spawner --fd N --config PATH` before the daemon proper drops its privileges; the
/// spawner then serves the daemon's requests (protocol.hpp) on that socket until the daemon
/// closes it, and does nothing else.
///
/// It owns everything that decides identity and policy: the worker UID and port pools, the
/// sandbox profiles and make_plan, the seccomp filter, cgroup leaves, kill-by-UID, the data
/// directories and the preflight probes. A request names a worker id, a spec in the API's own
/// JSON shape and limits; the spawner parses that with the API's strict parser, checks it
/// against its own config and state (the worker holds a lease from this spawner, has no live
/// process, the profile exists, the limits are within [limits], the bundle resolves under a
/// bundle root or in the bundle store) and builds the bwrap command line itself.

#include <string>

namespace paddock::privsep {

/// Serves the daemon on `sock` (a SOCK_SEQPACKET socket) with the config at `config_path`.
/// Returns the process exit code: 0 when the daemon closed the socket, 1 when the spawner
/// could not start (config, seccomp filter or profiles unusable).
int run_spawner(int sock, const std::string& config_path);

}  // namespace paddock::privsep
