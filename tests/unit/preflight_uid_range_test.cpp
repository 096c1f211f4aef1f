// uid_range: accounts, live processes, systemd's reserved ranges and gid 0.
#include <gtest/gtest.h>

#include "paddock/config/config.hpp"
#include "paddock/preflight/checks.hpp"
#include "support/preflight_fixtures.hpp"

using namespace paddock;
using namespace paddock::preflight;
using paddock::testsupport::FixtureFs;

namespace {

UidRangeFacts facts(uid_t first, uid_t last) {
  UidRangeFacts f;
  f.first = first;
  f.last = last;
  f.gid = 65534;
  return f;
}

}  // namespace

TEST(PreflightUidRange, GivenTheFixtureProc_WhenScanned_ThenEveryProcessWithItsUids) {
  FixtureFs fs("uid_range");
  const auto procs = scan_processes(fs);
  ASSERT_EQ(procs.size(), 3u);
  EXPECT_EQ(procs[0].pid, 1);
  EXPECT_EQ(procs[1].pid, 4242);
  EXPECT_EQ(procs[1].uids, (std::array<uid_t, 4>{60005, 60005, 60005, 60005}));
  EXPECT_EQ(procs[2].pid, 4343);
}

TEST(PreflightUidRange, GivenAnAccountInTheRange_WhenChecked_ThenErrorNamingIt) {
  // The fixture has svc-report at 60010 and a process under 60005.
  config::Config cfg;
  cfg.process.worker_uid_range_start = 60000;
  cfg.process.worker_uid_range_end = 60099;
  FixtureFs fs("uid_range");
  Context ctx(cfg, fs);
  const auto r = check_uid_range(ctx);
  EXPECT_EQ(r.severity, Severity::Error);
  EXPECT_NE(r.message.find("svc-report (uid 60010)"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("pid 4242 (uid 60005)"), std::string::npos) << r.message;
  EXPECT_EQ(r.details["accounts_in_range"].size(), 1u);
  EXPECT_EQ(r.details["processes_in_range"][0]["pid"], 4242);
  EXPECT_FALSE(r.remedy.empty());
}

TEST(PreflightUidRange, GivenOnlyAProcessInTheRange_WhenEvaluated_ThenWarningWithItsPid) {
  auto f = facts(200000, 200099);  // clear of systemd's reserved ranges
  f.processes.push_back({777, {200003, 200003, 200003, 200003}});
  f.processes.push_back({778, {0, 0, 0, 0}});
  const auto r = evaluate_uid_range(f);
  EXPECT_EQ(r.severity, Severity::Warning);
  EXPECT_NE(r.message.find("pid 777 (uid 200003)"), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("pid 778"), std::string::npos);
}

TEST(PreflightUidRange, GivenAProcessUnderAUidTheDaemonHolds_WhenEvaluated_ThenNotReported) {
  auto f = facts(200000, 200099);
  f.processes.push_back({777, {200003, 200003, 200003, 200003}});
  f.ignore_uids = {200003};
  const auto r = evaluate_uid_range(f);
  EXPECT_EQ(r.severity, Severity::Ok) << r.message;
}

TEST(PreflightUidRange, GivenASavedUidInTheRange_WhenEvaluated_ThenTheProcessCounts) {
  auto f = facts(200000, 200099);
  f.processes.push_back({90, {0, 0, 200050, 0}});
  EXPECT_EQ(evaluate_uid_range(f).severity, Severity::Warning);
}

TEST(PreflightUidRange, GivenTheDefaultRange_WhenEvaluated_ThenWarningAboutSystemdHomed) {
  const auto r = evaluate_uid_range(facts(60000, 60999));
  EXPECT_EQ(r.severity, Severity::Warning);
  EXPECT_NE(r.message.find("60001-60513"), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("61184"), std::string::npos) << r.message;
}

TEST(PreflightUidRange, GivenARangeInsideDynamicUsers_WhenEvaluated_ThenWarningAboutDynamicUser) {
  const auto r = evaluate_uid_range(facts(62000, 62100));
  EXPECT_EQ(r.severity, Severity::Warning);
  EXPECT_NE(r.message.find("61184-65519"), std::string::npos) << r.message;
}

TEST(PreflightUidRange, GivenAClearRange_WhenEvaluated_ThenOk) {
  auto f = facts(60600, 61100);
  f.accounts.push_back({"alice", 1000});
  f.accounts.push_back({"edge", 61101});
  const auto r = evaluate_uid_range(f);
  EXPECT_EQ(r.severity, Severity::Ok) << r.message;
  EXPECT_TRUE(r.remedy.empty());
}

TEST(PreflightUidRange, GivenGidZero_WhenEvaluated_ThenError) {
  auto f = facts(200000, 200099);
  f.gid = 0;
  const auto r = evaluate_uid_range(f);
  EXPECT_EQ(r.severity, Severity::Error);
  EXPECT_NE(r.message.find("worker_gid is 0"), std::string::npos);
}
