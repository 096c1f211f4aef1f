// Report JSON, the terminal table, and run_all with a fake prober over fixture host roots.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "paddock/config/config.hpp"
#include "paddock/preflight/preflight.hpp"
#include "support/preflight_fixtures.hpp"

using namespace paddock;
using namespace paddock::preflight;
using paddock::testsupport::FixtureFs;

namespace {

CheckResult result(const std::string& name, Severity s, const std::string& msg,
                   const std::string& remedy = "") {
  CheckResult r;
  r.name = name;
  r.severity = s;
  r.message = msg;
  r.remedy = remedy;
  return r;
}

/// A prober that answers like a healthy sandbox, or sleeps first.
class FakeProber : public SandboxProber {
 public:
  Result<ProbeRun> run(const std::string& purpose, const std::vector<std::string>& args,
                       std::chrono::milliseconds) override {
    ++runs;
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    ProbeRun r;
    r.uid = 60001;
    r.exit_status = 0;
    if (purpose == "userns") r.out = "hello ok uid=60001 gid=65534\n";
    if (purpose == "canary") {
      last_canary_args = args;
      r.out =
          "keyctl blocked EPERM\nio_uring_setup blocked EPERM\nunshare_newuser blocked ENOSPC\n"
          "mount blocked EPERM\nunknown_syscall enosys\nsocket_tipc blocked EAFNOSUPPORT\n"
          "tiocsetd blocked EPERM\nroot_readonly ok\nthreads ok\nenviron ok entries=2\n"
          "fds ok 0,1,2\n";
    }
    if (purpose == "egress") {
      for (std::size_t i = 2; i < args.size(); ++i) r.out += "connect " + args[i] + " reachable\n";
    }
    return r;
  }
  Result<UidObservation> observe_uid(std::chrono::milliseconds) override {
    return UidObservation{60002, 99, "60002\t60002\t60002\t60002", "65534\t65534\t65534\t65534"};
  }
  std::atomic<int> runs{0};
  std::chrono::milliseconds delay{0};
  std::vector<std::string> last_canary_args;
};

config::Config test_config() {
  config::Config cfg;
  cfg.process.worker_uid_range_start = 200000;
  cfg.process.worker_uid_range_end = 200099;
  cfg.process.seccomp_profile = "/nonexistent/default.bpf";
  cfg.preflight.metadata_endpoint = "127.0.0.1:1";
  cfg.preflight.timeout_seconds = 5;
  return cfg;
}

}  // namespace

TEST(PreflightReport, GivenResults_WhenSerialised_ThenEveryFieldAndTheCounts) {
  auto r1 = result("a", Severity::Ok, "fine");
  r1.duration_ms = 12;
  r1.details = {{"k", 1}};
  const auto report = make_report(
      {r1, result("b", Severity::Error, "bad", "fix it"), result("c", Severity::Info, "fyi")});
  EXPECT_TRUE(report.has_error);
  const auto j = report.to_json();
  EXPECT_EQ(j["has_error"], true);
  EXPECT_EQ(j["counts"]["ok"], 1);
  EXPECT_EQ(j["counts"]["error"], 1);
  EXPECT_EQ(j["counts"]["info"], 1);
  EXPECT_EQ(j["counts"]["warning"], 0);
  EXPECT_EQ(j["results"][0]["name"], "a");
  EXPECT_EQ(j["results"][0]["severity"], "ok");
  EXPECT_EQ(j["results"][0]["duration_ms"], 12);
  EXPECT_EQ(j["results"][0]["details"]["k"], 1);
  EXPECT_EQ(j["results"][1]["remedy"], "fix it");
  ASSERT_NE(report.find("c"), nullptr);
  EXPECT_EQ(report.find("zzz"), nullptr);
  EXPECT_FALSE(make_report({r1}).has_error);
  EXPECT_EQ(worst(Severity::Warning, Severity::Info), Severity::Warning);
}

