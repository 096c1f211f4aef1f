// Warm sandboxes: the request the parked helper reads, and when a parked sandbox may serve a run.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include "paddock/sandbox/plan.hpp"
#include "paddock/sandbox/warm.hpp"

using namespace paddock;
using sandbox::Allocation;
using sandbox::WorkerSpec;

namespace {

config::Config test_config() {
  config::Config cfg;
  cfg.source_file = "/etc/paddock/paddock.toml";
  cfg.process.state_dir = "/var/lib/paddock";
  cfg.process.data_root = "/var/lib/paddock/data";
  return cfg;
}

sandbox::SandboxProfile test_profile() {
  sandbox::SandboxProfile p;
  p.name = "shell";
  p.ro_paths = {"/usr"};
  p.env = {{"LANG", "C.UTF-8"}};
  p.env_allow = {"APP_*"};
  p.command = {"/bin/sh"};
  return p;
}

Allocation parked_alloc() {
  Allocation a;
  a.worker_id = "r-AAAAAAAAAAAAAAAAAAAAAA";
  a.uid = 60010;
  a.run_workdir = true;
  a.helper_program =
      "\x7f"
      "ELF helper bytes";
  a.warm_control = true;
  return a;
}

WorkerSpec parked_spec() {
  WorkerSpec s;
  s.profile = "shell";
  s.command = {sandbox::kHelperProgramPath};
  s.network = sandbox::NetworkMode::Private;
  return s;
}

sandbox::SandboxPlan plan(const WorkerSpec& s, const Allocation& a = parked_alloc()) {
  auto p = sandbox::make_plan(s, test_profile(), test_config(), a);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
  return p.ok() ? *p : sandbox::SandboxPlan{};
}

}  // namespace

TEST(WarmRequest, GivenArgumentsOfEveryShape_WhenEncodedAndDecoded_ThenTheyComeBackExactly) {
  const std::vector<std::string> cmd = {"/bin/sh",   "-c", "", "a b", std::string("nul\0in", 6),
                                        "new\nline", "ü"};
  // A NUL inside an argument cannot reach execve; the helper would cut it there. The encoder
  // keeps fields NUL-terminated, so such an argument splits and the decoder notices the count.
  const std::vector<std::string> clean = {"/bin/sh", "-c", "", "a b", "new\nline", "ü", "--"};
  const std::map<std::string, std::string> env = {{"APP_X", "1=2"}, {"LANG", "C.UTF-8"}};
  auto back = sandbox::decode_warm_request(sandbox::encode_warm_request(clean, env));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->command, clean);
  EXPECT_EQ(back->env, (std::vector<std::string>{"APP_X=1=2", "LANG=C.UTF-8"}));
  EXPECT_FALSE(sandbox::decode_warm_request(sandbox::encode_warm_request(cmd, env)).ok());
}

TEST(WarmRequest, GivenDamagedBytes_ThenDecodingFailsInsteadOfGuessing) {
  const std::string good = sandbox::encode_warm_request({"echo", "hi"}, {{"A", "b"}});
  EXPECT_TRUE(sandbox::decode_warm_request(good).ok());
  EXPECT_FALSE(sandbox::decode_warm_request(good.substr(0, good.size() - 1)).ok());
  EXPECT_FALSE(sandbox::decode_warm_request("XXXX" + good.substr(4)).ok());
  EXPECT_FALSE(sandbox::decode_warm_request(good + "x").ok());
  EXPECT_FALSE(sandbox::decode_warm_request(sandbox::encode_warm_request({}, {})).ok());
  EXPECT_EQ(good.substr(0, 4), "PDKW");
  EXPECT_EQ(static_cast<unsigned char>(good[4]), good.size() - 8);
}

