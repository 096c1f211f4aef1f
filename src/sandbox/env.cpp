#include "paddock/sandbox/env.hpp"

#include <algorithm>

namespace paddock::sandbox {

bool is_valid_env_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!alpha(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

bool env_allowed(std::string_view name, const std::vector<std::string>& allow) {
  for (const auto& entry : allow) {
    if (!entry.empty() && entry.back() == '*') {
      const std::string_view prefix(entry.data(), entry.size() - 1);
      if (name.substr(0, prefix.size()) == prefix) return true;
    } else if (name == entry) {
      return true;
    }
  }
  return false;
}

Result<void> check_request_env(const std::map<std::string, std::string>& env,
                               const std::vector<std::string>& allow,
                               std::string_view profile_name) {
  const std::string profile(profile_name);
  for (const auto& [name, value] : env) {
    const std::string field = "env." + name;
    if (!is_valid_env_name(name)) {
      return make_error(
          "invalid_request",
          "environment variable name '" + name +
              "' is not valid; use letters, digits and '_', not starting with a digit",
          field);
    }
    const auto& reserved = reserved_env_names();
    if (std::find(reserved.begin(), reserved.end(), name) != reserved.end()) {
      return make_error(
          "env_not_allowed",
          "environment variable " + name + " is set by the daemon and cannot be given in a request",
          field);
    }
    if (!env_allowed(name, allow)) {
      std::string list;
      for (const auto& a : allow) list += (list.empty() ? "" : ", ") + a;
      return make_error("env_not_allowed",
                        "environment variable " + name + " is not allowed by sandbox profile '" +
                            profile + "'; allowed: " + (list.empty() ? "(none)" : list) +
                            ". Add it to env_allow in the profile or leave it out",
                        field);
    }
    if (value.find('\0') != std::string::npos) {
      return make_error("invalid_request", "environment variable " + name + " contains a NUL byte",
                        field);
    }
    if (value.size() > 32 * 1024) {
      return make_error("invalid_request",
                        "environment variable " + name + " is longer than 32 KiB", field);
    }
  }
  return {};
}

}  // namespace paddock::sandbox
