// Preflight against the real host, as root, loopback only: a redis-server started here, listeners
// standing in for the metadata service, iptables owner rules added and removed by the tests,
// probe workers started through the real spawner with the build's seccomp filter and helper,
// and `paddockd preflight` run as operators run it.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "paddock/preflight/checks.hpp"
#include "paddock/preflight/preflight.hpp"
#include "support/listener.hpp"
#include "support/host_sockets.hpp"
#include "support/preflight_fixtures.hpp"
#include "support/redis_server.hpp"
#include "support/spawn_support.hpp"

using namespace paddock;
using namespace paddock::preflight;
using namespace std::chrono_literals;
using paddock::test::RedisServer;
namespace ts = paddock::testsupport;
using paddock::test::Listener;

namespace {

const std::string kBpf = PADDOCK_BINARY_DIR "/profiles/seccomp/default.bpf";
const std::string kProbe = PADDOCK_BINARY_DIR "/src/paddock-probe";

/// A loopback port nothing listens on (bound and released at once).
std::uint16_t closed_port(const std::string& address) {
  Listener l(address);
  return l.port();
}

/// An iptables OUTPUT rule that exists for the lifetime of this object.
class IptablesRule {
 public:
  explicit IptablesRule(std::string spec) : spec_(std::move(spec)) {
    std::string out;
    added_ = paddock::test::run_shell("iptables -w -A OUTPUT " + spec_, &out) == 0;
    error_ = out;
  }
  ~IptablesRule() {
    if (added_) paddock::test::run_shell("iptables -w -D OUTPUT " + spec_);
  }
  bool added() const { return added_; }
  const std::string& error() const { return error_; }

 private:
  std::string spec_;
  bool added_ = false;
  std::string error_;
};

class PreflightIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to start probe workers under worker UIDs";
    ASSERT_EQ(::access("/usr/bin/bwrap", X_OK), 0) << "bubblewrap is not installed";
    ASSERT_EQ(::access(kBpf.c_str(), R_OK), 0) << kBpf << " missing: build the seccomp profiles";
    ASSERT_EQ(::access(kProbe.c_str(), X_OK), 0) << kProbe << " missing: build paddock-probe";
  }

  /// A config over a temporary layout with its own UID block (outside systemd's ranges), the
  /// build's seccomp filter and helper, and the metadata endpoint on a closed loopback port.
  config::Config make_config(uid_t first_uid) {
    auto cfg = layout_.config(first_uid, 100);
    cfg.process.seccomp_profile = kBpf;
    cfg.preflight.probe_path = kProbe;
    cfg.preflight.metadata_endpoint = "127.0.0.1:" + std::to_string(closed_port("127.0.0.1"));
    cfg.preflight.timeout_seconds = 20;
    return cfg;
  }

  static Report run_only(const config::Config& cfg, std::vector<std::string> only) {
    Options opt;
    opt.only = std::move(only);
    return run_all(cfg, opt);
  }

  static const CheckResult& the(const Report& r) {
    EXPECT_EQ(r.results.size(), 1u);
    return r.results.at(0);
  }

  ts::DaemonLayout layout_;
};

std::string explain(const CheckResult& r) {
  return std::string(to_string(r.severity)) + ": " + r.message + "\n" + r.details.dump(2);
}

}  // namespace

TEST_F(PreflightIntegration, GivenRedisWithoutPassword_WhenChecked_ThenRedisAuthIsAnError) {
  if (::access("/usr/bin/redis-server", X_OK) != 0) {
    GTEST_SKIP() << "redis-server is not installed (apt-get install redis-server)";
  }
  RedisServer redis(false);
  ASSERT_TRUE(redis.ready());
  auto cfg = make_config(201000);
  cfg.preflight.redis_urls = {redis.url()};
  const auto r = the(run_only(cfg, {"redis_auth"}));
  EXPECT_EQ(r.severity, Severity::Error) << explain(r);
  EXPECT_EQ(r.details["servers"][0]["reply"], "+PONG");
  EXPECT_NE(r.message.find("read and modify"), std::string::npos);
}

