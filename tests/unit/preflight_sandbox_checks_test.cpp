// worker_egress, sandbox_canary and bwrap_host_uid_mapping: decisions from what the probe helper
// printed (fake runs here; the real helper runs in the integration tests).
#include <gtest/gtest.h>

#include "paddock/config/config.hpp"
#include "paddock/preflight/checks.hpp"

using namespace paddock;
using namespace paddock::preflight;

namespace {

ProbeRun ran(const std::string& out) {
  ProbeRun r;
  r.uid = 60001;
  r.exit_status = 0;
  r.out = out;
  return r;
}

const char* kCleanCanary =
    "keyctl blocked EPERM\n"
    "io_uring_setup blocked EPERM\n"
    "unshare_newuser blocked EPERM\n"
    "mount blocked EPERM\n"
    "unknown_syscall enosys\n"
    "socket_tipc blocked EAFNOSUPPORT\n"
    "tiocsetd blocked EPERM\n"
    "root_readonly ok\n"
    "threads ok\n"
    "environ ok entries=2\n"
    "fds ok 0,1,2\n";

std::vector<EgressTarget> targets() {
  config::Config cfg;
  cfg.preflight.metadata_endpoint = "127.0.0.5:8080";
  cfg.preflight.redis_urls = {"redis://:pw@127.0.0.6:6379/1", "rediss://127.0.0.7:6380"};
  cfg.preflight.vault_addr = "[::1]:8200";
  cfg.preflight.database_addr = "";
  return egress_targets(cfg);
}

}  // namespace

TEST(PreflightEgress, GivenTheConfig_WhenTargetsAreListed_ThenOnlyConfiguredEndpoints) {
  const auto t = targets();
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].kind, "metadata");
  EXPECT_EQ(probe_address(t[0].address, t[0].port), "127.0.0.5:8080");
  EXPECT_EQ(t[1].kind, "redis");
  EXPECT_EQ(t[1].label, "redis://127.0.0.6:6379/1");
  EXPECT_EQ(probe_address(t[2].address, t[2].port), "127.0.0.7:6380");
  EXPECT_EQ(t[3].kind, "vault");
  EXPECT_EQ(probe_address(t[3].address, t[3].port), "[::1]:8200");
}

TEST(PreflightEgress, GivenNothingReachable_WhenEvaluated_ThenOk) {
  const auto r = evaluate_egress(targets(),
                                 ran("connect 127.0.0.5:8080 unreachable ECONNREFUSED\n"
                                     "connect 127.0.0.6:6379 unreachable timeout\n"
                                     "connect 127.0.0.7:6380 unreachable ECONNREFUSED\n"
                                     "connect [::1]:8200 unreachable ECONNREFUSED\n"),
                                 65534);
  EXPECT_EQ(r.severity, Severity::Ok) << r.message;
  EXPECT_EQ(r.details["targets"][1]["result"], "unreachable");
}

TEST(PreflightEgress, GivenMetadataReachable_WhenEvaluated_ThenErrorWithTheOwnerRule) {
  const auto r = evaluate_egress(targets(),
                                 ran("connect 127.0.0.5:8080 reachable\n"
                                     "connect 127.0.0.6:6379 unreachable timeout\n"
                                     "connect 127.0.0.7:6380 unreachable ECONNREFUSED\n"
                                     "connect [::1]:8200 unreachable ECONNREFUSED\n"),
                                 65534);
  EXPECT_EQ(r.severity, Severity::Error);
  EXPECT_NE(r.remedy.find("iptables -A OUTPUT -m owner --gid-owner 65534 -d 127.0.0.5 -p tcp "
                          "--dport 8080 -j REJECT"),
            std::string::npos)
      << r.remedy;
  EXPECT_NE(r.remedy.find("nft add rule inet filter output meta skgid 65534 ip daddr 127.0.0.5 "
                          "tcp dport 8080 reject"),
            std::string::npos)
      << r.remedy;
}

TEST(PreflightEgress, GivenAnInternalServiceReachable_WhenEvaluated_ThenWarningWithItsRule) {
  const auto r = evaluate_egress(targets(),
                                 ran("connect 127.0.0.5:8080 unreachable ECONNREFUSED\n"
                                     "connect 127.0.0.6:6379 unreachable ECONNREFUSED\n"
                                     "connect 127.0.0.7:6380 unreachable ECONNREFUSED\n"
                                     "connect [::1]:8200 reachable\n"),
                                 1234);
  EXPECT_EQ(r.severity, Severity::Warning);
  EXPECT_NE(r.remedy.find("ip6tables -A OUTPUT -m owner --gid-owner 1234 -d ::1 -p tcp --dport "
                          "8200 -j REJECT"),
            std::string::npos)
      << r.remedy;
}

