#pragma once
/// The daemon: wires config, supervisor, API listeners and signals around one io_context.

#include <optional>

#include "paddock/config/config.hpp"
#include "paddock/daemon/handoff.hpp"

namespace paddock::daemon {

/// Runs until SIGTERM/SIGINT; returns the process exit code. With `handoff` this image takes
/// over from the one before it in this process (an upgrade, see handoff.hpp): no privilege to
/// drop, no spawner to start, no listener to bind; the workers are adopted as they were.
/// SIGUSR2 or POST /v1/admin/upgrade execs the installed binary the same way.
int run(const config::Config& cfg, const std::string& config_path,
        std::optional<HandoffState> handoff = std::nullopt);

}  // namespace paddock::daemon