TEST_F(PreflightIntegration, GivenRedisWithRequirepass_WhenChecked_ThenRedisAuthIsOk) {
  if (::access("/usr/bin/redis-server", X_OK) != 0) {
    GTEST_SKIP() << "redis-server is not installed (apt-get install redis-server)";
  }
  RedisServer redis(true);
  ASSERT_TRUE(redis.ready());
  auto cfg = make_config(201000);
  // Credentials in the URL are ignored: the point is that an anonymous client is refused.
  cfg.preflight.redis_urls = {"redis://default:preflight-test-pw@" +
                              redis.url().substr(std::string("redis://").size()) + "/0"};
  const auto r = the(run_only(cfg, {"redis_auth"}));
  EXPECT_EQ(r.severity, Severity::Ok) << explain(r);
  EXPECT_EQ(r.details["servers"][0]["result"], "auth_required");
  EXPECT_EQ(r.message.find("preflight-test-pw"), std::string::npos);
}

TEST_F(PreflightIntegration, GivenRedisUnreachable_WhenChecked_ThenWarning) {
  auto cfg = make_config(201000);
  cfg.preflight.redis_urls = {"redis://127.0.0.1:" + std::to_string(closed_port("127.0.0.1"))};
  EXPECT_EQ(the(run_only(cfg, {"redis_auth"})).severity, Severity::Warning);
}

TEST_F(PreflightIntegration, GivenMetadataEndpointListening_WhenChecked_ThenCloudMetadataError) {
  Listener metadata("127.0.0.1");
  ASSERT_TRUE(metadata.ok());
  auto cfg = make_config(201000);
  cfg.preflight.metadata_endpoint = metadata.endpoint();
  const auto r = the(run_only(cfg, {"cloud_metadata"}));
  EXPECT_EQ(r.severity, Severity::Error) << explain(r);
  EXPECT_NE(r.remedy.find("iptables -A OUTPUT -m owner --gid-owner 65534 -d 127.0.0.1 -j REJECT"),
            std::string::npos)
      << r.remedy;
}

TEST_F(PreflightIntegration, GivenMetadataEndpointClosed_WhenChecked_ThenCloudMetadataOk) {
  auto cfg = make_config(201000);
  const auto r = the(run_only(cfg, {"cloud_metadata"}));
  EXPECT_EQ(r.severity, Severity::Ok) << explain(r);
  cfg.preflight.skip_metadata_check = true;
  EXPECT_EQ(the(run_only(cfg, {"cloud_metadata"})).severity, Severity::Info);
}

TEST_F(PreflightIntegration, GivenAnOwnerRejectRule_WhenWorkerEgressRuns_ThenMetadataTurnsOk) {
  // Its own loopback address, so the rule touches nothing else on the host.
  Listener metadata("127.0.0.77");
  ASSERT_TRUE(metadata.ok());
  auto cfg = make_config(201100);
  cfg.preflight.metadata_endpoint = metadata.endpoint();

  const auto before = the(run_only(cfg, {"worker_egress"}));
  EXPECT_EQ(before.severity, Severity::Error) << explain(before);
  EXPECT_EQ(before.details["targets"][0]["result"], "reachable") << explain(before);
  const std::string rule = "-m owner --gid-owner " + std::to_string(cfg.process.worker_gid) +
                           " -d 127.0.0.77 -p tcp --dport " + std::to_string(metadata.port()) +
                           " -j REJECT";
  EXPECT_NE(before.remedy.find("iptables -A OUTPUT " + rule), std::string::npos) << before.remedy;
  {
    IptablesRule reject(rule);
    ASSERT_TRUE(reject.added()) << reject.error();
    const auto after = the(run_only(cfg, {"worker_egress"}));
    EXPECT_EQ(after.severity, Severity::Ok) << explain(after);
    EXPECT_EQ(after.details["targets"][0]["result"], "unreachable");
    // The rule keeps the workers' group away, not the daemon (root).
    EXPECT_EQ(tcp_connect("127.0.0.77", metadata.port(), 2000ms).reach, Reach::Reachable);
  }
  // The rule is gone again.
  EXPECT_EQ(the(run_only(cfg, {"worker_egress"})).severity, Severity::Error);
}