TEST(PreflightEgress, GivenATargetTheProbeDidNotReport_WhenEvaluated_ThenError) {
  const auto r =
      evaluate_egress(targets(), ran("connect 127.0.0.5:8080 unreachable ECONNREFUSED\n"), 65534);
  EXPECT_EQ(r.severity, Severity::Error);
  EXPECT_NE(r.message.find("did not report"), std::string::npos);
}

TEST(PreflightEgress, GivenTheProbeCouldNotStart_WhenEvaluated_ThenError) {
  const auto r = evaluate_egress(targets(), make_error("spawn", "setresuid(60001): EPERM"), 65534);
  EXPECT_EQ(r.severity, Severity::Error);
  EXPECT_NE(r.message.find("setresuid(60001)"), std::string::npos);
}

TEST(PreflightEgress, GivenAnUnparsableEndpoint_WhenEvaluated_ThenWarningNotProbed) {
  config::Config cfg;
  cfg.preflight.metadata_endpoint = "nonsense";
  const auto t = egress_targets(cfg);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_FALSE(t[0].problem.empty());
  EXPECT_EQ(evaluate_egress(t, ProbeRun{}, 65534).severity, Severity::Warning);
}

TEST(PreflightCanary, GivenEveryExpectedLine_WhenEvaluated_ThenOk) {
  const auto r = evaluate_canary(ran(kCleanCanary));
  EXPECT_EQ(r.severity, Severity::Ok) << r.message;
  EXPECT_EQ(r.details["items"]["fds"], "ok 0,1,2");
}

TEST(PreflightCanary, GivenEachSurprise_WhenEvaluated_ThenErrorNamingIt) {
  const std::vector<std::pair<std::string, std::string>> swaps{
      {"keyctl blocked EPERM", "keyctl allowed returned 123"},
      {"io_uring_setup blocked EPERM", "io_uring_setup allowed returned 3"},
      {"unshare_newuser blocked EPERM", "unshare_newuser allowed returned 0"},
      {"mount blocked EPERM", "mount allowed returned 0"},
      {"unknown_syscall enosys", "unknown_syscall wrong EPERM"},
      {"socket_tipc blocked EAFNOSUPPORT", "socket_tipc allowed returned 3"},
      {"tiocsetd blocked EPERM", "tiocsetd allowed ENOTTY"},
      {"root_readonly ok", "root_readonly writable /paddock-canary"},
      {"threads ok", "threads fail pthread_create:EAGAIN"},
      {"environ ok entries=2", "environ leak PADDOCK_TOKEN"},
      {"fds ok 0,1,2", "fds extra 0,1,2,7"},
  };
  for (const auto& [from, to] : swaps) {
    std::string out = kCleanCanary;
    out.replace(out.find(from), from.size(), to);
    const auto r = evaluate_canary(ran(out));
    EXPECT_EQ(r.severity, Severity::Error) << to;
    EXPECT_NE(r.message.find(to.substr(to.find(' ') + 1)), std::string::npos) << r.message;
  }
}

TEST(PreflightCanary, GivenAMissingLineOrAFailedRun_WhenEvaluated_ThenError) {
  std::string out = kCleanCanary;
  out.erase(out.find("threads ok\n"), 11);
  const auto r = evaluate_canary(ran(out));
  EXPECT_EQ(r.severity, Severity::Error);
  EXPECT_NE(r.message.find("threads: not reported"), std::string::npos);
  EXPECT_EQ(evaluate_canary(make_error("probe_missing", "no helper")).severity, Severity::Error);
}

TEST(PreflightUidMapping, GivenTheHostSeesTheAllocatedUid_WhenEvaluated_ThenOk) {
  UidObservation o{60007, 1234, "60007\t60007\t60007\t60007", "65534\t65534\t65534\t65534"};
  EXPECT_EQ(evaluate_uid_mapping(true, o).severity, Severity::Ok);
}

TEST(PreflightUidMapping, GivenAnotherHostUid_WhenEvaluated_ThenError) {
  UidObservation o{60007, 1234, "0\t0\t0\t0", "0\t0\t0\t0"};
  const auto r = evaluate_uid_mapping(true, o);
  EXPECT_EQ(r.severity, Severity::Error);
  EXPECT_NE(r.message.find("60007"), std::string::npos);
  UidObservation partial{60007, 1234, "60007\t60007\t0\t60007", ""};
  EXPECT_EQ(evaluate_uid_mapping(true, partial).severity, Severity::Error);
}

TEST(PreflightUidMapping, GivenANonRootDaemon_WhenEvaluated_ThenInfoPointingAtCgroups) {
  const auto r = evaluate_uid_mapping(false, make_error("x", "y"));
  EXPECT_EQ(r.severity, Severity::Info);
  EXPECT_NE(r.remedy.find("cgroup_delegation"), std::string::npos);
}
