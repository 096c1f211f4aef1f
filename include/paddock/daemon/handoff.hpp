#pragma once
/// An upgrade in place: the running paddockd execs a (newer) paddockd binary in its own process,
/// so systemd's main PID, the spawner (its child) and every worker stay as they are. What the
/// new image needs travels in a sealed memfd whose number it gets as `--handoff-fd N`: the
/// socket to the spawner, the API's listening sockets (their backlogs keep every connection
/// made meanwhile), and per worker what the spawner does not keep (state, restart counts, log
/// line numbers and half-written lines, a stop under way). The workers' trees, pipes and port
/// listeners come from the spawner (privsep::Client::adopt), as after a crash.

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "paddock/api/server.hpp"
#include "paddock/net/port_bridge.hpp"
#include "paddock/supervisor/supervisor.hpp"
#include "paddock/util/fd.hpp"
#include "paddock/util/result.hpp"

namespace paddock::daemon {

struct HandoffState {
  /// Upgrades this process has gone through (the new image's is this + 1).
  std::uint64_t generation = 0;
  /// When the first image of this process started (unix ms), for uptime.
  std::int64_t started_at_ms = 0;
  pid_t spawner_pid = -1;
  int spawner_fd = -1;
  /// The socket connected to $NOTIFY_SOCKET (-1: none): the new image may not be allowed to
  /// connect it again once privileges are gone.
  int notify_fd = -1;
  /// The API's listening sockets.
  std::vector<api::HttpServer::Listening> listeners;
  /// Connections bridged into workers' network namespaces, with their ports.
  std::vector<std::pair<std::uint16_t, net::PortBridge::HandedConnection>> connections;
  /// The id of the last event the image before published (GET /v1/events goes on after it).
  std::uint64_t last_event_id = 0;
  /// Supervisor::handoff_records() of the image before.
  std::vector<supervisor::AdoptedWorker> workers;
  /// The installed binary's directory (InstalledBinary), kept for the next upgrade.
  int binary_dir_fd = -1;
  std::string binary_name;
  std::string binary_shown;
  /// The last preflight report (the API's PreflightReport), served until the next run.
  nlohmann::json preflight = nlohmann::json::object();
};

nlohmann::json handoff_to_json(const HandoffState& s);
/// Every field checked; an entry that is not readable is an error naming it.
Result<HandoffState> handoff_from_json(const nlohmann::json& j);

/// Reads the state from the sealed memfd `fd` (and closes it).
Result<HandoffState> read_handoff(int fd);

/// The installed binary as the unprivileged daemon reaches it: its directory opened (O_PATH)
/// while the daemon was root, so that directories above it it may not search (a checkout
/// under /root is 0700) do not matter, and its file name.
struct InstalledBinary {
  util::UniqueFd dir;
  std::string name;
  std::string shown;  ///< the path, for messages
  /// "/proc/self/fd/<dir>/<name>": what is checked and exec'd (whatever file is there then).
  std::string exec_path() const;
};
/// Opens installed_binary_path()'s directory. Call while root, before the drop.
Result<InstalledBinary> open_installed_binary();

/// `<exe> check-config --config <config_path>`, run and waited for (bounded): whether the
/// binary about to be exec'd runs here and accepts the config. The error's message holds what
/// it printed.
Result<void> check_next_image(const InstalledBinary& exe, const std::string& config_path);

/// Execs `exe --config <config_path> --handoff-fd N` with `state` in a sealed memfd N; the
/// descriptors the state names stay open across the exec (everything else is close-on-exec).
/// Returns only when the exec failed.
Error exec_next_image(const InstalledBinary& exe, const std::string& config_path,
                      const HandoffState& state);

/// The path of the running binary as installed (readlink /proc/self/exe without a
/// " (deleted)" suffix, which a package upgrade leaves): what an upgrade execs.
std::string installed_binary_path();

}  // namespace paddock::daemon