TEST_F(PreflightIntegration, GivenAnInternalServiceReachable_WhenRuleAdded_ThenWarningTurnsOk) {
  Listener database("127.0.0.78");
  ASSERT_TRUE(database.ok());
  auto cfg = make_config(201200);
  cfg.preflight.database_addr = database.endpoint();
  const auto before = the(run_only(cfg, {"worker_egress"}));
  EXPECT_EQ(before.severity, Severity::Warning) << explain(before);
  IptablesRule reject("-m owner --gid-owner " + std::to_string(cfg.process.worker_gid) +
                      " -d 127.0.0.78 -p tcp --dport " + std::to_string(database.port()) +
                      " -j REJECT");
  ASSERT_TRUE(reject.added()) << reject.error();
  const auto after = the(run_only(cfg, {"worker_egress"}));
  EXPECT_EQ(after.severity, Severity::Ok) << explain(after);
}

TEST_F(PreflightIntegration, GivenAPasswdAccountInTheRange_WhenChecked_ThenUidRangeError) {
  auto cfg = make_config(201000);
  cfg.process.worker_uid_range_start = 60000;
  cfg.process.worker_uid_range_end = 60099;
  Options opt;
  opt.fs = std::make_shared<ts::FixtureFs>("uid_range");  // svc-report has uid 60010
  opt.only = {"uid_range"};
  const auto r = the(run_all(cfg, opt));
  EXPECT_EQ(r.severity, Severity::Error) << explain(r);
  EXPECT_NE(r.message.find("svc-report"), std::string::npos);
  // The real host has no account in this block.
  EXPECT_NE(the(run_only(make_config(201300), {"uid_range"})).severity, Severity::Error);
}

TEST_F(PreflightIntegration, GivenTheDefaultSeccompProfile_WhenTheCanaryRuns_ThenOk) {
  ::setenv("PADDOCK_PREFLIGHT_TEST_SECRET", "canary-secret-81f2", 1);
  const auto r = the(run_only(make_config(201400), {"sandbox_canary"}));
  ::unsetenv("PADDOCK_PREFLIGHT_TEST_SECRET");
  EXPECT_EQ(r.severity, Severity::Ok) << explain(r);
  EXPECT_EQ(r.details["items"]["fds"], "ok 0,1,2");
  const std::string keyctl = r.details["items"]["keyctl"];
  EXPECT_EQ(keyctl, "blocked EPERM");
}

