#include "paddock/supervisor/scheduler.hpp"

#include <boost/asio/steady_timer.hpp>
#include <random>

namespace paddock::supervisor {

struct AsioScheduler::Impl {
  boost::asio::io_context& ioc;
  std::map<TimerId, std::shared_ptr<boost::asio::steady_timer>> timers;
  TimerId next = 1;
  std::mt19937_64 rng{std::random_device{}()};
};

AsioScheduler::AsioScheduler(boost::asio::io_context& ioc)
    : impl_(std::make_unique<Impl>(Impl{ioc, {}, 1, std::mt19937_64{std::random_device{}()}})) {}

AsioScheduler::~AsioScheduler() {
  for (auto& [id, t] : impl_->timers) t->cancel();
}

Scheduler::TimerId AsioScheduler::after(std::chrono::milliseconds delay, std::function<void()> fn) {
  const TimerId id = impl_->next++;
  auto timer = std::make_shared<boost::asio::steady_timer>(impl_->ioc, delay);
  impl_->timers.emplace(id, timer);
  Impl* impl = impl_.get();
  timer->async_wait([impl, id, timer, fn = std::move(fn)](boost::system::error_code ec) {
    if (ec) return;  // cancelled (the scheduler may be gone)
    impl->timers.erase(id);
    fn();
  });
  return id;
}

void AsioScheduler::cancel(TimerId id) {
  auto it = impl_->timers.find(id);
  if (it == impl_->timers.end()) return;
  it->second->cancel();
  impl_->timers.erase(it);
}

double AsioScheduler::random_unit() {
  return std::uniform_real_distribution<double>(0.0, 1.0)(impl_->rng);
}

}  // namespace paddock::supervisor
