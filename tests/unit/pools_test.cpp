// UID and port pools: lowest free first, UIDs come back only when no process has them,
// exhaustion is a clear error.
#include <gtest/gtest.h>

#include <map>

#include "paddock/pool/port_pool.hpp"
#include "paddock/pool/process_table.hpp"
#include "paddock/pool/uid_pool.hpp"

using namespace paddock;

namespace {

class FakeTable : public pool::ProcessTable {
 public:
  std::set<uid_t> live;
  mutable int scans = 0;
  Result<std::set<uid_t>> live_uids(uid_t first, uid_t last) const override {
    ++scans;
    std::set<uid_t> out;
    for (uid_t u : live) {
      if (u >= first && u <= last) out.insert(u);
    }
    return out;
  }
};

class FakeBinder : public pool::PortBinder {
 public:
  std::set<std::uint16_t> taken;  // by other programs
  Result<util::UniqueFd> bind(std::uint16_t port) override {
    if (taken.count(port) != 0) return make_error("EADDRINUSE", "in use");
    return util::UniqueFd{};
  }
};

}  // namespace

TEST(UidPool, GivenAFreshPool_ThenUidsComeLowestFirst) {
  FakeTable t;
  pool::UidPool p(60000, 60002, t);
  EXPECT_EQ(*p.acquire(), 60000u);
  EXPECT_EQ(*p.acquire(), 60001u);
  p.release(60000);
  EXPECT_EQ(*p.acquire(), 60000u);
}

TEST(UidPool, GivenAProcessStillUsesAReleasedUid_ThenItIsNotHandedOutUntilItIsGone) {
  FakeTable t;
  pool::UidPool p(60000, 60001, t);
  ASSERT_EQ(*p.acquire(), 60000u);
  t.live = {60000};  // a process with that uid outlived the worker
  p.release(60000);
  EXPECT_EQ(p.draining(), 1u);
  EXPECT_EQ(*p.acquire(), 60001u);
  // Both busy now: the pool re-checks the draining one, which is still in use.
  auto full = p.acquire();
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, "uid_exhausted");
  EXPECT_NE(full.error().message.find("60000-60001"), std::string::npos);
  t.live.clear();
  EXPECT_EQ(*p.acquire(), 60000u);
  EXPECT_EQ(p.draining(), 0u);
}

TEST(UidPool, GivenLeftoversFromAnEarlierRun_ThenAdoptSkipsThem) {
  FakeTable t;
  t.live = {60000, 42};
  pool::UidPool p(60000, 60005, t);
  ASSERT_TRUE(p.adopt_host_state());
  EXPECT_EQ(*p.acquire(), 60001u);
}

TEST(UidPool, GivenFreeUids_ThenAcquireDoesNotScanTheProcessTable) {
  FakeTable t;
  pool::UidPool p(60000, 60009, t);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(p.acquire());
  EXPECT_EQ(t.scans, 0);
}

TEST(UidPool, GivenAnUnleasedUid_ThenReleaseIgnoresIt) {
  FakeTable t;
  pool::UidPool p(60000, 60000, t);
  p.release(60000);
  p.release(12345);
  EXPECT_EQ(p.draining(), 0u);
  EXPECT_EQ(*p.acquire(), 60000u);
  EXPECT_FALSE(p.acquire());
}

TEST(PortPool, GivenPortsTakenElsewhere_ThenTheLowestFreeOneIsLeased) {
  FakeBinder b;
  b.taken = {20000};
  pool::PortPool p(20000, 20002, b);
  EXPECT_EQ(p.acquire()->port, 20001);
  EXPECT_EQ(p.acquire()->port, 20002);
  auto full = p.acquire();
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, "port_exhausted");
  EXPECT_NE(full.error().message.find("20000-20002"), std::string::npos);
  p.release(20001);
  EXPECT_EQ(p.acquire()->port, 20001);
}

TEST(PortPool, GivenTheLoopbackBinder_ThenALeasedPortCannotBeBoundByAnyoneElse) {
  pool::LoopbackBinder b;
  pool::PortPool p(21900, 21949, b);
  auto lease = p.acquire();
  ASSERT_TRUE(lease) << lease.error().message;
  ASSERT_TRUE(lease->listener.valid());
  // While the daemon holds it, a second bind fails; once closed, it succeeds.
  auto again = b.bind(lease->port);
  EXPECT_FALSE(again);
  lease->listener.reset();
  auto after = b.bind(lease->port);
  EXPECT_TRUE(after) << (after ? "" : after.error().message);
}

TEST(ProcProcessTable, GivenThisProcess_ThenItsUidIsSeen) {
  pool::ProcProcessTable t;
  const uid_t me = ::getuid();
  auto live = t.live_uids(me, me);
  ASSERT_TRUE(live) << live.error().message;
  EXPECT_EQ(live->count(me), 1u);
}
