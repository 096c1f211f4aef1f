#include "paddock/util/hostport.hpp"

#include <charconv>

namespace paddock::util {

Result<HostPort> parse_host_port(std::string_view text) {
  const std::string shown(text);
  HostPort hp;
  std::string_view port_part;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return make_error("invalid_address", "'" + shown + "' is not of the form [ipv6]:port");
    }
    hp.host = std::string(text.substr(1, close - 1));
    port_part = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      return make_error("invalid_address", "'" + shown + "' is not of the form host:port");
    }
    hp.host = std::string(text.substr(0, colon));
    if (hp.host.find(':') != std::string::npos) {
      return make_error("invalid_address",
                        "'" + shown + "': put IPv6 addresses in brackets, e.g. [::1]:8080");
    }
    port_part = text.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [ptr, ec] =
      std::from_chars(port_part.data(), port_part.data() + port_part.size(), value);
  if (ec != std::errc{} || ptr != port_part.data() + port_part.size() || value == 0 ||
      value > 65535 || hp.host.empty()) {
    return make_error("invalid_address",
                      "'" + shown + "' needs a host and a port between 1 and 65535");
  }
  hp.port = static_cast<std::uint16_t>(value);
  return hp;
}

std::string to_string(const HostPort& hp) {
  if (hp.host.find(':') != std::string::npos) return "[" + hp.host + "]:" + std::to_string(hp.port);
  return hp.host + ":" + std::to_string(hp.port);
}

}  // namespace paddock::util
