#pragma once
/// UsageSampler: reads workers' cgroup counters on a thread of its own, so a list of 1000
/// workers polled every few seconds does not read 4000 cgroup files on the event loop each
/// time. The event loop registers each worker's leaf and asks for its latest sample; while
/// samples are being asked for (within the last `keep_sampling`), the thread re-reads every
/// leaf once per `period`, longer when a pass is slow (it takes at most ~10 % of a core), and
/// sleeps otherwise. A caller that gets no sample young enough reads the leaf itself. The thread
/// starts at the first ask (the daemon drops privileges single-threaded, after making this).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "paddock/cgroup/files.hpp"

namespace paddock::cgroup {

class UsageSampler {
 public:
  using Clock = std::chrono::steady_clock;
  using Reader = std::function<Usage(const std::string& leaf, const Controllers& on)>;

  struct Sample {
    Usage usage;
    Clock::time_point at;  ///< when the pass that read it started
  };

  /// `read` reads one leaf (read_usage; a fake in unit tests).
  UsageSampler(std::chrono::milliseconds period, std::chrono::seconds keep_sampling, Reader read);
  ~UsageSampler();
  UsageSampler(const UsageSampler&) = delete;
  UsageSampler& operator=(const UsageSampler&) = delete;

  void add(std::uint64_t key, std::string leaf, Controllers on);
  void remove(std::uint64_t key);
  /// The latest sample of `key` when it is at most `max_age` old, else nullopt. Counts as
  /// asking: wakes the thread when it sleeps.
  std::optional<Sample> latest(std::uint64_t key, std::chrono::milliseconds max_age);
  /// Passes made so far (tests).
  std::uint64_t passes() const;

 private:
  struct Entry {
    std::string leaf;
    Controllers on;
    std::optional<Sample> sample;
  };
  void run();
  /// Asked for within the last keep_sampling_ (the thread samples then); m_ held.
  bool wanted(Clock::time_point now) const;

  const std::chrono::milliseconds period_;
  const std::chrono::seconds keep_sampling_;
  const Reader read_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::unordered_map<std::uint64_t, Entry> entries_;
  Clock::time_point asked_at_{};
  bool asked_ = false;
  bool stop_ = false;
  std::uint64_t passes_ = 0;
  std::thread thread_;
};

}  // namespace paddock::cgroup
