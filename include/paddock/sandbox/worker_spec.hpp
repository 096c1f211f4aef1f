#pragma once
/// WorkerSpec: what a client asks for when it starts a worker (the API and the supervisor fill it).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "paddock/config/config.hpp"
#include "paddock/util/result.hpp"

namespace paddock::sandbox {

/// When the supervisor starts a worker again after it exited.
enum class RestartPolicy { Never, OnFailure, Always };

/// The worker's network. Private: a network namespace of its own (own loopback, one interface)
/// with egress through slirp4netns running as the worker; None: its own namespace with only a
/// loopback (no egress); Host: the host's network, loopback and all (only when the config sets
/// allow_host_network).
enum class NetworkMode { Host, None, Private };

/// Limits a request may set; unset ones take the [limits] value of the config.
struct LimitsRequest {
  std::optional<std::uint32_t> memory_mb;
  std::optional<double> cpus;
  std::optional<std::uint32_t> pids;
  std::optional<std::uint32_t> nofile;
  std::optional<std::uint32_t> tmp_mb;
  std::optional<std::uint32_t> wall_seconds;
};

/// Limits after defaulting; every field is set.
struct Limits {
  std::uint32_t memory_mb = 0;
  double cpus = 0;
  std::uint32_t pids = 0;
  std::uint32_t nofile = 0;
  std::uint32_t tmp_mb = 0;
  std::uint32_t wall_seconds = 0;  ///< 0: none
  bool operator==(const Limits&) const = default;
};

struct WorkerSpec {
  std::string name;                  ///< for people; unique among live workers (name_taken)
  std::string profile;               ///< sandbox profile name; "" means [process] default_profile
  std::vector<std::string> command;  ///< empty: the profile's default command
  std::map<std::string, std::string> env;  ///< checked against the profile's env allowlist
  std::string bundle;                      ///< host directory under a bundle root; "" for none
  bool port = false;                       ///< allocate a port and pass it as PORT
  RestartPolicy restart = RestartPolicy::Never;
  LimitsRequest limits;
  std::uint32_t idle_timeout_seconds = 0;  ///< 0: none
  std::uint32_t max_lifetime_seconds = 0;  ///< 0: none
  std::map<std::string, std::string> labels;
  /// Unset: [process] default_network.
  std::optional<NetworkMode> network;
};

/// "never" | "on-failure" | "always"; anything else is an error naming the field "restart".
Result<RestartPolicy> parse_restart_policy(std::string_view text);
std::string_view to_string(RestartPolicy policy);

/// "private" | "none" | "host"; anything else is an error naming the field "network".
Result<NetworkMode> parse_network_mode(std::string_view text);
std::string_view to_string(NetworkMode mode);

/// Fills unset limits from `defaults`. A requested value above the configured one is an error
/// (code "limit_too_high", field "limits.<name>"): the [limits] section is the ceiling.
Result<Limits> resolve_limits(const LimitsRequest& request, const config::LimitsConfig& defaults);

}  // namespace paddock::sandbox
