#pragma once
/// A small synchronous HTTP/1.1 client for tests (Beast underneath), over TCP or a unix socket,
/// plus raw-socket helpers for abuse tests (partial requests, slow writers, idle connections).
/// Transport failures throw std::runtime_error; gtest reports them as test failures.

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace paddock::test {

using Headers = std::vector<std::pair<std::string, std::string>>;

/// {"Authorization", "Bearer <token>"}.
std::pair<std::string, std::string> bearer(const std::string& token);

struct HttpResponse {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  ///< names lower-cased
  std::string body;
  /// The body parsed as JSON (throws when it is not JSON).
  nlohmann::json json() const;
  /// A header's value, "" when absent (name in any case).
  std::string header(const std::string& name) const;
};

class HttpClient {
 public:
  static HttpClient tcp(std::string host, std::uint16_t port);
  static HttpClient unix_socket(std::string path);

  /// One request on a fresh connection (Connection: close). `body` is sent with
  /// Content-Length (and Content-Type: application/json unless `headers` sets one).
  HttpResponse request(const std::string& method, const std::string& target,
                       const std::string& body = {}, const Headers& headers = {}) const;
  HttpResponse get(const std::string& target, const Headers& headers = {}) const {
    return request("GET", target, {}, headers);
  }

  /// Bound on connect + write + read of one request (default 10 s).
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

 private:
  bool unix_ = false;
  std::string host_;
  std::uint16_t port_ = 0;
  std::string path_;
  std::chrono::milliseconds timeout_{10000};
};

/// A plain blocking socket for byte-level tests. Created with SOCK_CLOEXEC; closed on
/// destruction.
class RawConnection {
 public:
  /// Connects to 127.0.0.1:port or a unix socket; check connected().
  static RawConnection tcp(std::uint16_t port);
  static RawConnection unix_socket(const std::string& path);
  RawConnection() = default;
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&& other) noexcept;
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  ~RawConnection();

  bool connected() const { return fd_ >= 0; }
  /// errno of a failed connect (0 when connected).
  int connect_errno() const { return connect_errno_; }
  int fd() const { return fd_; }
  /// Writes all of `data`; false when the peer is gone (EPIPE/ECONNRESET).
  bool send(std::string_view data);
  /// Whatever arrives within `timeout` (up to 64 KiB); "" on timeout or EOF.
  std::string read_some(std::chrono::milliseconds timeout);
  /// Reads until the peer closes (EOF or reset) or `timeout` passes.
  struct ReadResult {
    std::string data;
    bool closed = false;  ///< true when the peer closed within the timeout
  };
  ReadResult read_until_closed(std::chrono::milliseconds timeout);
  void close();

 private:
  int fd_ = -1;
  int connect_errno_ = 0;
};

/// The status code of the first HTTP status line in `response` ("HTTP/1.1 413 ..."), or 0.
unsigned status_of(std::string_view response);

}  // namespace paddock::test
