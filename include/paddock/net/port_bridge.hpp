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
#include <vector>

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

  // An upgrade hands live connections to the next image of the daemon.
  /// pause(), and every connection stops starting reads: data already read is written out, what
  /// clients and the worker send next waits in the sockets' buffers.
  void freeze();
  /// No connection has an operation outstanding (each can change hands without losing a byte).
  bool quiet() const;
  /// A bridged connection as descriptors: the client's side, the worker's side, and which
  /// directions still carry data (a half-close was passed on).
  struct HandedConnection {
    int outer_fd = -1;
    int inner_fd = -1;
    bool up_open = true;
    bool down_open = true;
  };
  /// The quiet connections, taken out of this bridge (the caller owns the descriptors).
  std::vector<HandedConnection> release_connections();
  /// Bridges a connection an earlier image handed over (takes the descriptors).
  void adopt_connection(const HandedConnection& h);

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
