#pragma once
/// PortBridge: serves the port of a worker with a network namespace of its own (network
/// "private" or "none"). The daemon listens on the host's 127.0.0.1:<port> for the worker's
/// whole life (restarts included), so nothing else can take that port, and, for each accepted
/// connection, connects a socket made inside the worker's namespace (by its socket relay) to
/// 127.0.0.1:<port> there, then copies bytes both ways until both sides are done (a half-close
/// is passed on). Runs on the io thread; nothing blocks it except the microseconds the relay
/// takes to answer.

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "paddock/util/result.hpp"

#include "paddock/util/fd.hpp"

namespace paddock::net {

class PortBridge {
 public:
  /// Makes one TCP socket (AF_INET) inside the worker's network namespace.
  using InnerSocket = std::function<Result<util::UniqueFd>()>;

  /// Starts accepting on `listener` (a listening TCP socket bound on the host; its backlog is
  /// raised to 128) and bridging into the worker's namespace through `inner`. `worker_id` and
  /// `uid` label log lines.
  static std::unique_ptr<PortBridge> start(boost::asio::io_context& ioc, util::UniqueFd listener,
                                           InnerSocket inner, std::uint16_t port,
                                           std::string worker_id, long uid);
  /// Closes (see close()).
  ~PortBridge();
  PortBridge(const PortBridge&) = delete;
  PortBridge& operator=(const PortBridge&) = delete;

  /// One TCP connect from inside the namespace to 127.0.0.1:port; `done(true)` when it was
  /// accepted within one second. Used as the worker's readiness probe.
  void probe(std::function<void(bool)> done);

  /// Stops accepting; connections already bridged go on, new ones wait in the listener's
  /// backlog (for whoever serves the port next: the new image after an upgrade).
  void pause();

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
