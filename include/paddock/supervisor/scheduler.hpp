#pragma once
/// Time for the supervisor: a monotonic clock for timers and a wall clock for timestamps.
/// The real one runs on Asio timers; unit tests use a fake that advances by hand.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "paddock/supervisor/state.hpp"

namespace paddock::supervisor {

class Scheduler {
 public:
  using TimerId = std::uint64_t;
  using Mono = std::chrono::steady_clock::time_point;
  virtual ~Scheduler() = default;
  /// Calls `fn` once after `delay` (on the io thread). Returns an id for cancel().
  virtual TimerId after(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
  /// Cancels a pending timer; unknown or fired ids are ignored.
  virtual void cancel(TimerId id) = 0;
  virtual Mono now() const = 0;
  virtual WallTime wall_now() const = 0;
  /// A number in [0, 1) for jitter.
  virtual double random_unit() = 0;
};

class AsioScheduler final : public Scheduler {
 public:
  explicit AsioScheduler(boost::asio::io_context& ioc);
  ~AsioScheduler() override;
  TimerId after(std::chrono::milliseconds delay, std::function<void()> fn) override;
  void cancel(TimerId id) override;
  Mono now() const override { return std::chrono::steady_clock::now(); }
  WallTime wall_now() const override { return std::chrono::system_clock::now(); }
  double random_unit() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace paddock::supervisor
