#pragma once
/// Transport-neutral HTTP request/response values: the router and handlers see only these,
/// never Beast types, so they are pure and unit-testable.

#include <cstdint>
#include <map>
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
  std::string address;     ///< "ip:port" on TCP, "unix" on the socket
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

struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

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
