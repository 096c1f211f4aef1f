#pragma once
/// Readiness of the daemon for /readyz: a set of named conditions, each either met or not with
/// a reason. The daemon registers what it waits for ("listeners", later "preflight") and flips
/// each condition when it holds; /readyz answers 200 only when all hold.

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace paddock::api {

class Readiness {
 public:
  /// Adds a condition that is not yet met, with the reason reported until it is.
  void require(const std::string& condition, std::string reason);
  /// Marks a condition met (`reason` ignored) or not met (with `reason`). Unknown conditions
  /// are added.
  void set(const std::string& condition, bool met, std::string reason = {});
  /// True when every condition is met (and at least one was registered).
  bool ready() const;
  /// "condition: reason" for each unmet condition, sorted by condition name.
  std::vector<std::string> reasons() const;

 private:
  struct State {
    bool met = false;
    std::string reason;
  };
  mutable std::mutex mutex_;
  std::map<std::string, State> conditions_;
};

}  // namespace paddock::api
