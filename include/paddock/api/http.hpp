#pragma once
/// Transport-neutral HTTP request/response values: the router and handlers see only these,
/// never Beast types, so they are pure and unit-testable.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace paddock::api {

/// Who is on the other end of a connection.
struct Peer {
  bool is_unix = false;
  std::uint32_t uid = 0;  ///< SO_PEERCRED on the unix socket
  std::uint32_t gid = 0;
  std::int32_t pid = 0;
  std::string address;  ///< "ip:port" on TCP, "unix:pid=<n>" on the socket
};

class BodyConsumer;

struct Request {
  std::string method;  ///< "GET", "POST", ...
  std::string target;  ///< as sent: path plus query
  std::string path;    ///< percent-decoded path without the query
  std::multimap<std::string, std::string> query;
  std::map<std::string, std::string> headers;  ///< names lower-cased
  std::string body;
  /// Set instead of `body` for the routes whose body is taken as it arrives (see
  /// HttpServer::on_body_route): the consumer that received it.
  std::shared_ptr<BodyConsumer> body_consumer;
  Peer peer;

  std::optional<std::string> header(const std::string& lower_name) const;
  std::optional<std::string> query_param(const std::string& name) const;
};

/// Why the server ended a stream on its own.
enum class StreamEndReason {
  SlowReader,  ///< the client fell behind by more than the per-stream queue cap
  Lifetime,    ///< the stream reached its maximum lifetime
  Shutdown,    ///< the daemon is stopping
};
/// "slow_reader", "lifetime" or "shutdown".
const char* to_string(StreamEndReason reason);

/// The sending end of a streamed response body (Server-Sent Events, log follow, run answers).
/// Thread-safe: calls are forwarded to the connection's executor.
///
/// Each stream has a cap on the bytes queued for its client. A write that would pass the cap
/// (while something is already queued) is refused: the stream stops taking data, what is queued
/// goes out, then the response's `stream_end` text (which tells the client the position of the
/// last chunk it got and how to resume from there), and the connection closes. The producer is
/// never blocked and never slowed.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  /// Queues `data` as one chunk; `position` (a log seq, an event id) is what the client has
  /// seen once this chunk arrives, reported in the end text if the stream is cut after it.
  /// Returns false once the client has gone away, the stream was finished or cut; the
  /// producer should then drop the sink.
  virtual bool write(std::string data, std::uint64_t position) = 0;
  /// Like write(), for chunks that do not advance the position (comments, heartbeats).
  virtual bool write(std::string data) = 0;
  /// Ends the body (the terminating chunk is sent) and closes the connection.
  virtual void finish() = 0;
  /// False once the client has gone away, the server is shutting down, or finish() was called.
  virtual bool open() const = 0;
};

/// Starts producing a streamed body; called once, after the response header has been sent.
using StreamStart = std::function<void(std::shared_ptr<StreamSink>)>;

struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  /// When set, `body` is ignored: the header goes out with Transfer-Encoding: chunked and the
  /// body is whatever the producer writes to the sink. The connection is not reused afterwards.
  /// No read or write timeout applies while the stream is idle; a client that stops reading is
  /// cut once the chunks queued for it pass the stream queue cap, and dropped when one write
  /// cannot complete within request_timeout_seconds.
  StreamStart stream;
  /// For streams: the text sent as the last chunk when the server ends the stream itself (see
  /// StreamSink), given the reason and the position of the last chunk the client will get.
  /// Empty: the stream just ends.
  std::function<std::string(StreamEndReason, std::uint64_t position)> stream_end;
  /// For streams: the position before the first chunk (e.g. the `since` the client asked for).
  std::uint64_t stream_position = 0;
  /// For streams: how long the header may wait for the whole body. A producer that finishes
  /// within it is answered as one ordinary response (Content-Length, the connection kept for
  /// the next request); after it the header goes out and the body follows as a stream. Zero:
  /// the header goes out at once.
  std::chrono::milliseconds stream_hold{0};

  static Response json(unsigned status, const nlohmann::json& body);
  /// {"error": {"code": ..., "message": ..., "field": ...}} — the one error shape of the API.
  static Response error(unsigned status, std::string code, std::string message,
                        std::string field = {});
  /// The `error.code` of an error response made by error(); "" for any other body.
  std::string error_code() const;
};

/// Takes a request body piece by piece as it arrives (a large upload written to disk) instead
/// of it being collected into Request::body.
class BodyConsumer {
 public:
  virtual ~BodyConsumer() = default;
  /// The next piece of the body. A response stops the reading: it is sent instead and the
  /// connection closes.
  virtual std::optional<Response> write(std::string_view piece) = 0;
};

/// Splits a request target into a decoded path and query parameters. Returns false for a
/// malformed target (bad percent escapes, NUL bytes, not starting with '/').
bool parse_target(const std::string& target, std::string& path,
                  std::multimap<std::string, std::string>& query);

}  // namespace paddock::api
