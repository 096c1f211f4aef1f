// user_namespaces: sysctls from fixture roots, the AppArmor restriction, and the real start.
#include <gtest/gtest.h>

#include "paddock/preflight/checks.hpp"
#include "support/preflight_fixtures.hpp"

using namespace paddock::preflight;
using paddock::testsupport::FixtureFs;

namespace {

UsernsFacts started(UsernsFacts f) {
  f.start_attempted = true;
  f.start_ok = true;
  return f;
}

}  // namespace

TEST(PreflightUserns, GivenDebianSysctlsAndAStartedSandbox_WhenEvaluated_ThenOk) {
  const auto f = gather_userns_host_facts(FixtureFs("userns_debian"));
  EXPECT_EQ(f.max_user_namespaces, 96365);
  EXPECT_EQ(f.unprivileged_userns_clone, 1);
  EXPECT_FALSE(f.apparmor_restrict);
  EXPECT_EQ(evaluate_userns(started(f)).severity, Severity::Ok);
}

TEST(PreflightUserns, GivenMaxUserNamespacesZero_WhenEvaluated_ThenErrorWithTheSysctl) {
  const auto r = evaluate_userns(started(gather_userns_host_facts(FixtureFs("userns_disabled"))));
  EXPECT_EQ(r.severity, Severity::Error);
  EXPECT_NE(r.remedy.find("user.max_user_namespaces"), std::string::npos);
}

TEST(PreflightUserns, GivenUbuntuRestrictionWithoutTheProfile_WhenEvaluated_ThenInstallAppArmor) {
  const auto f = gather_userns_host_facts(FixtureFs("userns_ubuntu_restricted"));
  EXPECT_EQ(f.apparmor_restrict, 1);
  EXPECT_FALSE(f.apparmor_paddock_profile);
  const auto r = evaluate_userns(started(f));
  EXPECT_EQ(r.severity, Severity::Error);
  EXPECT_EQ(r.remedy, "paddock install-apparmor");
}

TEST(PreflightUserns, GivenUbuntuRestrictionWithTheProfileLoaded_WhenEvaluated_ThenOk) {
  const auto f = gather_userns_host_facts(FixtureFs("userns_ubuntu_with_profile"));
  EXPECT_TRUE(f.apparmor_paddock_profile);
  EXPECT_EQ(evaluate_userns(started(f)).severity, Severity::Ok);
}

TEST(PreflightUserns, GivenDebianUnprivilegedCloneOff_WhenEvaluated_ThenError) {
  auto f = gather_userns_host_facts(FixtureFs("userns_debian"));
  f.unprivileged_userns_clone = 0;
  const auto r = evaluate_userns(started(f));
  EXPECT_EQ(r.severity, Severity::Error);
  EXPECT_NE(r.remedy.find("kernel.unprivileged_userns_clone=1"), std::string::npos);
}

TEST(PreflightUserns, GivenTheRealStartFailed_WhenEvaluated_ThenErrorWithWhatHappened) {
  auto f = gather_userns_host_facts(FixtureFs("userns_debian"));
  f.start_attempted = true;
  f.start_ok = false;
  f.start_detail = "bwrap: setting up uid map: Permission denied";
  const auto r = evaluate_userns(f);
  EXPECT_EQ(r.severity, Severity::Error);
  EXPECT_NE(r.message.find("setting up uid map"), std::string::npos);
}

TEST(PreflightUserns, GivenNoStartAttempted_WhenEvaluated_ThenWarningNotOk) {
  auto f = gather_userns_host_facts(FixtureFs("userns_debian"));
  f.start_detail = "not root";
  EXPECT_EQ(evaluate_userns(f).severity, Severity::Warning);
}

TEST(PreflightUserns, GivenAKernelWithoutUserNamespaces_WhenEvaluated_ThenError) {
  const auto f = gather_userns_host_facts(FixtureFs("cgroup_none"));
  EXPECT_FALSE(f.max_user_namespaces);
  EXPECT_EQ(evaluate_userns(started(f)).severity, Severity::Error);
}
