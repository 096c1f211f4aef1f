#include "paddock/preflight/result.hpp"

namespace paddock::preflight {

std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::Ok:
      return "ok";
    case Severity::Info:
      return "info";
    case Severity::Warning:
      return "warning";
    case Severity::Error:
      return "error";
  }
  return "error";
}

Severity worst(Severity a, Severity b) {
  return static_cast<int>(a) >= static_cast<int>(b) ? a : b;
}

nlohmann::json to_json(const CheckResult& r) {
  return {{"name", r.name},
          {"severity", std::string(to_string(r.severity))},
          {"message", r.message},
          {"remedy", r.remedy},
          {"duration_ms", r.duration_ms},
          {"details", r.details}};
}

nlohmann::json Report::to_json() const {
  nlohmann::json results_json = nlohmann::json::array();
  nlohmann::json counts = {{"ok", 0}, {"info", 0}, {"warning", 0}, {"error", 0}};
  for (const auto& r : results) {
    results_json.push_back(preflight::to_json(r));
    auto& c = counts[std::string(to_string(r.severity))];
    c = c.get<int>() + 1;
  }
  return {{"results", results_json}, {"has_error", has_error}, {"counts", counts}};
}

const CheckResult* Report::find(std::string_view name) const {
  for (const auto& r : results) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

Report make_report(std::vector<CheckResult> results) {
  Report report;
  report.results = std::move(results);
  for (const auto& r : report.results) {
    if (r.severity == Severity::Error) report.has_error = true;
  }
  return report;
}

}  // namespace paddock::preflight
