// evaluate_worker_network: what network "private" needs on the host, from facts.
#include <gtest/gtest.h>

#include "paddock/preflight/checks.hpp"

namespace paddock::preflight {
namespace {

WorkerNetworkFacts good() {
  WorkerNetworkFacts f;
  f.default_network = "private";
  f.slirp4netns_path = "/usr/bin/slirp4netns";
  f.slirp4netns_runs = true;
  f.slirp4netns_version = "slirp4netns version 1.2.0";
  f.tun_mode = 0666;
  return f;
}

TEST(PreflightWorkerNetwork, GivenEverythingPrivateNeeds_ThenOk) {
  const auto r = evaluate_worker_network(good());
  EXPECT_EQ(r.severity, Severity::Ok) << r.message;
  EXPECT_EQ(r.name, "worker_network");
  EXPECT_NE(r.message.find("slirp4netns version 1.2.0"), std::string::npos) << r.message;
  EXPECT_TRUE(r.remedy.empty());
}

TEST(PreflightWorkerNetwork, GivenTunMode0600_ThenErrorNamingTheModeAndTheChmod) {
  auto f = good();
  f.tun_mode = 0600;
  const auto r = evaluate_worker_network(f);
  EXPECT_EQ(r.severity, Severity::Error);
  EXPECT_NE(r.message.find("/dev/net/tun is mode 600"), std::string::npos) << r.message;
  EXPECT_NE(r.remedy.find("chmod 0666 /dev/net/tun"), std::string::npos) << r.remedy;
  // Only a warning when private is not the default (a request may still ask for it).
  f.default_network = "none";
  EXPECT_EQ(evaluate_worker_network(f).severity, Severity::Warning);
  // An error again when runs default to it.
  f.runs_default_network = "private";
  EXPECT_EQ(evaluate_worker_network(f).severity, Severity::Error);
}

TEST(PreflightWorkerNetwork, GivenNoSlirpNoTunNoUserns_ThenEachIsNamedWithItsRemedy) {
  auto f = good();
  f.slirp4netns_runs = false;
  f.slirp4netns_error = "not found or not executable";
  f.tun_mode.reset();
  f.userns_ok = false;
  const auto r = evaluate_worker_network(f);
  EXPECT_EQ(r.severity, Severity::Error);
  EXPECT_NE(r.message.find("not found or not executable"), std::string::npos) << r.message;
  EXPECT_NE(r.remedy.find("apt-get install slirp4netns"), std::string::npos) << r.remedy;
  EXPECT_NE(r.message.find("/dev/net/tun does not exist"), std::string::npos) << r.message;
  EXPECT_NE(r.remedy.find("DeviceAllow=/dev/net/tun"), std::string::npos) << r.remedy;
  EXPECT_NE(r.remedy.find("user_namespaces"), std::string::npos) << r.remedy;
}

TEST(PreflightWorkerNetwork, GivenAllowHostNetwork_ThenWarningSayingWhatAWorkerCanReach) {
  auto f = good();
  f.allow_host_network = true;
  const auto r = evaluate_worker_network(f);
  EXPECT_EQ(r.severity, Severity::Warning);
  EXPECT_NE(r.message.find("loopback"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("other workers' ports"), std::string::npos) << r.message;
  EXPECT_NE(r.remedy.find("allow_host_network = false"), std::string::npos) << r.remedy;
  // An error stays an error.
  f.tun_mode = 0600;
  EXPECT_EQ(evaluate_worker_network(f).severity, Severity::Error);
}

}  // namespace
}  // namespace paddock::preflight
