#include "paddock/supervisor/restart.hpp"

#include <algorithm>
#include <cmath>

namespace paddock::supervisor {

bool RestartTracker::record_exit(Clock::time_point now, std::chrono::milliseconds ran_for) {
  if (ran_for >= s_.stable_after) {
    failures_.clear();
    consecutive_ = 0;
  }
  failures_.push_back(now);
  while (!failures_.empty() && now - failures_.front() > s_.window) failures_.pop_front();
  if (failures_.size() >= s_.limit_failures) return false;
  ++consecutive_;
  ++restarts_;
  return true;
}

std::chrono::milliseconds RestartTracker::next_delay(double unit) const {
  const std::uint32_t exponent =
      consecutive_ == 0 ? 0 : std::min<std::uint32_t>(consecutive_ - 1, 30);
  const double base = static_cast<double>(s_.initial_delay.count()) * std::pow(2.0, exponent);
  const double capped = std::min(base, static_cast<double>(s_.max_delay.count()));
  const double u = std::clamp(unit, 0.0, 1.0);
  const double scaled = capped * (1.0 - s_.jitter * u);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(1.0, scaled)));
}

}  // namespace paddock::supervisor
