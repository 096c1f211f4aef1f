#pragma once
/// PortBridge: serves a network = "none" worker's port. The daemon listens on the host's
/// 127.0.0.1:<port> and, for each accepted connection, opens one from inside the worker's
/// network namespace to 127.0.0.1:<port> there, then copies bytes both ways until both sides
/// are done (a half-close is passed on). Runs on the io thread; nothing blocks it except the
/// microseconds of socket_in_netns().

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "paddock/util/fd.hpp"

namespace paddock::net {

class PortBridge {
 public:
  /// Starts accepting on `listener` (a listening TCP socket bound on the host; its backlog is
  /// raised to 128) and bridging into `netns` (an open /proc/<pid>/ns/net). `worker_id` and
  /// `uid` label log lines.
  static std::unique_ptr<PortBridge> start(boost::asio::io_context& ioc, util::UniqueFd listener,
                                           util::UniqueFd netns, std::uint16_t port,
                                           std::string worker_id, long uid);
  /// Closes (see close()).
  ~PortBridge();
  PortBridge(const PortBridge&) = delete;
  PortBridge& operator=(const PortBridge&) = delete;

  /// One TCP connect from inside the namespace to 127.0.0.1:port; `done(true)` when it was
  /// accepted within one second. Used as the worker's readiness probe.
  void probe(std::function<void(bool)> done);

  /// Stops accepting and closes every bridged connection. Idempotent.
  void close();

  /// Bridged connections open now.
  std::size_t connections() const;
  /// Connections accepted since start.
  std::uint64_t accepted() const;

  struct Impl;

 private:
  explicit PortBridge(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace paddock::net
