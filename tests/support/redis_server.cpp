#include "support/redis_server.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "paddock/preflight/net.hpp"
#include "paddock/util/fd.hpp"

namespace paddock::test {

namespace {

/// A loopback port that was free a moment ago.
std::uint16_t free_loopback_port() {
  util::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return 0;
  }
  return ntohs(a.sin_port);
}

}  // namespace

bool RedisServer::installed() { return ::access("/usr/bin/redis-server", X_OK) == 0; }

RedisServer::RedisServer(bool with_password) {
  using namespace std::chrono_literals;
  port_ = free_loopback_port();
  pid_ = ::fork();
  if (pid_ == 0) {
    const int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    const std::string port = std::to_string(port_);
    if (with_password) {
      ::execl("/usr/bin/redis-server", "redis-server", "--port", port.c_str(), "--bind",
              "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--requirepass",
              "preflight-test-pw", static_cast<char*>(nullptr));
    } else {
      ::execl("/usr/bin/redis-server", "redis-server", "--port", port.c_str(), "--bind",
              "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
              static_cast<char*>(nullptr));
    }
    ::_exit(127);
  }
  // Ready when it accepts connections.
  for (int i = 0; i < 200; ++i) {
    if (preflight::tcp_connect("127.0.0.1", port_, 200ms).reach == preflight::Reach::Reachable) {
      ready_ = true;
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
}

RedisServer::~RedisServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

}  // namespace paddock::test
