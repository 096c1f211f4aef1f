#include "paddock/sandbox/worker_spec.hpp"

namespace paddock::sandbox {

Result<RestartPolicy> parse_restart_policy(std::string_view text) {
  if (text == "never") return RestartPolicy::Never;
  if (text == "on-failure") return RestartPolicy::OnFailure;
  if (text == "always") return RestartPolicy::Always;
  return make_error("invalid_request",
                    "restart '" + std::string(text) + "' must be one of never, on-failure, always",
                    "restart");
}

std::string_view to_string(RestartPolicy policy) {
  switch (policy) {
    case RestartPolicy::Never:
      return "never";
    case RestartPolicy::OnFailure:
      return "on-failure";
    case RestartPolicy::Always:
      return "always";
  }
  return "never";
}

Result<NetworkMode> parse_network_mode(std::string_view text) {
  if (text == "host") return NetworkMode::Host;
  if (text == "none") return NetworkMode::None;
  if (text == "private") return NetworkMode::Private;
  return make_error("invalid_request",
                    "network '" + std::string(text) + "' must be \"private\", \"none\" or \"host\"",
                    "network");
}

std::string_view to_string(NetworkMode mode) {
  switch (mode) {
    case NetworkMode::None:
      return "none";
    case NetworkMode::Private:
      return "private";
    case NetworkMode::Host:
      break;
  }
  return "host";
}

namespace {

template <typename T>
Result<T> pick(const std::optional<T>& requested, T ceiling, const char* name, T minimum) {
  if (!requested) return ceiling;
  const std::string field = std::string("limits.") + name;
  if (*requested < minimum) {
    return make_error("invalid_request",
                      field + " = " + std::to_string(*requested) + " is below the minimum " +
                          std::to_string(minimum),
                      field);
  }
  if (*requested > ceiling) {
    return make_error("limit_too_high",
                      field + " = " + std::to_string(*requested) +
                          " exceeds the configured maximum " + std::to_string(ceiling) +
                          " ([limits] " + name +
                          "); ask for at most that or raise it in the config",
                      field);
  }
  return *requested;
}

}  // namespace

Result<Limits> resolve_limits(const LimitsRequest& request, const config::LimitsConfig& defaults) {
  Limits out;
  auto memory = pick<std::uint32_t>(request.memory_mb, defaults.memory_mb, "memory_mb", 1);
  if (!memory) return memory.error();
  out.memory_mb = *memory;
  auto cpus = pick<double>(request.cpus, defaults.cpus, "cpus", 0.01);
  if (!cpus) return cpus.error();
  out.cpus = *cpus;
  auto pids = pick<std::uint32_t>(request.pids, defaults.pids, "pids", 1);
  if (!pids) return pids.error();
  out.pids = *pids;
  auto nofile = pick<std::uint32_t>(request.nofile, defaults.nofile, "nofile", 16);
  if (!nofile) return nofile.error();
  out.nofile = *nofile;
  auto tmp = pick<std::uint32_t>(request.tmp_mb, defaults.tmp_mb, "tmp_mb", 1);
  if (!tmp) return tmp.error();
  out.tmp_mb = *tmp;
  // wall_seconds: 0 in the config means "no limit", so any request value is allowed then;
  // otherwise 0 (which would mean "no limit") is below the minimum.
  if (request.wall_seconds && defaults.wall_seconds == 0) {
    out.wall_seconds = *request.wall_seconds;
  } else {
    auto wall = pick<std::uint32_t>(request.wall_seconds, defaults.wall_seconds, "wall_seconds", 1);
    if (!wall) return wall.error();
    out.wall_seconds = *wall;
  }
  return out;
}

}  // namespace paddock::sandbox
