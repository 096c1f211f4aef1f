#pragma once
/// The HTTP server: Beast sessions over TCP and the unix socket (one session template), each
/// request handed to a pure handler. Limits are enforced here, before a handler sees anything:
///  - the request line and headers must arrive within header_timeout_seconds (slowloris; also
///    the idle timeout between keep-alive requests) and fit max_header_bytes (else 431);
///  - a Content-Length above max_body_bytes gets 413 before any of the body is read; a chunked
///    body is cut off with 413 as soon as it passes the limit; routes chosen by the body route
///    (bundle uploads) have their own limit and get their body piece by piece, never in memory;
///  - the body must arrive, and the response be written, within request_timeout_seconds;
///  - the request's headers are shown to the header check (authentication and scope) before any
///    of the body is read, and `100 Continue` is sent only when it lets the request through;
///  - TCP and the unix socket have separate connection limits, so a TCP flood never takes the
///    admin socket's slots; TCP also has a limit per source address; over a limit a new
///    connection gets 503 and is closed;
///  - above a soft limit of open TCP connections, each new one closes the oldest TCP connection
///    that is waiting for a request and has had none let through by the header check;
///  - each streamed response has a cap on the bytes queued for its client and a maximum
///    lifetime (see StreamSink);
///  - accept failures (EMFILE, ENFILE, ENOBUFS) back off instead of spinning.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "paddock/api/http.hpp"
#include "paddock/util/hostport.hpp"
#include "paddock/util/result.hpp"

namespace paddock::api {

struct ServerOptions {
  std::uint64_t max_body_bytes = 1024 * 1024;
  std::uint32_t max_header_bytes = 16 * 1024;
  /// Open TCP connections (all listeners together).
  std::uint32_t max_connections = 1024;
  /// Open connections on the unix socket; TCP connections never count against these.
  std::uint32_t max_admin_connections = 64;
  /// Open TCP connections from one source address; 0 means no per-address limit.
  std::uint32_t max_connections_per_address = 256;
  /// Above this many open TCP connections, idle connections that have had no request let
  /// through are closed, oldest first, one per new connection.
  std::uint32_t idle_connections_soft_limit = 768;
  /// Bytes queued for one streamed response before the stream is cut (slow reader).
  std::uint64_t max_stream_queue_bytes = 1024 * 1024;
  /// A streamed response ends after this long (with its end text); 0 means never.
  std::uint32_t stream_max_seconds = 3600;
  std::uint32_t header_timeout_seconds = 10;
  std::uint32_t request_timeout_seconds = 30;
  std::uint32_t max_requests_per_connection = 1000;
  /// Pause after a failed accept (EMFILE etc.) before accepting again.
  std::chrono::milliseconds accept_backoff{100};
};

using RequestHandler = std::function<Response(const Request&)>;
/// Sees each request once its headers have arrived (body empty, not read yet). Returns the
/// response to send instead (e.g. 401/403), or nullopt to read the body and handle it.
using HeaderCheck = std::function<std::optional<Response>(const Request&)>;
/// A body taken as it arrives: its own size limit (instead of max_body_bytes) and the consumer
/// that receives it, made once the request has passed the header check.
struct StreamedBody {
  std::uint64_t max_bytes = 0;
  /// Makes the consumer; null means it cannot be made (the request gets 500).
  std::function<std::shared_ptr<BodyConsumer>()> open;
};
/// Decides from a request's headers (before authentication and before any of the body is read)
/// whether its body is streamed to a consumer; nullopt keeps the in-memory body bounded by
/// max_body_bytes. Must be cheap and free of side effects.
using BodyRoute = std::function<std::optional<StreamedBody>(const Request&)>;
/// Called for each request the server itself rejects before routing (400, 413, 431, 503), with
/// what is known of it (method and target may be empty), the status and the error code.
using RejectObserver =
    std::function<void(const Request& partial, unsigned status, const std::string& code)>;

/// Counters of the server, read by the metrics routes at scrape time.
struct ServerStats {
  std::atomic<std::uint64_t> stream_queued_bytes{0};  ///< bytes queued for all open streams
  std::atomic<std::uint64_t> streams_open{0};
  std::atomic<std::uint64_t> streams_cut_slow{0};      ///< ended because the reader fell behind
  std::atomic<std::uint64_t> streams_cut_lifetime{0};  ///< ended at stream_max_seconds
  std::atomic<std::uint64_t> refused_tcp{0};           ///< at max_connections
  std::atomic<std::uint64_t> refused_tcp_address{0};   ///< at max_connections_per_address
  std::atomic<std::uint64_t> refused_unix{0};          ///< at max_admin_connections
  std::atomic<std::uint64_t> idle_closed{0};           ///< closed over the soft limit
  std::atomic<std::uint64_t> open_tcp{0};
  std::atomic<std::uint64_t> open_unix{0};
};
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
  /// Installs the header check (set before listening).
  void on_headers(HeaderCheck check);
  /// Installs the body route (set before listening); `max_streamed_bytes` is the largest
  /// max_bytes it ever returns.
  void on_body_route(BodyRoute route, std::uint64_t max_streamed_bytes);
  /// Installs the observer of the server's own rejects (set before listening).
  void on_reject(RejectObserver observer);
  /// The server's counters; they stay valid after the server is gone.
  std::shared_ptr<const ServerStats> stats() const;

  /// Binds and starts accepting on a TCP address. Returns the bound port (useful with port 0).
  Result<std::uint16_t> listen_tcp(const util::HostPort& address);
  /// Binds a unix socket (removing a stale socket file first), sets its mode and group.
  Result<void> listen_unix(const std::string& path, std::uint32_t mode, const std::string& group);

  /// A listening socket of this server: "tcp" (host:port) or "unix" (its path).
  struct Listening {
    std::string kind;
    std::string name;
    int fd = -1;
  };
  /// Serves a listening socket an earlier image of the daemon handed over (an upgrade).
  Result<void> adopt_listener(const Listening& l);
  /// An upgrade: duplicates of every listening socket for the next image (the caller owns
  /// them), and from now on requests are answered 503 "upgrading" with Retry-After while
  /// shutdown() drains; connections that have not sent a request yet are answered, not cut.
  /// Call shutdown() next: it closes this server's own copies; the backlogs stay with the dups.
  std::vector<Listening> hand_over_listeners();

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
