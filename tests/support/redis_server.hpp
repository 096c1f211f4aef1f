#pragma once
/// RedisServer: a real redis-server on 127.0.0.1 (a free port), without persistence, killed and
/// reaped on destruction. ready() tells whether it accepted a connection within 10 s.

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace paddock::test {

class RedisServer {
 public:
  /// Starts /usr/bin/redis-server; with_password sets requirepass "preflight-test-pw".
  explicit RedisServer(bool with_password = false);
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  bool ready() const { return ready_; }
  std::uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  /// Whether /usr/bin/redis-server is installed.
  static bool installed();

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  bool ready_ = false;
};

}  // namespace paddock::test
