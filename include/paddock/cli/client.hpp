#pragma once
/// A small synchronous HTTP/1.1 client for the daemon's unix socket, used by the `paddock` CLI.
/// One request per connection (Connection: close). Failures come back as paddock::Error whose
/// code says how the CLI should exit:
///   "connect"    the socket is missing or nobody listens (message: "is paddockd running?")
///   "permission" connect() was refused with EACCES/EPERM (message: which group to join)
///   "transport"  the connection broke or the response was not HTTP
///   "timeout"    no complete response within the client's timeout
/// The message is one line a person can act on.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "paddock/util/result.hpp"

namespace paddock::cli {

/// Where the daemon's socket is when neither --socket nor PADDOCK_SOCKET says otherwise.
inline constexpr const char* kDefaultSocketPath = "/run/paddock/paddock.sock";

/// The socket to use: `flag` when non-empty, else `env` (PADDOCK_SOCKET) when non-null and
/// non-empty, else kDefaultSocketPath.
std::string resolve_socket_path(const std::string& flag, const char* env);

/// One response. For streamed requests `body` holds the body only when the status is not 2xx
/// (the lines of a 2xx body go to the callback instead).
struct HttpReply {
  unsigned status = 0;
  std::string content_type;
  std::string location;  ///< the Location header, when the answer has one
  std::string body;
};

/// The text of a refused connection: for ENOENT/ECONNREFUSED "cannot connect to PATH: is
/// paddockd running? (systemctl status paddockd)"; for EACCES/EPERM the permission message of
/// permission_message(); otherwise "cannot connect to PATH: <errno name and text>".
std::string connect_failure_message(const std::string& socket_path, int err,
                                    const std::optional<std::string>& group);

/// "permission denied: join the group 'G' (usermod -aG G $USER) or run as root", or, when the
/// group is unknown or is root's, a message saying only root may use `socket_path`.
std::string permission_message(const std::string& socket_path,
                               const std::optional<std::string>& group);

/// The name of the group owning `path` (the socket; when it cannot be stat'ed, its directory),
/// or nullopt when neither can be read or the gid has no name.
std::optional<std::string> socket_group_name(const std::string& path);

class Client {
 public:
  /// `timeout` bounds connect + request + a whole non-streamed response, and the wait for the
  /// response headers of a streamed one.
  explicit Client(std::string socket_path,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30));

  const std::string& socket_path() const { return socket_path_; }

  /// Sends `method target` with `body` (as application/json when non-empty) and reads the whole
  /// response.
  Result<HttpReply> request(const std::string& method, const std::string& target,
                            const std::string& body = {}) const;

  /// Called with each line of a streamed body, without its '\n' (a last line without one is
  /// delivered at the end). Return false to stop reading and close the connection.
  using LineHandler = std::function<bool(std::string_view line)>;
  /// Called once with the status and headers of a streamed answer, before its first line.
  using HeadHandler = std::function<void(const HttpReply& head)>;

  /// Sends the request, then reads the body as it arrives (chunked or not) with no time limit,
  /// delivering complete lines to `on_line` while the status is 2xx. For other statuses the
  /// body is collected into HttpReply::body. Returns when the server ends the body, closes the
  /// connection, or `on_line` returns false. `on_head`, when set, sees the status and headers
  /// first.
  Result<HttpReply> stream(const std::string& method, const std::string& target,
                           const std::string& body, const LineHandler& on_line,
                           const HeadHandler& on_head = {}) const;

 private:
  std::string socket_path_;
  std::chrono::milliseconds timeout_;
};

}  // namespace paddock::cli
