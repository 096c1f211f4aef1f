#pragma once
/// Restart policy arithmetic: exponential backoff with jitter and a start limit. Pure.

#include <chrono>
#include <cstdint>
#include <deque>

namespace paddock::supervisor {

struct RestartSettings {
  std::chrono::milliseconds initial_delay{100};
  std::chrono::milliseconds max_delay{30000};
  /// The start limit: this many failures within `window` end the worker as failed.
  std::uint32_t limit_failures = 5;
  std::chrono::milliseconds window{60000};
  /// A run at least this long counts as stable and clears the failure history.
  std::chrono::milliseconds stable_after{60000};
  /// Jitter: the delay is scaled by a factor in [1 - jitter, 1].
  double jitter = 0.2;
};

class RestartTracker {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RestartTracker(RestartSettings settings = {}) : s_(settings) {}

  /// Records an exit that calls for a restart at `now`, after a run of `ran_for`.
  /// Returns false when the start limit is reached (the worker should fail instead).
  bool record_exit(Clock::time_point now, std::chrono::milliseconds ran_for);

  /// The delay before the next attempt: initial * 2^(attempt-1), capped, scaled by
  /// (1 - jitter * unit) where `unit` in [0, 1) comes from the caller's random source.
  std::chrono::milliseconds next_delay(double unit) const;

  /// Restarts so far (for the worker object).
  std::uint32_t restarts() const { return restarts_; }
  /// Exits in a row that called for a restart (the backoff's exponent).
  std::uint32_t consecutive() const { return consecutive_; }
  /// Goes on from counts an earlier daemon kept (an upgrade); the start-limit window starts
  /// empty.
  void resume(std::uint32_t restarts, std::uint32_t consecutive) {
    restarts_ = restarts;
    consecutive_ = consecutive;
  }
  std::size_t recent_failures() const { return failures_.size(); }
  const RestartSettings& settings() const { return s_; }

 private:
  RestartSettings s_;
  std::deque<Clock::time_point> failures_;
  std::uint32_t consecutive_ = 0;
  std::uint32_t restarts_ = 0;
};

}  // namespace paddock::supervisor
