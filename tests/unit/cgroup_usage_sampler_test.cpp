// UsageSampler with a fake reader: it reads only while asked, serves what its thread read, and
// never serves a sample older than asked for or of a leaf no longer registered.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "paddock/cgroup/usage_sampler.hpp"

namespace paddock::cgroup {
namespace {

using namespace std::chrono_literals;

struct FakeReader {
  std::atomic<int> calls{0};
  std::atomic<std::uint64_t> memory{100};
  UsageSampler::Reader reader() {
    return [this](const std::string& leaf, const Controllers&) {
      ++calls;
      Usage u;
      u.memory_bytes = memory.load();
      u.pids = leaf.size();
      return u;
    };
  }
};

bool wait_for_passes(const UsageSampler& s, std::uint64_t n) {
  for (int i = 0; i < 300 && s.passes() < n; ++i) std::this_thread::sleep_for(10ms);
  return s.passes() >= n;
}

TEST(UsageSampler, GivenNobodyAsks_ThenNoLeafIsRead) {
  FakeReader fake;
  UsageSampler s(10ms, 60s, fake.reader());
  s.add(1, "/sys/fs/cgroup/a", {});
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(fake.calls.load(), 0);
  EXPECT_EQ(s.passes(), 0u);
}

TEST(UsageSampler, GivenAnAsk_ThenTheThreadReadsEveryLeafAndServesWhatItRead) {
  FakeReader fake;
  UsageSampler s(10ms, 60s, fake.reader());
  s.add(1, "/a", {});
  s.add(2, "/bbb", {});
  // Nothing read yet: the caller reads the leaf itself; the ask wakes the thread.
  EXPECT_FALSE(s.latest(1, 1000ms).has_value());
  ASSERT_TRUE(wait_for_passes(s, 1));
  const auto one = s.latest(1, 1000ms);
  const auto two = s.latest(2, 1000ms);
  ASSERT_TRUE(one && two);
  EXPECT_EQ(one->usage.pids, 2u);
  EXPECT_EQ(two->usage.pids, 4u);
  // Later passes pick up new values.
  fake.memory = 200;
  const auto passes = s.passes();
  ASSERT_TRUE(wait_for_passes(s, passes + 2));
  EXPECT_EQ(s.latest(1, 1000ms)->usage.memory_bytes, 200u);
}

TEST(UsageSampler, GivenASampleOlderThanAskedFor_ThenNoneIsServed) {
  FakeReader fake;
  UsageSampler s(10s, 60s, fake.reader());  // one pass, then a long wait
  s.add(1, "/a", {});
  (void)s.latest(1, 1000ms);
  ASSERT_TRUE(wait_for_passes(s, 1));
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(s.latest(1, 5ms).has_value());
  EXPECT_TRUE(s.latest(1, 5000ms).has_value());
}

TEST(UsageSampler, GivenALeafRemoved_ThenItHasNoSample) {
  FakeReader fake;
  UsageSampler s(10ms, 60s, fake.reader());
  s.add(1, "/a", {});
  (void)s.latest(1, 1000ms);
  ASSERT_TRUE(wait_for_passes(s, 1));
  ASSERT_TRUE(s.latest(1, 1000ms).has_value());
  s.remove(1);
  EXPECT_FALSE(s.latest(1, 1000ms).has_value());
  // The key used again for another leaf starts without a sample.
  s.add(1, "/other", {});
  EXPECT_FALSE(s.latest(1, 1000ms).has_value());
}

TEST(UsageSampler, GivenNoAskForTheKeepPeriod_ThenTheThreadStopsReading) {
  FakeReader fake;
  UsageSampler s(10ms, 1s, fake.reader());
  s.add(1, "/a", {});
  (void)s.latest(1, 1000ms);
  ASSERT_TRUE(wait_for_passes(s, 3));
  std::this_thread::sleep_for(1300ms);  // past the keep period: asleep now
  const auto passes = s.passes();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(s.passes(), passes);
  // Asked again: it wakes.
  (void)s.latest(1, 1000ms);
  EXPECT_TRUE(wait_for_passes(s, passes + 1));
}

}  // namespace
}  // namespace paddock::cgroup
