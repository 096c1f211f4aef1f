#include "paddock/api/readiness.hpp"

namespace paddock::api {

void Readiness::require(const std::string& condition, std::string reason) {
  std::lock_guard lock(mutex_);
  conditions_[condition] = State{false, std::move(reason)};
}

void Readiness::set(const std::string& condition, bool met, std::string reason) {
  std::lock_guard lock(mutex_);
  auto& s = conditions_[condition];
  s.met = met;
  s.reason = met ? std::string{} : std::move(reason);
}

bool Readiness::ready() const {
  std::lock_guard lock(mutex_);
  if (conditions_.empty()) return false;
  for (const auto& [name, s] : conditions_) {
    if (!s.met) return false;
  }
  return true;
}

std::vector<std::string> Readiness::reasons() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  if (conditions_.empty()) out.emplace_back("startup: nothing has been checked yet");
  for (const auto& [name, s] : conditions_) {
    if (!s.met) out.push_back(name + ": " + s.reason);
  }
  return out;
}

}  // namespace paddock::api
