#pragma once
/// The environment a worker may be given: names checked against a profile's allowlist.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "paddock/util/result.hpp"

namespace paddock::sandbox {

/// Names the daemon sets itself; a request can never set them.
inline const std::vector<std::string>& reserved_env_names() {
  static const std::vector<std::string> names{"HOME", "PORT"};
  return names;
}

/// True for [A-Za-z_][A-Za-z0-9_]* of at most 128 bytes.
bool is_valid_env_name(std::string_view name);

/// True when `name` matches an allowlist entry: equal to it, or, for an entry ending in '*',
/// starting with the part before the '*'.
bool env_allowed(std::string_view name, const std::vector<std::string>& allow);

/// Checks a request's environment: valid names, no reserved name, every name allowed by
/// `allow`, values without NUL and at most 32 KiB. Errors (code "env_not_allowed" or
/// "invalid_request", field "env.<NAME>") name the variable and the profile.
Result<void> check_request_env(const std::map<std::string, std::string>& env,
                               const std::vector<std::string>& allow,
                               std::string_view profile_name);

}  // namespace paddock::sandbox
