// cgroup_delegation: the facts read from fixture host roots and the decision made from them.
#include <gtest/gtest.h>

#include "paddock/preflight/checks.hpp"
#include "support/preflight_fixtures.hpp"

using namespace paddock::preflight;
using paddock::testsupport::FixtureFs;

namespace {

const std::string kOwnDir = "/sys/fs/cgroup/system.slice/paddock.service";

}  // namespace

TEST(PreflightCgroup, GivenPureV2Delegated_WhenEvaluated_ThenOkWithTheIptablesCgroupRecipe) {
  FixtureFs fs("cgroup_v2");
  fs.xattrs[kOwnDir + "|trusted.delegate"] = "1";
  const auto facts = gather_cgroup_facts(fs);
  ASSERT_TRUE(facts.cgroup2_mount);
  EXPECT_EQ(*facts.cgroup2_mount, "/sys/fs/cgroup");
  EXPECT_FALSE(facts.v1_controllers_mounted);
  EXPECT_EQ(facts.own_cgroup, "/system.slice/paddock.service");
  EXPECT_EQ(facts.controllers, (std::vector<std::string>{"cpuset", "cpu", "io", "memory", "pids"}));
  EXPECT_TRUE(facts.writable);
  EXPECT_TRUE(facts.delegated);
  EXPECT_TRUE(facts.iptables_cgroup_match);
  EXPECT_EQ(workers_cgroup_path(facts), kOwnDir + "/workers");

  const auto r = evaluate_cgroup(facts, 65534);
  EXPECT_EQ(r.severity, Severity::Ok) << r.message;
  EXPECT_NE(r.remedy.find("iptables -A OUTPUT -m cgroup --path /system.slice/paddock.service/"
                          "workers -d 169.254.169.254 -j REJECT"),
            std::string::npos)
      << r.remedy;
  EXPECT_EQ(r.details["workers_path"], kOwnDir + "/workers");
}

TEST(PreflightCgroup,
     GivenADaemonThatMovedItselfToDaemon_WhenGathered_ThenTheDelegatedParentCounts) {
  // cgroup::Manager puts the running daemon in <own>/daemon next to <own>/workers; a preflight
  // run afterwards (POST /v1/preflight/run) must still name <own>/workers in its recipe.
  FixtureFs fs("cgroup_v2_set_up");
  fs.xattrs[kOwnDir + "|trusted.delegate"] = "1";
  const auto facts = gather_cgroup_facts(fs);
  EXPECT_EQ(facts.own_cgroup, "/system.slice/paddock.service");
  EXPECT_TRUE(facts.delegated);
  EXPECT_EQ(workers_cgroup_path(facts), kOwnDir + "/workers");
  const auto r = evaluate_cgroup(facts, 65534);
  EXPECT_NE(r.remedy.find("--path /system.slice/paddock.service/workers "), std::string::npos)
      << r.remedy;
}

TEST(PreflightCgroup, GivenPureV2WithoutTheCgroupMatch_WhenEvaluated_ThenInfoSaysModprobe) {
  FixtureFs fs("cgroup_v2");
  fs.xattrs[kOwnDir + "|trusted.delegate"] = "1";
  auto facts = gather_cgroup_facts(fs);
  facts.iptables_cgroup_match = false;
  const auto r = evaluate_cgroup(facts, 65534);
  EXPECT_EQ(r.severity, Severity::Info);
  EXPECT_NE(r.remedy.find("modprobe xt_cgroup"), std::string::npos);
}

TEST(PreflightCgroup, GivenPureV2NotWritable_WhenEvaluated_ThenWarningAsksForDelegateYes) {
  FixtureFs fs("cgroup_v2");
  fs.xattrs[kOwnDir + "|trusted.delegate"] = "1";
  fs.read_only.insert(kOwnDir);
  const auto facts = gather_cgroup_facts(fs);
  EXPECT_FALSE(facts.writable);
  const auto r = evaluate_cgroup(facts, 65534);
  EXPECT_EQ(r.severity, Severity::Warning);
  EXPECT_NE(r.message.find("not writable"), std::string::npos) << r.message;
  EXPECT_NE(r.remedy.find("Delegate=yes"), std::string::npos) << r.remedy;
}

TEST(PreflightCgroup, GivenPureV2NotDelegated_WhenEvaluated_ThenWarningAsksForDelegateYes) {
  FixtureFs fs("cgroup_v2");  // no trusted.delegate xattr
  const auto facts = gather_cgroup_facts(fs);
  EXPECT_TRUE(facts.writable);
  EXPECT_FALSE(facts.delegated);
  const auto r = evaluate_cgroup(facts, 65534);
  EXPECT_EQ(r.severity, Severity::Warning);
  EXPECT_NE(r.message.find("not delegated"), std::string::npos) << r.message;
  EXPECT_NE(r.remedy.find("Delegate=yes"), std::string::npos) << r.remedy;
}

TEST(PreflightCgroup, GivenHybridHierarchy_WhenEvaluated_ThenWarningWithUnifiedBootAndOwnerRule) {
  FixtureFs fs("cgroup_hybrid");
  const auto facts = gather_cgroup_facts(fs);
  ASSERT_TRUE(facts.cgroup2_mount);
  EXPECT_EQ(*facts.cgroup2_mount, "/sys/fs/cgroup/unified");
  EXPECT_TRUE(facts.v1_controllers_mounted);
  EXPECT_EQ(facts.own_cgroup, "/");
  EXPECT_TRUE(facts.controllers.empty());
  const auto r = evaluate_cgroup(facts, 65534);
  EXPECT_EQ(r.severity, Severity::Warning);
  EXPECT_NE(r.message.find("hybrid"), std::string::npos) << r.message;
  EXPECT_NE(r.remedy.find("systemd.unified_cgroup_hierarchy=1"), std::string::npos);
  EXPECT_NE(r.remedy.find("iptables -A OUTPUT -m owner --gid-owner 65534 -d 169.254.169.254 "
                          "-j REJECT"),
            std::string::npos)
      << r.remedy;
  EXPECT_EQ(r.details["hybrid"], true);
}

TEST(PreflightCgroup, GivenNoCgroup2_WhenEvaluated_ThenWarningSaysCgroupV2IsNotMounted) {
  FixtureFs fs("cgroup_none");
  const auto facts = gather_cgroup_facts(fs);
  EXPECT_FALSE(facts.cgroup2_mount);
  EXPECT_TRUE(facts.v1_controllers_mounted);
  EXPECT_EQ(facts.own_cgroup, "");
  const auto r = evaluate_cgroup(facts, 4242);
  EXPECT_EQ(r.severity, Severity::Warning);
  EXPECT_NE(r.message.find("not mounted"), std::string::npos) << r.message;
  EXPECT_NE(r.remedy.find("--gid-owner 4242"), std::string::npos) << r.remedy;
}
