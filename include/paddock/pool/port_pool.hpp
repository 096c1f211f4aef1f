#pragma once
/// PortPool: hands out the lowest port of the configured range that is free on 127.0.0.1. The
/// daemon keeps the port bound (and listening, so nobody else can take it) until just before the
/// worker execs; then the listener is closed and the number passed as PORT.
/// Not thread-safe (used from the io_context).

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "paddock/util/fd.hpp"
#include "paddock/util/result.hpp"

namespace paddock::pool {

/// A reserved port: the number and the socket holding it.
struct PortLease {
  std::uint16_t port = 0;
  util::UniqueFd listener;
};

/// Binds a port (faked in unit tests).
class PortBinder {
 public:
  virtual ~PortBinder() = default;
  /// A socket bound to 127.0.0.1:port and listening, or an error (EADDRINUSE when taken).
  virtual Result<util::UniqueFd> bind(std::uint16_t port) = 0;
};

/// The real binder: socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC), SO_REUSEADDR (so TIME_WAIT
/// leftovers of a previous worker do not block), bind 127.0.0.1:port, listen.
class LoopbackBinder final : public PortBinder {
 public:
  Result<util::UniqueFd> bind(std::uint16_t port) override;
};

/// Where the supervisor takes ports from (see UidAllocator).
class PortAllocator {
 public:
  virtual ~PortAllocator() = default;
  /// A port for `owner`, with the socket that holds it bound.
  virtual Result<PortLease> lease(const std::string& owner) = 0;
  virtual void give_back(std::uint16_t port) = 0;
  virtual std::size_t leased() const = 0;
};

class PortPool final : public PortAllocator {
 public:
  /// The range [first, last] (inclusive, 1..65535); `binder` must outlive the pool.
  PortPool(std::uint16_t first, std::uint16_t last, PortBinder& binder);

  /// The lowest port that is not leased and can be bound; ports taken by someone else are
  /// skipped. Exhaustion is an error with code "port_exhausted".
  Result<PortLease> acquire();

  /// The port is free for the next acquire(). Ports not leased are ignored.
  void release(std::uint16_t port);

  Result<PortLease> lease(const std::string& /*owner*/) override { return acquire(); }
  void give_back(std::uint16_t port) override { release(port); }
  std::size_t leased() const override { return leased_.size(); }
  bool is_leased(std::uint16_t port) const { return leased_.count(port) != 0; }

 private:
  std::uint16_t first_;
  std::uint16_t last_;
  PortBinder& binder_;
  std::set<std::uint16_t> leased_;
};

}  // namespace paddock::pool
