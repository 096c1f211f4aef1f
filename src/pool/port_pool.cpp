#include "paddock/pool/port_pool.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

namespace paddock::pool {

Result<util::UniqueFd> LoopbackBinder::bind(std::uint16_t port) {
  util::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return util::errno_error("socket", errno);
  const int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    return util::errno_error("setsockopt(SO_REUSEADDR)", errno);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string where = "127.0.0.1:" + std::to_string(port);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return util::errno_error("bind(" + where + ")", errno);
  }
  if (::listen(fd.get(), 1) != 0) {
    return util::errno_error("listen(" + where + ")", errno);
  }
  return fd;
}

PortPool::PortPool(std::uint16_t first, std::uint16_t last, PortBinder& binder)
    : first_(first), last_(last < first ? first : last), binder_(binder) {}

Result<PortLease> PortPool::acquire() {
  std::size_t taken_elsewhere = 0;
  for (std::uint32_t p = first_; p <= last_; ++p) {
    const auto port = static_cast<std::uint16_t>(p);
    if (leased_.count(port) != 0) continue;
    auto fd = binder_.bind(port);
    if (!fd) {
      ++taken_elsewhere;
      continue;
    }
    leased_.insert(port);
    return PortLease{port, std::move(fd.value())};
  }
  return make_error("port_exhausted", "no free port in " + std::to_string(first_) + "-" +
                                          std::to_string(last_) + " (" +
                                          std::to_string(leased_.size()) + " held by workers, " +
                                          std::to_string(taken_elsewhere) +
                                          " taken by other programs); stop a worker or widen "
                                          "[process] port_range_start/port_range_end");
}

void PortPool::release(std::uint16_t port) { leased_.erase(port); }

}  // namespace paddock::pool
