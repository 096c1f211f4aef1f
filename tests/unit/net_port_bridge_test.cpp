// PortBridge's hand-over (an upgrade freezes it) against real loopback sockets: the worker's
// side is 127.0.0.1:<port>, the host's side 127.0.0.2:<port>, both in this process's namespace.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>

#include "paddock/net/port_bridge.hpp"

namespace paddock::net {
namespace {

using namespace std::chrono_literals;

util::UniqueFd tcp_socket() {
  return util::UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
}

sockaddr_in address(const char* ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

bool bind_listen(int fd, const char* ip, std::uint16_t port, int backlog) {
  const auto a = address(ip, port);
  return ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0 &&
         ::listen(fd, backlog) == 0;
}

std::uint16_t bound_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

bool connect_to(int fd, const char* ip, std::uint16_t port) {
  const auto a = address(ip, port);
  return ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
}

/// Runs `ioc` in slices until `done()` or `limit` passes.
bool run_until(boost::asio::io_context& ioc, const std::function<bool()>& done,
               std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    ioc.restart();
    ioc.run_for(10ms);
  }
  return true;
}

std::string read_some(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 2000) != 1) return "(nothing within 2 s)";
  char buf[64];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n < 0) return std::string("(error: ") + std::strerror(errno) + ")";
  return std::string(buf, static_cast<std::size_t>(n));
}

// An upgrade froze the bridge while a client's connection was still being connected inside the
// worker's namespace: the client used to get a reset (its request unread). Now the connect
// finishes, the connection parks, changes hands and carries the request and the answer.
TEST(PortBridge, GivenAConnectionStillConnectingInside_WhenFrozen_ThenItIsHandedOverIntact) {
  // The worker's listener, its accept queue full (backlog 0 holds one), so a connect to it
  // stays pending: the kernel drops the SYN and the client retries a second later.
  auto inner_listener = tcp_socket();
  ASSERT_TRUE(bind_listen(inner_listener.get(), "127.0.0.1", 0, 0)) << std::strerror(errno);
  const std::uint16_t port = bound_port(inner_listener.get());
  auto filler = tcp_socket();
  ASSERT_TRUE(connect_to(filler.get(), "127.0.0.1", port)) << std::strerror(errno);

  auto outer_listener = tcp_socket();
  if (!bind_listen(outer_listener.get(), "127.0.0.2", port, 16)) {
    GTEST_SKIP() << "127.0.0.2:" << port << " is taken: " << std::strerror(errno);
  }
  boost::asio::io_context ioc;
  int inner_sockets = 0;
  auto bridge = PortBridge::start(
      ioc, std::move(outer_listener),
      [&]() -> Result<util::UniqueFd> {
        ++inner_sockets;
        return tcp_socket();
      },
      port, "w-test", 1000);

  auto client = tcp_socket();
  ASSERT_TRUE(connect_to(client.get(), "127.0.0.2", port)) << std::strerror(errno);
  ASSERT_EQ(::send(client.get(), "ping", 4, 0), 4);
  ASSERT_TRUE(run_until(
      ioc, [&] { return inner_sockets == 1; }, 2s))
      << "never accepted";
  ioc.restart();
  ioc.run_for(50ms);
  ASSERT_FALSE(bridge->quiet()) << "the inner connect should still be pending";

  bridge->freeze();
  ioc.restart();
  ioc.run_for(100ms);
  ASSERT_EQ(bridge->connections(), 1u) << "the freeze closed a connection still connecting";

  // The worker takes the filler; the retried SYN gets in and the connection parks.
  const util::UniqueFd filler_accepted(::accept4(inner_listener.get(), nullptr, nullptr, 0));
  ASSERT_TRUE(filler_accepted);
  ASSERT_TRUE(run_until(
      ioc, [&] { return bridge->quiet(); }, 5s))
      << "never connected inside";

  auto handed = bridge->release_connections();
  ASSERT_EQ(handed.size(), 1u);
  EXPECT_EQ(bridge->connections(), 0u);
  // The next image adopts it (here the same bridge): bytes flow both ways.
  bridge->adopt_connection(handed[0]);
  const util::UniqueFd worker(::accept4(inner_listener.get(), nullptr, nullptr, 0));
  ASSERT_TRUE(worker);
  std::string got;
  ASSERT_TRUE(run_until(
      ioc,
      [&] {
        pollfd p{worker.get(), POLLIN, 0};
        if (::poll(&p, 1, 0) == 1) got = read_some(worker.get());
        return !got.empty();
      },
      3s));
  EXPECT_EQ(got, "ping");
  ASSERT_EQ(::send(worker.get(), "pong", 4, 0), 4);
  std::string answer;
  ASSERT_TRUE(run_until(
      ioc,
      [&] {
        pollfd p{client.get(), POLLIN, 0};
        if (::poll(&p, 1, 0) == 1) answer = read_some(client.get());
        return !answer.empty();
      },
      3s));
  EXPECT_EQ(answer, "pong");
}

}  // namespace
}  // namespace paddock::net
