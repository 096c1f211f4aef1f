#pragma once
/// Command-line arguments -> API request bodies and targets (pure; unit-tested).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "paddock/api/worker_json.hpp"
#include "paddock/util/result.hpp"

namespace paddock::cli {

/// Splits "KEY=VALUE" at the first '='. KEY must be non-empty; VALUE may be empty. The error
/// (code "usage") names `option` ("--env") and the offending text.
Result<std::pair<std::string, std::string>> parse_key_value(std::string_view text,
                                                            const std::string& option);

/// Arguments of `paddock start`.
struct StartArgs {
  std::string name;
  std::string profile;
  std::string bundle;
  bool port = false;
  std::string restart;              ///< never | on-failure | always; "" leaves the daemon's default
  std::vector<std::string> env;     ///< KEY=VALUE
  std::vector<std::string> labels;  ///< KEY=VALUE
  std::vector<std::string> command;
};

/// The POST /v1/workers body: only the fields that were given (empty strings and an empty
/// command are left out, port only when true). Errors (code "usage") for a malformed KEY=VALUE
/// or a restart policy that is not never/on-failure/always.
Result<nlohmann::json> start_request(const StartArgs& args);

/// Arguments of `paddock run`.
struct RunArgs {
  std::string profile;
  std::string bundle;
  std::string network;                ///< "": the daemon's [runs] default_network
  std::uint32_t timeout_seconds = 0;  ///< 0: the daemon's default
  std::optional<std::string> stdin_data;
  std::vector<std::string> env;  ///< KEY=VALUE
  std::vector<std::string> command;
  /// "files": path in the working directory -> content (read from --file).
  std::vector<std::pair<std::string, std::string>> files;
  std::vector<std::string> collect;  ///< --collect globs
};

/// A --file argument: "LOCAL" (sent as its base name) or "LOCAL=REMOTE" -> {local, remote}.
/// Errors (code "usage") for an empty side.
Result<std::pair<std::string, std::string>> file_argument(const std::string& arg);

/// The POST /v1/runs body; stdin bytes go as stdin_base64 (any bytes, also invalid UTF-8).
Result<nlohmann::json> run_request(const RunArgs& args);

/// Standard base64 with padding (shared with the API).
using api::base64_encode;

/// Percent-encodes everything but unreserved characters (A-Z a-z 0-9 - . _ ~).
std::string url_encode(std::string_view text);

/// "?k1=v1&k2=v2" from the pairs whose value is non-empty (both sides encoded); "" when none.
std::string query_string(const std::vector<std::pair<std::string, std::string>>& params);

/// "/v1/workers/<encoded id><suffix>".
std::string worker_path(std::string_view id, std::string_view suffix = {});

}  // namespace paddock::cli
