#pragma once
/// JSON for the worker routes: request bodies -> WorkerSpec/RunSpec (strict, errors name the
/// field) and supervisor snapshots -> the API's objects.

#include <nlohmann/json.hpp>
#include <string>

#include "paddock/supervisor/supervisor.hpp"
#include "paddock/util/result.hpp"

namespace paddock::api {

/// POST /v1/workers body -> WorkerSpec.
Result<sandbox::WorkerSpec> parse_worker_spec(const nlohmann::json& body);
/// The request body parse_worker_spec() reads back as `spec` (unset optional fields omitted).
nlohmann::json spec_to_json(const sandbox::WorkerSpec& spec);
/// POST /v1/runs body -> RunSpec ({command, stdin | stdin_base64, profile, limits, env, bundle,
/// network, timeout_seconds, labels}).
Result<supervisor::RunSpec> parse_run_spec(const nlohmann::json& body);

nlohmann::json to_json(const supervisor::WorkerSnapshot& w);
nlohmann::json to_json(const supervisor::RunResult& r);
nlohmann::json to_json(const supervisor::Event& e);
nlohmann::json to_json(const supervisor::LogLine& l);

/// "TERM", "SIGTERM", "15" -> 15; only signals a worker may usefully receive.
Result<int> parse_signal(const std::string& text);

/// Standard base64 with padding.
std::string base64_encode(std::string_view bytes);

/// Standard base64 decoding (padding optional); error on any other character.
Result<std::string> base64_decode(std::string_view text);

}  // namespace paddock::api
