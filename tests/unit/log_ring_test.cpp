// Log rings, restart arithmetic and the event buffer.
#include <gtest/gtest.h>

#include "paddock/supervisor/events.hpp"
#include "paddock/supervisor/log_ring.hpp"
#include "paddock/supervisor/restart.hpp"

using namespace paddock::supervisor;
using namespace std::chrono_literals;

TEST(LogRing, GivenChunksThenCompleteLinesPerStreamAndPartialWaits) {
  LogRing ring(1 << 20);
  const WallTime t{};
  EXPECT_TRUE(ring.append(Stream::Stdout, t, "hel").empty());
  auto lines = ring.append(Stream::Stderr, t, "err\n");
  ASSERT_EQ(lines.size(), 1u);
  lines = ring.append(Stream::Stdout, t, "lo\nwor");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].text, "hello");
  auto rest = ring.flush(t);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].text, "wor");
  EXPECT_EQ(ring.tail(10, Stream::Stdout).size(), 2u);
  EXPECT_EQ(ring.tail(10, Stream::Stderr).size(), 1u);
  EXPECT_EQ(ring.since(1).size(), 2u);
}

TEST(LogRing, GivenFloodThenMemoryStaysUnderCapAndDropsAreCounted) {
  LogRing ring(10 * 1024);
  const std::string line(100, 'x');
  for (int i = 0; i < 10000; ++i) ring.append(Stream::Stdout, WallTime{}, line + "\n");
  EXPECT_LE(ring.bytes(), 10u * 1024u);
  EXPECT_GT(ring.dropped_lines(), 9000u);
  EXPECT_EQ(ring.dropped_bytes(), ring.dropped_lines() * 100);
  EXPECT_EQ(ring.last_seq(), 10000u);
  EXPECT_EQ(ring.tail(1)[0].seq, 10000u);
}

TEST(LogRing, GivenLineLongerThanMaxThenItIsSplit) {
  LogRing ring(1 << 20);
  const std::string big(LogRing::kMaxLine * 2 + 5, 'y');
  auto lines = ring.append(Stream::Stdout, WallTime{}, big + "\n");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].text.size(), LogRing::kMaxLine);
  EXPECT_EQ(lines[2].text.size(), 5u);
}

TEST(Restart, DelaysDoubleFromInitialAndAreCapped) {
  RestartSettings s;
  s.limit_failures = 100;
  s.jitter = 0.0;
  RestartTracker t(s);
  const auto now = RestartTracker::Clock::time_point{};
  std::vector<long> got;
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(t.record_exit(now + std::chrono::milliseconds(i), 1ms));
    got.push_back(static_cast<long>(t.next_delay(0.0).count()));
  }
  EXPECT_EQ(got[0], 100);
  EXPECT_EQ(got[1], 200);
  EXPECT_EQ(got[2], 400);
  EXPECT_EQ(got[9], 30000);
  EXPECT_EQ(got[11], 30000);
}

TEST(Restart, JitterOnlyShortensTheDelay) {
  RestartTracker t;
  ASSERT_TRUE(t.record_exit(RestartTracker::Clock::time_point{}, 1ms));
  EXPECT_EQ(t.next_delay(0.0).count(), 100);
  EXPECT_EQ(t.next_delay(0.999999).count(), 80);
}

TEST(Restart, StartLimitCountsOnlyFailuresInsideTheWindow) {
  RestartTracker t;  // 5 in 60 s
  auto now = RestartTracker::Clock::time_point{} + 1000s;
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(t.record_exit(now + std::chrono::seconds(i * 10), 1ms));
  // At 65 s the first failure (at 0 s) is outside the window: 4 failures count.
  EXPECT_TRUE(t.record_exit(now + 65s, 1ms));
  // At 66 s the failures at 10, 20, 30, 65 and 66 s are inside it: the fifth ends it.
  EXPECT_FALSE(t.record_exit(now + 66s, 1ms));
}

TEST(EventBus, NumbersEventsAndResumesFromLastId) {
  EventBus bus(3);
  std::vector<std::uint64_t> pushed;
  bus.subscribe([&](const Event& e) { pushed.push_back(e.id); });
  for (int i = 0; i < 5; ++i) bus.publish(Event{});
  EXPECT_EQ(pushed, (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
  bool complete = true;
  auto ev = bus.since(3, &complete);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].id, 4u);
  EXPECT_TRUE(complete);
  bus.since(0, &complete);
  EXPECT_FALSE(complete) << "events 1 and 2 were dropped from the buffer";
}

TEST(LogRing, GivenSinceWithAByteBound_ThenItStartsAfterTheSeqAndStopsAtTheBound) {
  LogRing ring(1 << 20);
  const WallTime t{};
  for (int i = 0; i < 100; ++i) ring.append(Stream::Stdout, t, std::string(99, 'x') + "\n");
  EXPECT_EQ(ring.first_seq(), 1u);
  auto some = ring.since(10, std::nullopt, 1000);
  ASSERT_EQ(some.size(), 10u);  // 99 bytes each: ten fit in 1000
  EXPECT_EQ(some.front().seq, 11u);
  EXPECT_EQ(some.back().seq, 20u);
  EXPECT_EQ(ring.since(99, std::nullopt, 1).size(), 1u);
  EXPECT_TRUE(ring.since(100).empty());
  EXPECT_EQ(ring.since(0, std::nullopt, 10).size(), 1u);  // at least one line
  EXPECT_EQ(ring.since(0).size(), 100u);
}

TEST(EventBus, GivenABusResumedAfterAnUpgrade_ThenIdsGoOnAndAnEarlierResumeIsIncomplete) {
  EventBus bus(8);
  bus.resume_after(41);
  bool complete = true;
  EXPECT_TRUE(bus.since(41, &complete).empty());
  EXPECT_TRUE(complete) << "nothing after 41 was published";
  bus.since(30, &complete);
  EXPECT_FALSE(complete) << "31 to 41 went with the image before";
  EXPECT_EQ(bus.publish(Event{}), 42u);
  auto ev = bus.since(41, &complete);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(complete);
  bus.since(40, &complete);
  EXPECT_FALSE(complete);
  // A fresh bus (no upgrade) is complete from 0.
  EventBus fresh(8);
  fresh.since(0, &complete);
  EXPECT_TRUE(complete);
}