TEST(WarmMatch, GivenARunThatDiffersOnlyInCommandAndEnv_ThenTheParkedSandboxServesIt) {
  const auto parked = plan(parked_spec());
  WorkerSpec run = parked_spec();
  run.command = {"/bin/sh", "-c", "echo hi"};
  run.env = {{"APP_X", "1"}};
  WorkerSpec canonical = run;
  canonical.command = parked_spec().command;
  canonical.env.clear();
  EXPECT_TRUE(sandbox::same_sandbox(parked, plan(canonical)));
  // The run's own plan is what the helper gets: its command and its environment.
  const auto real = plan(run);
  EXPECT_EQ(real.command, run.command);
  EXPECT_EQ(real.sandbox_env.at("APP_X"), "1");
  EXPECT_FALSE(sandbox::same_sandbox(parked, real));
}

TEST(WarmMatch, GivenARunNeedingOtherLimitsNetworkUidOrDirectory_ThenItIsNotServed) {
  const auto parked = plan(parked_spec());
  WorkerSpec lower = parked_spec();
  lower.limits.memory_mb = 64;
  EXPECT_FALSE(sandbox::same_sandbox(parked, plan(lower)));
  WorkerSpec none = parked_spec();
  none.network = sandbox::NetworkMode::None;
  EXPECT_FALSE(sandbox::same_sandbox(parked, plan(none)));
  Allocation other_uid = parked_alloc();
  other_uid.uid = 60011;
  EXPECT_FALSE(sandbox::same_sandbox(parked, plan(parked_spec(), other_uid)));
  Allocation no_workdir = parked_alloc();
  no_workdir.run_workdir = false;
  EXPECT_FALSE(sandbox::same_sandbox(parked, plan(parked_spec(), no_workdir)));
  Allocation other_helper = parked_alloc();
  other_helper.helper_program += "x";
  EXPECT_FALSE(sandbox::same_sandbox(parked, plan(parked_spec(), other_helper)));
}

TEST(WarmExit, GivenEveryExitCode_WhenEncodedAndDecoded_ThenItComesBack) {
  for (int code : {0, 1, 3, 127, 128 + 9, 255}) {
    const std::string bytes = sandbox::encode_warm_exit(code);
    EXPECT_EQ(bytes.size(), sandbox::kWarmExitBytes);
    EXPECT_EQ(bytes.substr(0, 4), "PDKX");
    auto back = sandbox::decode_warm_exit(bytes);
    ASSERT_TRUE(back.ok()) << code;
    EXPECT_EQ(*back, code);
  }
  EXPECT_FALSE(sandbox::decode_warm_exit("PDKX").ok());
  EXPECT_FALSE(sandbox::decode_warm_exit("PDKW" + sandbox::encode_warm_exit(1).substr(4)).ok());
  EXPECT_FALSE(sandbox::decode_warm_exit(sandbox::encode_warm_exit(256)).ok());
  EXPECT_FALSE(sandbox::decode_warm_exit(sandbox::encode_warm_exit(1) + "x").ok());
}

// The helper's control socket is one more descriptor for bwrap to pass on, and the helper one
// more process: the run keeps the process budget a cold start would give it.
TEST(WarmPlan, GivenAParkedAllocation_ThenTheControlSocketIsPlannedAndTheHelperCounted) {
  Allocation cold = parked_alloc();
  cold.warm_control = false;
  const auto warm = plan(parked_spec());
  const auto plain = plan(parked_spec(), cold);
  int controls = 0;
  for (const auto& f : warm.fds) {
    if (f.role == sandbox::FdRole::WarmControl) {
      ++controls;
      EXPECT_EQ(f.target, 11);
    }
  }
  EXPECT_EQ(controls, 1);
  for (const auto& f : plain.fds) EXPECT_NE(f.role, sandbox::FdRole::WarmControl);
  auto nproc = [](const sandbox::SandboxPlan& p) {
    for (const auto& l : p.rlimits) {
      if (l.resource == RLIMIT_NPROC) return l.soft;
    }
    return std::uint64_t{0};
  };
  EXPECT_EQ(nproc(warm), nproc(plain) + 1);
  EXPECT_FALSE(sandbox::same_sandbox(warm, plain));
}
