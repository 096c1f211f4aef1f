#include "paddock/cgroup/usage_sampler.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace paddock::cgroup {

UsageSampler::UsageSampler(std::chrono::milliseconds period, std::chrono::seconds keep_sampling,
                           Reader read)
    : period_(period), keep_sampling_(keep_sampling), read_(std::move(read)) {}

UsageSampler::~UsageSampler() {
  {
    std::lock_guard lock(m_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void UsageSampler::add(std::uint64_t key, std::string leaf, Controllers on) {
  std::lock_guard lock(m_);
  entries_[key] = Entry{std::move(leaf), on, std::nullopt};
}

void UsageSampler::remove(std::uint64_t key) {
  std::lock_guard lock(m_);
  entries_.erase(key);
}

std::optional<UsageSampler::Sample> UsageSampler::latest(std::uint64_t key,
                                                         std::chrono::milliseconds max_age) {
  const auto now = Clock::now();
  bool wake = false;
  std::optional<Sample> out;
  {
    std::lock_guard lock(m_);
    wake = !wanted(now);
    asked_ = true;
    asked_at_ = now;
    // Started at the first ask, not at construction: the daemon makes its sampler before it
    // drops privileges, which needs a single-threaded process.
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    if (auto it = entries_.find(key);
        it != entries_.end() && it->second.sample && now - it->second.sample->at <= max_age) {
      out = it->second.sample;
    }
  }
  if (wake) cv_.notify_all();
  return out;
}

bool UsageSampler::wanted(Clock::time_point now) const {
  return asked_ && now - asked_at_ <= keep_sampling_;
}

std::uint64_t UsageSampler::passes() const {
  std::lock_guard lock(m_);
  return passes_;
}

void UsageSampler::run() {
  std::unique_lock lock(m_);
  std::vector<std::pair<std::uint64_t, Entry>> leaves;
  std::vector<Usage> read;
  while (!stop_) {
    if (!wanted(Clock::now())) {
      cv_.wait(lock, [this] { return stop_ || wanted(Clock::now()); });
      continue;
    }
    leaves.clear();
    for (const auto& [key, e] : entries_) leaves.emplace_back(key, Entry{e.leaf, e.on, {}});
    lock.unlock();
    const auto started = Clock::now();
    read.clear();
    for (const auto& [key, e] : leaves) read.push_back(read_(e.leaf, e.on));
    const auto took = Clock::now() - started;
    lock.lock();
    for (std::size_t i = 0; i < leaves.size(); ++i) {
      auto it = entries_.find(leaves[i].first);
      // Removed meanwhile, or the key now names another leaf: the sample is not its.
      if (it == entries_.end() || it->second.leaf != leaves[i].second.leaf) continue;
      it->second.sample = Sample{read[i], started};
    }
    ++passes_;
    // At most ~10 % of a core: a pass over many leaves waits 10 times its own length.
    const auto wait = std::max<Clock::duration>(period_, took * 10);
    cv_.wait_for(lock, wait, [this] { return stop_; });
  }
}

}  // namespace paddock::cgroup
