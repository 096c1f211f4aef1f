#pragma once
/// The OpenAPI 3 document of the v1 API. docs/openapi.json is the source of truth; it is
/// compiled into the daemon at build time and served at GET /v1/openapi.json. docs/openapi.yaml
/// is generated from it (scripts/openapi_yaml.py) and checked to be in sync by a test.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace paddock::api {

/// The document's bytes exactly as in docs/openapi.json.
std::string_view openapi_text();

/// The parsed document (parsed once; a discarded null value if the embedded text were invalid,
/// which the unit tests rule out).
const nlohmann::json& openapi_document();

/// Every (METHOD, path template) the document describes, e.g. {"GET", "/v1/workers/{id}"}.
std::vector<std::pair<std::string, std::string>> openapi_operations(const nlohmann::json& doc);

}  // namespace paddock::api