TEST(PreflightTable, GivenAReport_WhenFormattedWithoutColour_ThenAlignedRowsRemediesAndSummary) {
  const auto report = make_report(
      {result("bwrap_available", Severity::Ok, "bwrap 0.8.0"),
       result("worker_egress", Severity::Error, "a worker can reach metadata",
              "add these rules:\niptables -A OUTPUT -m owner --gid-owner 65534 -d 169.254.169.254 "
              "-p tcp --dport 80 -j REJECT")});
  const std::string t = format_table(report, false);
  EXPECT_EQ(t.find("\x1b["), std::string::npos);
  EXPECT_NE(t.find("CHECK            RESULT   MESSAGE\n"), std::string::npos) << t;
  EXPECT_NE(t.find("bwrap_available  ok       bwrap 0.8.0\n"), std::string::npos) << t;
  EXPECT_NE(t.find("worker_egress    error    a worker can reach metadata\n"), std::string::npos)
      << t;
  // The command stays on one line, so it can be copied.
  EXPECT_NE(t.find("     iptables -A OUTPUT -m owner --gid-owner 65534 -d 169.254.169.254 -p tcp "
                   "--dport 80 -j REJECT\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("fix: add these rules:"), std::string::npos) << t;
  EXPECT_NE(t.find("2 checks: 1 ok, 0 info, 0 warning, 1 error"), std::string::npos) << t;
}

TEST(PreflightTable, GivenColour_WhenFormatted_ThenSeveritiesAreColouredAndLongTextWraps) {
  const std::string long_msg(30, 'x');
  std::string words;
  for (int i = 0; i < 40; ++i) words += "word" + std::to_string(i) + " ";
  const auto report =
      make_report({result("a", Severity::Warning, words), result("b", Severity::Error, long_msg)});
  const std::string t = format_table(report, true);
  EXPECT_NE(t.find("\x1b[33mwarning\x1b[0m"), std::string::npos);
  EXPECT_NE(t.find("\x1b[1;31merror\x1b[0m"), std::string::npos);
  std::istringstream in(t);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    // Colour codes aside, no line is wider than 100 columns.
    std::string plain = line;
    for (auto p = plain.find("\x1b["); p != std::string::npos; p = plain.find("\x1b[")) {
      plain.erase(p, plain.find('m', p) - p + 1);
    }
    EXPECT_LE(plain.size(), 100u) << plain;
  }
  EXPECT_GT(lines, 5);
}

TEST(PreflightRun, GivenAFakeSandboxAndFixtures_WhenAllRun_ThenEveryCheckInOrder) {
  auto prober = std::make_shared<FakeProber>();
  Options opt;
  opt.fs = std::make_shared<FixtureFs>("cgroup_hybrid");
  opt.prober = prober;
  opt.as_root = true;
  opt.daemon_env_names = std::vector<std::string>{"PATH", "PADDOCK_TOKEN", "LANG", "HOME"};
  const auto cfg = test_config();
  const auto report = run_all(cfg, opt);
  std::vector<std::string> names;
  for (const auto& r : report.results) names.push_back(r.name);
  EXPECT_EQ(names, check_names());
  // seccomp_profile points nowhere: an error, so the whole report has one.
  EXPECT_EQ(report.find("seccomp_profile")->severity, Severity::Error);
  EXPECT_TRUE(report.has_error);
  EXPECT_EQ(report.find("sandbox_canary")->severity, Severity::Ok)
      << report.find("sandbox_canary")->message;
  EXPECT_EQ(report.find("bwrap_host_uid_mapping")->severity, Severity::Ok);
  EXPECT_EQ(report.find("cgroup_delegation")->severity, Severity::Warning);
  // The fake reports every endpoint reachable; the only one here is the metadata endpoint.
  EXPECT_EQ(report.find("worker_egress")->severity, Severity::Error);
  EXPECT_EQ(prober->runs.load(), 3);  // userns, egress, canary
  // PATH and LANG are bwrap's own by design; the rest of the names go to the canary.
  EXPECT_EQ(prober->last_canary_args,
            (std::vector<std::string>{"canary", "PADDOCK_TOKEN", "HOME"}));
}

TEST(PreflightRun, GivenOnlyAndAnUnknownName_WhenRun_ThenThoseResultsAndAnErrorForTheUnknown) {
  Options opt;
  opt.fs = std::make_shared<FixtureFs>("uid_range");
  opt.prober = std::make_shared<FakeProber>();
  opt.only = {"uid_range", "no_such_check"};
  auto cfg = test_config();
  cfg.process.worker_uid_range_start = 60000;
  cfg.process.worker_uid_range_end = 60099;
  const auto report = run_all(cfg, opt);
  ASSERT_EQ(report.results.size(), 2u);
  EXPECT_EQ(report.results[0].name, "uid_range");
  EXPECT_EQ(report.results[0].severity, Severity::Error);  // svc-report at 60010
  EXPECT_EQ(report.results[1].name, "no_such_check");
  EXPECT_EQ(report.results[1].severity, Severity::Error);
}

TEST(PreflightRun, GivenNoRoot_WhenSandboxChecksRun_ThenNothingIsSpawnedAndNoErrors) {
  auto prober = std::make_shared<FakeProber>();
  Options opt;
  opt.fs = std::make_shared<FixtureFs>("userns_debian");
  opt.prober = prober;
  opt.as_root = false;
  opt.only = {"user_namespaces", "bwrap_host_uid_mapping", "worker_egress", "sandbox_canary"};
  const auto report = run_all(test_config(), opt);
  EXPECT_EQ(prober->runs.load(), 0);
  EXPECT_FALSE(report.has_error);
  EXPECT_EQ(report.find("bwrap_host_uid_mapping")->severity, Severity::Info);
}

TEST(PreflightRun, GivenACheckThatHangs_WhenRun_ThenItIsReportedAsTimedOut) {
  auto prober = std::make_shared<FakeProber>();
  prober->delay = std::chrono::milliseconds(2500);
  Options opt;
  opt.fs = std::make_shared<FixtureFs>("userns_debian");
  opt.prober = prober;
  opt.as_root = true;
  opt.only = {"sandbox_canary"};
  auto cfg = test_config();
  cfg.preflight.timeout_seconds = 1;
  const auto report = run_all(cfg, opt);
  ASSERT_EQ(report.results.size(), 1u);
  EXPECT_EQ(report.results[0].severity, Severity::Error);
  EXPECT_NE(report.results[0].message.find("did not finish within 1 s"), std::string::npos);
  // The check's thread still finishes on its own; wait for it so the test leaves nothing behind.
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
}

TEST(PreflightRun, GivenRunAsync_WhenItFinishes_ThenTheCallbackGetsTheReport) {
  Options opt;
  opt.fs = std::make_shared<FixtureFs>("uid_range");
  opt.prober = std::make_shared<FakeProber>();
  opt.only = {"uid_range"};
  std::promise<Report> got;
  auto t = run_async(test_config(), opt, [&](Report r) { got.set_value(std::move(r)); });
  auto fut = got.get_future();
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  t.join();
  const auto report = fut.get();
  ASSERT_EQ(report.results.size(), 1u);
  EXPECT_EQ(report.results[0].name, "uid_range");
}
