#pragma once
/// Warm sandboxes ([pool] warm): a sandbox started ahead of any run, whose workload is the
/// paddock-warm helper (copied in at kHelperProgramPath) waiting on a control socket that bwrap
/// passes it at Allocation::warm_control_fd. A run it serves sends the helper, in one message,
/// its command and environment (encode_warm_request) with the run's own stdout, stderr and
/// (when it has one) stdin pipe attached (SCM_RIGHTS). The helper forks; the child puts those
/// on 0, 1 and 2 (/dev/null for a missing stdin), closes everything else and execs the command;
/// the helper forwards signals to it, waits for it, and sends its exit back on the socket
/// (encode_warm_exit) before it exits the same way. So the run's end is known when its command
/// exits, not after bwrap has torn the sandbox down, and only the command holds the run's
/// pipes: bwrap's own copies of 0-2 are the parked sandbox's, not the run's.
///
/// A parked sandbox serves a run only when the run, planned for that sandbox, would have been
/// started by exactly the same bwrap invocation apart from its command and environment
/// (same_sandbox): the same mounts, namespaces, limits, UID, seccomp descriptors.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "paddock/sandbox/plan.hpp"

namespace paddock::sandbox {

/// The first bytes of a request to the helper; a little-endian u32 payload length follows.
inline constexpr std::string_view kWarmMagic = "PDKW";
/// The largest payload the helper reads (it refuses more).
inline constexpr std::size_t kMaxWarmPayload = 1U << 20;
/// The helper's report when the command has exited: kWarmExitMagic and the exit code as bwrap
/// would give it (the command's status, or 128 + the signal that ended it), a u32 little-endian.
inline constexpr std::string_view kWarmExitMagic = "PDKX";
inline constexpr std::size_t kWarmExitBytes = 8;

/// The bytes the helper reads: kWarmMagic, the payload's length (u32, little-endian), then the
/// payload: the argument count in decimal and NUL, each argument and NUL, the count of
/// environment entries in decimal and NUL, each "NAME=value" and NUL. Pure.
std::string encode_warm_request(const std::vector<std::string>& command,
                                const std::map<std::string, std::string>& env);

/// The inverse of encode_warm_request (what the helper does, for tests). Pure.
struct WarmRequest {
  std::vector<std::string> command;
  std::vector<std::string> env;  ///< "NAME=value"
};
Result<WarmRequest> decode_warm_request(std::string_view bytes);

std::string encode_warm_exit(int exit_code);
/// The exit code in a complete report; an error for anything else. Pure.
Result<int> decode_warm_exit(std::string_view bytes);

/// Whether `run`, the plan of a run for a parked sandbox's allocation with the parked command
/// and environment, starts the same sandbox as `parked`: every field equal (argv, descriptors
/// and their contents, UID/GID, rlimits, cwd, limits, mounts, network). Pure.
bool same_sandbox(const SandboxPlan& parked, const SandboxPlan& run);

}  // namespace paddock::sandbox
