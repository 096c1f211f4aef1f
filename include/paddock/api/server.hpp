#pragma once
/// The HTTP server: Beast sessions over TCP and the unix socket (one session template), each
/// request handed to a pure handler. Limits (body, header, timeout, connections) are enforced
/// here, before a handler sees anything.

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "paddock/api/http.hpp"
#include "paddock/util/hostport.hpp"
#include "paddock/util/result.hpp"

namespace paddock::api {

struct ServerOptions {
  std::uint64_t max_body_bytes = 1024 * 1024;
  std::uint32_t max_header_bytes = 16 * 1024;
  std::uint32_t max_connections = 1024;
  std::uint32_t request_timeout_seconds = 30;
  std::uint32_t max_requests_per_connection = 1000;
};

using RequestHandler = std::function<Response(const Request&)>;

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& ioc, ServerOptions options, RequestHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds and starts accepting on a TCP address. Returns the bound port (useful with port 0).
  Result<std::uint16_t> listen_tcp(const util::HostPort& address);
  /// Binds a unix socket (removing a stale socket file first), sets its mode and group.
  Result<void> listen_unix(const std::string& path, std::uint32_t mode, const std::string& group);
  /// Stops accepting and closes open connections.
  void stop();
  std::size_t active_connections() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace paddock::api
