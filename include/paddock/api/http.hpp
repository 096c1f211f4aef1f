#pragma once
/// Transport-neutral HTTP request/response values: the router and handlers see only these,
/// never Beast types, so they are pure and unit-testable.

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
  std::uint32_t uid = 0;   ///< SO_PEERCRED on the unix socket
  std::uint32_t gid = 0;
  std::int32_t pid = 0;
  std::string address;     ///< "ip:port" on TCP, "unix:pid=<n>" on the socket
};

struct Request {
  std::string method;   ///< "GET", "POST", ...
  std::string target;   ///< as sent: path plus query
  std::string path;     ///< percent-decoded path without the query
  std::multimap<std::string, std::string> query;
  std::map<std::string, std::string> headers;  ///< names lower-cased
  std::string body;
  Peer peer;

  std::optional<std::string> header(const std::string& lower_name) const;
  std::optional<std::string> query_param(const std::string& name) const;
};

/// The sending end of a streamed response body (Server-Sent Events, log follow). Thread-safe:
/// calls are forwarded to the connection's executor.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  /// Queues `data` as one chunk. Returns false once the client has gone away or the stream was
  /// finished; the producer should then drop the sink.
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
  /// dropped when one chunk cannot be written within request_timeout_seconds.
  StreamStart stream;

  static Response json(unsigned status, const nlohmann::json& body);
  /// {"error": {"code": ..., "message": ..., "field": ...}} — the one error shape of the API.
  static Response error(unsigned status, std::string code, std::string message,
                        std::string field = {});
};

/// Splits a request target into a decoded path and query parameters. Returns false for a
/// malformed target (bad percent escapes, NUL bytes, not starting with '/').
bool parse_target(const std::string& target, std::string& path,
                  std::multimap<std::string, std::string>& query);

}  // namespace paddock::api
