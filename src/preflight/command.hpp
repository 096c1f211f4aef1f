#pragma once
// Internal: running a short host command (bwrap --version) with a deadline.

#include <chrono>
#include <string>
#include <vector>

#include "paddock/util/result.hpp"

namespace paddock::preflight::detail {

struct CommandOutput {
  int exit_status = -1;  ///< exit code, or 128+signal
  std::string out;       ///< stdout and stderr together, at most 64 KiB
};

/// posix_spawn(argv) with an empty environment and stdin /dev/null; kills it at the deadline
/// (error code "timeout"). Failure to start: error naming posix_spawn and errno.
Result<CommandOutput> run_command(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout);

}  // namespace paddock::preflight::detail