TEST_F(PreflightIntegration, GivenAFilterThatAllowsEverything_WhenTheCanaryRuns_ThenError) {
  // A seccomp program that allows every call: the canary must notice keyctl and io_uring work.
  const std::string bpf = layout_.path("allow-all.bpf");
  {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    ASSERT_NE(ctx, nullptr);
    const int fd = ::open(bpf.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(seccomp_export_bpf(ctx, fd), 0);
    ::close(fd);
    seccomp_release(ctx);
  }
  auto cfg = make_config(201500);
  cfg.process.seccomp_profile = bpf;
  const auto r = the(run_only(cfg, {"sandbox_canary"}));
  EXPECT_EQ(r.severity, Severity::Error) << explain(r);
  EXPECT_NE(r.message.find("keyctl: allowed"), std::string::npos) << r.message;
}

TEST_F(PreflightIntegration, GivenRoot_WhenUidMappingAndUserNamespacesRun_ThenBothOk) {
  const auto report = run_only(make_config(201600), {"bwrap_host_uid_mapping", "user_namespaces"});
  ASSERT_EQ(report.results.size(), 2u);
  for (const auto& r : report.results) EXPECT_EQ(r.severity, Severity::Ok) << r.name << explain(r);
  const auto* m = report.find("bwrap_host_uid_mapping");
  ASSERT_NE(m, nullptr);
  const auto uid = m->details["allocated_uid"].get<uid_t>();
  EXPECT_GE(uid, 201600u);
  EXPECT_LE(uid, 201699u);
  const std::string u = std::to_string(uid);
  EXPECT_EQ(m->details["host_uid_line"], u + "\t" + u + "\t" + u + "\t" + u);
}

TEST_F(PreflightIntegration, GivenACleanLoopbackConfig_WhenEverythingRuns_ThenNoErrors) {
  const auto report = run_all(make_config(201700));
  ASSERT_EQ(report.results.size(), check_names().size());
  for (const auto& r : report.results) {
    EXPECT_NE(r.severity, Severity::Error) << r.name << ": " << explain(r);
  }
  EXPECT_FALSE(report.has_error);
}

namespace {

/// Writes a paddock.toml for the CLI test; `metadata` is the endpoint to use.
std::string write_cli_config(const ts::DaemonLayout& layout, const std::string& name,
                             const std::string& metadata) {
  const std::string path = layout.path("etc/" + name);
  std::ofstream f(path);
  f << "[server]\n"
    << "listen = [\"127.0.0.1:18099\"]\n"
    << "socket = \"" << layout.path("run/paddock.sock") << "\"\n"
    << "token_file = \"" << layout.path("etc/tokens") << "\"\n"
    << "[process]\n"
    << "seccomp_profile = \"" << kBpf << "\"\n"
    << "sandbox_profiles_dir = \"" PADDOCK_SOURCE_DIR "/profiles/sandbox\"\n"
    << "worker_uid_range_start = 201800\nworker_uid_range_end = 201899\n"
    << "state_dir = \"" << layout.path("state") << "\"\n"
    << "data_root = \"" << layout.path("state/data") << "\"\n"
    << "bundle_roots = [\"" << layout.path("bundles") << "\"]\n"
    << "[preflight]\n"
    << "metadata_endpoint = \"" << metadata << "\"\n"
    << "timeout_seconds = 20\n"
    << "[log]\n"
    << "audit_log = \"" << layout.path("log/audit.log") << "\"\n";
  return path;
}

}  // namespace

TEST_F(PreflightIntegration, GivenTheCli_WhenAnErrorIsFound_ThenExit1ElseExit0) {
  // No probe_path in these files: paddockd finds paddock-probe next to itself.
  const std::string clean = write_cli_config(
      layout_, "clean.toml", "127.0.0.1:" + std::to_string(closed_port("127.0.0.1")));
  std::string out;
  EXPECT_EQ(
      paddock::test::run_shell(std::string(PADDOCKD_PATH) + " preflight --config " + clean, &out),
      0)
      << out;
  EXPECT_NE(out.find("sandbox_canary"), std::string::npos) << out;
  EXPECT_NE(out.find(" 0 error"), std::string::npos) << out;
  EXPECT_EQ(out.find("\x1b["), std::string::npos) << "no colour when stdout is not a terminal";

  Listener metadata("127.0.0.1");
  ASSERT_TRUE(metadata.ok());
  const std::string bad = write_cli_config(layout_, "bad.toml", metadata.endpoint());
  EXPECT_EQ(
      paddock::test::run_shell(std::string(PADDOCKD_PATH) + " preflight --config " + bad, &out), 1)
      << out;
  EXPECT_NE(out.find("cloud_metadata"), std::string::npos) << out;

  EXPECT_EQ(paddock::test::run_shell(
                std::string(PADDOCKD_PATH) + " preflight --json --config " + bad, &out),
            1);
  const auto j = nlohmann::json::parse(out.substr(out.find('{')), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_EQ(j["has_error"], true);
}
