#pragma once
/// TCP reachability and the unauthenticated Redis PING, as the daemon itself sees them.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "paddock/util/result.hpp"

namespace paddock::preflight {

/// How a TCP connect attempt ended.
enum class Reach {
  Reachable,    ///< the handshake completed
  Refused,      ///< ECONNREFUSED (nothing listening, or a REJECT rule)
  Timeout,      ///< no answer within the timeout (a DROP rule, or nothing routes there)
  Unreachable,  ///< EHOSTUNREACH, ENETUNREACH, EACCES, EPERM and other errors
};

std::string_view to_string(Reach r);

struct ConnectOutcome {
  Reach reach = Reach::Unreachable;
  std::string detail;   ///< "ECONNREFUSED", "timeout", "getaddrinfo(x): ..." etc.
  std::string address;  ///< the numeric address tried last ("" when it did not resolve)
};

/// Resolves `host` (numeric or a name) to numeric addresses, IPv4 first. Error code "resolve".
Result<std::vector<std::string>> resolve_host(const std::string& host);

/// Connects to host:port from this process with a non-blocking connect bounded by `timeout`
/// (each resolved address in turn until one is reachable). The connection is closed at once.
ConnectOutcome tcp_connect(const std::string& host, std::uint16_t port,
                           std::chrono::milliseconds timeout);

/// A redis:// or rediss:// URL: redis://[user:pass@]host:port[/db]. Credentials are dropped.
struct RedisUrl {
  bool tls = false;
  std::string host;
  std::uint16_t port = 6379;
};

/// Parses a Redis URL; the port defaults to 6379, IPv6 hosts are bracketed ("[::1]:6379").
/// Error code "invalid_url" with a message naming the URL (without its credentials).
Result<RedisUrl> parse_redis_url(std::string_view url);

/// What an unauthenticated PING was answered with.
enum class RedisAnswer {
  Pong,    ///< "+PONG": no authentication needed
  NoAuth,  ///< "-NOAUTH ...": authentication required
  Other,   ///< anything else (another protocol, "-ERR ...", "-DENIED ...")
};

/// Classifies the first line of the reply (with or without the trailing CRLF).
RedisAnswer classify_redis_reply(std::string_view first_line);

/// The outcome of one probe of a Redis server.
struct RedisProbe {
  ConnectOutcome connect;  ///< reach != Reachable: the server was not reached
  std::string first_line;  ///< the first reply line (CRLF stripped, at most 200 bytes)
  std::string error;       ///< a send/receive failure after connecting ("" when none)
};

/// Connects, sends "*1\r\n$4\r\nPING\r\n" and reads the first reply line, all within `timeout`.
RedisProbe redis_ping(const std::string& host, std::uint16_t port,
                      std::chrono::milliseconds timeout);

}  // namespace paddock::preflight
