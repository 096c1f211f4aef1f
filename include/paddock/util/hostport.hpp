#pragma once
/// "host:port" and "[v6]:port" strings as used by [server] listen and [preflight] addresses.

#include <cstdint>
#include <string>
#include <string_view>

#include "paddock/util/result.hpp"

namespace paddock::util {

struct HostPort {
  std::string host;  ///< without brackets for IPv6
  std::uint16_t port = 0;
  bool operator==(const HostPort&) const = default;
};

/// Parses "127.0.0.1:8080", "[::1]:8080" or "localhost:80"; the port must be 1..65535.
Result<HostPort> parse_host_port(std::string_view text);

/// Formats back, bracketing IPv6 literals.
std::string to_string(const HostPort& hp);

}  // namespace paddock::util
