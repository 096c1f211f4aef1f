#pragma once
/// A listening TCP socket on a loopback address, for tests that need something to answer a
/// connect (e.g. a stand-in cloud metadata endpoint for preflight).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace paddock::test {

/// A listening TCP socket on a loopback address (port 0: any free port).
class Listener {
 public:
  explicit Listener(const std::string& address, std::uint16_t port = 0) : address_(address) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool ok() const { return fd_ >= 0; }
  std::uint16_t port() const { return port_; }
  std::string endpoint() const { return address_ + ":" + std::to_string(port_); }

 private:
  std::string address_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace paddock::test
