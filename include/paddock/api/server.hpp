#pragma once
/// The HTTP server: Beast sessions over TCP and the unix socket (one session template), each
/// request handed to a pure handler. Limits are enforced here, before a handler sees anything:
///  - the request line and headers must arrive within header_timeout_seconds (slowloris; also
///    the idle timeout between keep-alive requests) and fit max_header_bytes (else 431);
///  - a Content-Length above max_body_bytes gets 413 before any of the body is read; a chunked
///    body is cut off with 413 as soon as it passes the limit;
///  - the body must arrive, and the response be written, within request_timeout_seconds;
///  - at max_connections a new connection gets 503 and is closed;
///  - accept failures (EMFILE, ENFILE, ENOBUFS) back off instead of spinning.

#include <boost/asio/io_context.hpp>
#include <chrono>
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
  std::uint32_t header_timeout_seconds = 10;
  std::uint32_t request_timeout_seconds = 30;
  std::uint32_t max_requests_per_connection = 1000;
  /// Pause after a failed accept (EMFILE etc.) before accepting again.
  std::chrono::milliseconds accept_backoff{100};
};

using RequestHandler = std::function<Response(const Request&)>;
/// Called once per response written (also the server's own 400/413/431/503), with its status.
using ResponseObserver = std::function<void(unsigned status)>;

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& ioc, ServerOptions options, RequestHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Installs the observer (set before listening; not thread-safe against running sessions).
  void on_response(ResponseObserver observer);

  /// Binds and starts accepting on a TCP address. Returns the bound port (useful with port 0).
  Result<std::uint16_t> listen_tcp(const util::HostPort& address);
  /// Binds a unix socket (removing a stale socket file first), sets its mode and group.
  Result<void> listen_unix(const std::string& path, std::uint32_t mode, const std::string& group);

  /// Graceful stop: stops accepting, closes idle connections at once, lets requests in flight
  /// finish (their responses carry Connection: close), closes whatever is left at `deadline`,
  /// then calls `on_done` on the io_context. Calling it again does nothing.
  void shutdown(std::chrono::milliseconds deadline, std::function<void()> on_done);
  /// Immediate stop: stops accepting and closes every connection.
  void stop();
  /// Connections currently open (including ones being refused with 503).
  std::size_t active_connections() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace paddock::api
