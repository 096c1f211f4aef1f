#pragma once
/// The daemon: wires config, supervisor, API listeners and signals around one io_context.

#include "paddock/config/config.hpp"

namespace paddock::daemon {

/// Runs until SIGTERM/SIGINT; returns the process exit code.
int run(const config::Config& cfg, const std::string& config_path);

}  // namespace paddock::daemon
