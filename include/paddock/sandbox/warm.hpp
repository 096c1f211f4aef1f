#pragma once
/// Warm sandboxes ([pool] warm): a sandbox started ahead of any run, whose workload is the
/// paddock-warm helper (copied in at kHelperProgramPath) waiting on its stdin. A run it serves
/// sends the helper its command and environment (encode_warm_request); the helper execs them in
/// place, so the run's process is the sandbox's workload as in a cold start. The run's stdin
/// follows on the same pipe.
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

/// Whether `run`, the plan of a run for a parked sandbox's allocation with the parked command
/// and environment, starts the same sandbox as `parked`: every field equal (argv, descriptors
/// and their contents, UID/GID, rlimits, cwd, limits, mounts, network). Pure.
bool same_sandbox(const SandboxPlan& parked, const SandboxPlan& run);

}  // namespace paddock::sandbox
