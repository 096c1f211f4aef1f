#include "paddock/api/openapi.hpp"

#include <algorithm>

namespace paddock::api {

namespace detail {
// Defined in the file generated from docs/openapi.json (see src/CMakeLists.txt).
extern const unsigned char kOpenApiJson[];
extern const std::size_t kOpenApiJsonSize;
}  // namespace detail

std::string_view openapi_text() {
  return {reinterpret_cast<const char*>(detail::kOpenApiJson), detail::kOpenApiJsonSize};
}

const nlohmann::json& openapi_document() {
  static const nlohmann::json doc = [] {
    const auto text = openapi_text();
    return nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  }();
  return doc;
}

std::vector<std::pair<std::string, std::string>> openapi_operations(const nlohmann::json& doc) {
  static const char* const kMethods[] = {"get",     "put",  "post",  "delete",
                                         "options", "head", "patch", "trace"};
  std::vector<std::pair<std::string, std::string>> out;
  if (!doc.is_object() || !doc.contains("paths") || !doc["paths"].is_object()) return out;
  for (auto it = doc["paths"].begin(); it != doc["paths"].end(); ++it) {
    if (!it->is_object()) continue;
    for (const char* m : kMethods) {
      if (!it->contains(m)) continue;
      std::string upper(m);
      std::transform(upper.begin(), upper.end(), upper.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      out.emplace_back(upper, it.key());
    }
  }
  return out;
}

}  // namespace paddock::api
