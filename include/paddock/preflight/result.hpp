#pragma once
/// What one preflight check found, and the report of a whole run.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace paddock::preflight {

/// How bad a finding is. Only Error blocks the daemon's start (unless [preflight] enforce = false).
enum class Severity { Ok, Info, Warning, Error };

/// "ok" | "info" | "warning" | "error".
std::string_view to_string(Severity s);

/// The more severe of the two.
Severity worst(Severity a, Severity b);

/// One check's finding. `message` says what is true; `remedy` (empty for ok) says what to do.
struct CheckResult {
  std::string name;  ///< stable check name, e.g. "redis_auth"
  Severity severity = Severity::Ok;
  std::string message;
  std::string remedy;
  std::int64_t duration_ms = 0;
  nlohmann::json details = nlohmann::json::object();
};

/// {"name", "severity", "message", "remedy", "duration_ms", "details"}.
nlohmann::json to_json(const CheckResult& r);

/// Every check's result, in the fixed order of check_names().
struct Report {
  std::vector<CheckResult> results;
  bool has_error = false;  ///< any result with Severity::Error
  /// {"results": [...], "has_error": bool, "counts": {"ok": n, "info": n, "warning": n,
  /// "error": n}}
  nlohmann::json to_json() const;
  /// The result named `name`, or nullptr.
  const CheckResult* find(std::string_view name) const;
};

/// Builds a Report from results (sets has_error).
Report make_report(std::vector<CheckResult> results);

}  // namespace paddock::preflight
