// make_plan: the security properties of the bwrap command line it builds.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <algorithm>

#include "paddock/sandbox/paths.hpp"
#include "paddock/sandbox/plan.hpp"

using namespace paddock;
using sandbox::Allocation;
using sandbox::SandboxPlan;
using sandbox::SandboxProfile;
using sandbox::WorkerSpec;

namespace {

config::Config test_config() {
  config::Config cfg;
  cfg.source_file = "/etc/paddock/paddock.toml";
  cfg.server.token_file = "/etc/paddock/tokens";
  cfg.server.socket = "/run/paddock/paddock.sock";
  cfg.process.state_dir = "/var/lib/paddock";
  cfg.process.data_root = "/var/lib/paddock/data";
  cfg.process.bundle_roots = {"/srv/paddock/bundles"};
  cfg.log.audit_log = "/var/log/paddock/audit.log";
  return cfg;
}

SandboxProfile test_profile() {
  SandboxProfile p;
  p.name = "test";
  p.ro_paths = {"/usr"};
  p.ro_paths_try = {"/etc/ssl", "/etc/localtime"};
  p.symlinks = {{"usr/bin", "/bin"}, {"usr/lib", "/lib"}};
  p.env = {{"LANG", "C.UTF-8"}};
  p.env_allow = {"TZ", "APP_*"};
  p.command = {"/bin/sh"};
  return p;
}

Allocation test_alloc() {
  Allocation a;
  a.worker_id = "w-1";
  a.uid = 60012;
  return a;
}

WorkerSpec bundle_spec() {
  WorkerSpec s;
  s.bundle = "/srv/paddock/bundles/app1";
  return s;
}

Allocation bundle_alloc() {
  Allocation a = test_alloc();
  a.bundle_path = "/srv/paddock/bundles/app1";
  return a;
}

bool has(const std::vector<std::string>& argv, const std::string& flag) {
  return std::find(argv.begin(), argv.end(), flag) != argv.end();
}

/// argv[i+1..] after the first occurrence of `flag`.
std::vector<std::string> after(const std::vector<std::string>& argv, const std::string& flag,
                               std::size_t n) {
  auto it = std::find(argv.begin(), argv.end(), flag);
  if (it == argv.end() || static_cast<std::size_t>(argv.end() - it) <= n) return {};
  return {it + 1, it + 1 + static_cast<long>(n)};
}

/// Every (source, dest) of --bind/--ro-bind/--bind-try/--ro-bind-try/--dev-bind before "--".
std::vector<std::pair<std::string, std::string>> binds(const std::vector<std::string>& argv) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t i = 0; i + 2 < argv.size() && argv[i] != "--"; ++i) {
    const auto& a = argv[i];
    if (a == "--bind" || a == "--ro-bind" || a == "--bind-try" || a == "--ro-bind-try" ||
        a == "--dev-bind" || a == "--dev-bind-try") {
      out.emplace_back(argv[i + 1], argv[i + 2]);
      i += 2;
    }
  }
  return out;
}

std::vector<std::string> setenv_names(const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i + 2 < argv.size() && argv[i] != "--"; ++i) {
    if (argv[i] == "--setenv") {
      out.push_back(argv[i + 1]);
      i += 2;
    }
  }
  return out;
}

SandboxPlan plan_ok(const WorkerSpec& spec, const SandboxProfile& profile,
                    const config::Config& cfg, const Allocation& alloc) {
  auto p = sandbox::make_plan(spec, profile, cfg, alloc);
  EXPECT_TRUE(p) << p.error().message;
  return p ? p.value() : SandboxPlan{};
}

}  // namespace

TEST(SandboxPlan, GivenAnyWorker_ThenTheAlwaysPresentFlagsAreThere) {
  const auto plan = plan_ok(bundle_spec(), test_profile(), test_config(), bundle_alloc());
  const auto& a = plan.argv;
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a[0], "/usr/bin/bwrap");
  for (const char* flag :
       {"--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--disable-userns", "--die-with-parent", "--new-session", "--clearenv", "--hostname"}) {
    EXPECT_TRUE(has(a, flag)) << flag;
  }
  EXPECT_EQ(after(a, "--cap-drop", 1), (std::vector<std::string>{"ALL"}));
  EXPECT_EQ(after(a, "--proc", 1), (std::vector<std::string>{"/proc"}));
  EXPECT_EQ(after(a, "--dev", 1), (std::vector<std::string>{"/dev"}));
  EXPECT_EQ(after(a, "--size", 3),
            (std::vector<std::string>{std::to_string(64ULL * 1024 * 1024), "--tmpfs", "/dev/shm"}));
  EXPECT_EQ(after(a, "--chdir", 1), (std::vector<std::string>{"/app"}));
  EXPECT_EQ(after(a, "--seccomp", 1), (std::vector<std::string>{"3"}));
  EXPECT_EQ(after(a, "--json-status-fd", 1), (std::vector<std::string>{"4"}));
  // The command follows "--" and nothing after it is read as a bwrap option.
  EXPECT_EQ(after(a, "--", 1), (std::vector<std::string>{"/bin/sh"}));
  EXPECT_EQ(a.back(), "/bin/sh");
  // The default network is "private": a namespace of its own.
  EXPECT_EQ(plan.network, sandbox::NetworkMode::Private);
  EXPECT_TRUE(has(a, "--unshare-net"));
  EXPECT_EQ(plan.slirp4netns_path, "/usr/bin/slirp4netns");
  EXPECT_FALSE(has(a, "--cap-add"));
  // The seccomp and status fds are planned with their roles.
  auto role_at = [&](int target) {
    for (const auto& f : plan.fds) {
      if (f.target == target) return static_cast<int>(f.role);
    }
    return -1;
  };
  EXPECT_EQ(role_at(3), static_cast<int>(sandbox::FdRole::Seccomp));
  EXPECT_EQ(role_at(4), static_cast<int>(sandbox::FdRole::Status));
}

TEST(SandboxPlan, GivenAnyWorker_ThenOnlyTheCappedTmpfsMountsAndTheDataMountAreWritable) {
  auto profile = test_profile();
  profile.data_mount = "/data";
  profile.passwd = true;
  const auto plan = plan_ok(bundle_spec(), profile, test_config(), bundle_alloc());
  const auto& a = plan.argv;
  const auto end = std::find(a.begin(), a.end(), "--");
  ASSERT_NE(end, a.end());
  // Every tmpfs has a --size right before it, and only /tmp and /dev/shm are tmpfs mounts.
  std::vector<std::string> tmpfs;
  for (auto it = a.begin(); it != end; ++it) {
    if (*it != "--tmpfs") continue;
    tmpfs.push_back(*(it + 1));
    ASSERT_GE(it - a.begin(), 2);
    EXPECT_EQ(*(it - 2), "--size") << *(it + 1);
    EXPECT_EQ(*(it - 1), std::to_string(64ULL * 1024 * 1024)) << *(it + 1);
  }
  EXPECT_EQ(tmpfs, (std::vector<std::string>{"/dev/shm", "/tmp"}));
  // / and /dev are remounted read-only, / after the last option that creates something in it.
  std::vector<std::string> ro;
  auto last_ro_root = end;
  for (auto it = a.begin(); it != end; ++it) {
    if (*it == "--remount-ro") {
      ro.push_back(*(it + 1));
      if (*(it + 1) == "/") last_ro_root = it;
    }
  }
  EXPECT_EQ(ro, (std::vector<std::string>{"/dev", "/"}));
  ASSERT_NE(last_ro_root, end);
  for (auto it = last_ro_root; it != end; ++it) {
    for (const char* creates :
         {"--bind", "--ro-bind", "--ro-bind-try", "--bind-fd", "--ro-bind-fd", "--tmpfs",
          "--symlink", "--ro-bind-data", "--file", "--dir", "--dev", "--proc"}) {
      EXPECT_NE(*it, creates) << "after --remount-ro /";
    }
  }
}

TEST(SandboxPlan, GivenARequestEnvAndArguments_ThenBwrapsCommandLineHoldsOnlyTheCommand) {
  auto spec = bundle_spec();
  spec.env = {{"APP_SECRET", "s3cr3t-value"}};
  spec.command = {"/bin/sh", "-c", "echo hi"};
  const auto plan = plan_ok(spec, test_profile(), test_config(), bundle_alloc());
  EXPECT_EQ(plan.exec_argv, (std::vector<std::string>{"/usr/bin/bwrap", "--args", "7", "--",
                                                      "/bin/sh", "-c", "echo hi"}));
  for (const auto& word : plan.exec_argv) {
    EXPECT_EQ(word.find("s3cr3t"), std::string::npos) << word;
    EXPECT_EQ(word.find("APP_SECRET"), std::string::npos) << word;
  }
  // fd 7 carries every option of the logical argv, NUL-separated, in order.
  const auto dashdash = std::find(plan.argv.begin(), plan.argv.end(), "--");
  std::string want;
  for (auto it = plan.argv.begin() + 1; it != dashdash; ++it) want += *it + std::string(1, '\0');
  int found = 0;
  for (const auto& f : plan.fds) {
    if (f.target != 7) continue;
    ++found;
    EXPECT_EQ(f.role, sandbox::FdRole::Data);
    EXPECT_EQ(f.data, want);
    EXPECT_NE(f.data.find("s3cr3t-value"), std::string::npos);
  }
  EXPECT_EQ(found, 1);
}

TEST(SandboxPlan, GivenAHelperProgram_ThenItIsCopiedInExecutableAndNotBoundByPath) {
  auto alloc = test_alloc();
  alloc.helper_program = std::string(
      "\x7f"
      "ELF helper bytes",
      17);
  const auto plan = plan_ok(WorkerSpec{}, test_profile(), test_config(), alloc);
  const std::vector<std::string> want{"--perms", "0555", "--ro-bind-data", "8",
                                      sandbox::kHelperProgramPath};
  const auto at = std::search(plan.argv.begin(), plan.argv.end(), want.begin() + 2, want.end());
  ASSERT_NE(at, plan.argv.end());
  ASSERT_GE(at - plan.argv.begin(), 2);
  EXPECT_EQ(*(at - 2), "--perms");
  EXPECT_EQ(*(at - 1), "0555");
  int found = 0;
  for (const auto& f : plan.fds) {
    if (f.target == 8 && f.role == sandbox::FdRole::Data && f.data == alloc.helper_program) ++found;
  }
  EXPECT_EQ(found, 1);
  // Without one, nothing is planned at fd 8.
  const auto none = plan_ok(WorkerSpec{}, test_profile(), test_config(), test_alloc());
  for (const auto& f : none.fds) EXPECT_NE(f.target, 8);
}

TEST(SandboxPlan, GivenAnEnvValueOfDoubleDash_ThenTheOptionsStillEndAtTheRealSeparator) {
  auto spec = bundle_spec();
  spec.env = {{"APP_X", "--"}};
  spec.command = {"/bin/echo", "--", "x"};
  const auto plan = plan_ok(spec, test_profile(), test_config(), bundle_alloc());
  EXPECT_EQ(plan.exec_argv, (std::vector<std::string>{"/usr/bin/bwrap", "--args", "7", "--",
                                                      "/bin/echo", "--", "x"}));
  for (const auto& f : plan.fds) {
    if (f.target != 7) continue;
    EXPECT_NE(f.data.find(std::string("--setenv\0APP_X\0--\0", 18)), std::string::npos);
    // The data ends with the last option before the separator (the status fd), not with "--".
    EXPECT_EQ(f.data.substr(f.data.size() - 19), std::string("--json-status-fd\0"
                                                             "4\0",
                                                             19));
  }
}

TEST(SandboxPlan, GivenNetworkHost_ThenRefusedUnlessAllowedAndNoUnshareNetWhenAllowed) {
  WorkerSpec spec = bundle_spec();
  spec.network = sandbox::NetworkMode::Host;
  auto cfg = test_config();
  auto refused = sandbox::make_plan(spec, test_profile(), cfg, bundle_alloc());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().field, "network");
  EXPECT_NE(refused.error().message.find("allow_host_network"), std::string::npos);
  cfg.process.allow_host_network = true;
  const auto plan = plan_ok(spec, test_profile(), cfg, bundle_alloc());
  EXPECT_FALSE(has(plan.argv, "--unshare-net"));
  EXPECT_EQ(plan.network, sandbox::NetworkMode::Host);
}

TEST(SandboxPlan, GivenNoNetworkInTheSpec_ThenTheConfiguredDefaultApplies) {
  auto cfg = test_config();
  cfg.process.default_network = "none";
  const auto plan = plan_ok(bundle_spec(), test_profile(), cfg, bundle_alloc());
  EXPECT_EQ(plan.network, sandbox::NetworkMode::None);
  EXPECT_TRUE(has(plan.argv, "--unshare-net"));
}

TEST(SandboxPlan, GivenARunNamingNoNetwork_ThenTheRunsDefaultAppliesNotTheWorkers) {
  auto cfg = test_config();
  ASSERT_EQ(cfg.process.default_network, "private");
  EXPECT_EQ(sandbox::resolve_run_network(std::nullopt, cfg).value(), sandbox::NetworkMode::None);
  EXPECT_EQ(sandbox::resolve_network(std::nullopt, cfg.process).value(),
            sandbox::NetworkMode::Private);
  EXPECT_EQ(sandbox::resolve_run_network(sandbox::NetworkMode::Private, cfg).value(),
            sandbox::NetworkMode::Private);
  cfg.runs.default_network = "private";
  EXPECT_EQ(sandbox::resolve_run_network(std::nullopt, cfg).value(), sandbox::NetworkMode::Private);
  // "host" stays refused without allow_host_network, whichever default names it.
  cfg.runs.default_network = "host";
  const auto refused = sandbox::resolve_run_network(std::nullopt, cfg);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().field, "network");
}

TEST(SandboxPlan, GivenNetworkNone_ThenUnshareNet) {
  WorkerSpec spec = bundle_spec();
  spec.network = sandbox::NetworkMode::None;
  const auto plan = plan_ok(spec, test_profile(), test_config(), bundle_alloc());
  EXPECT_TRUE(has(plan.argv, "--unshare-net"));
}

TEST(SandboxPlan, GivenAnyPlan_ThenBwrapGetsOnlyPathAndLang) {
  const auto plan = plan_ok(bundle_spec(), test_profile(), test_config(), bundle_alloc());
  ASSERT_EQ(plan.envp.size(), 2u);
  EXPECT_EQ(plan.envp[0].rfind("PATH=", 0), 0u);
  EXPECT_EQ(plan.envp[1].rfind("LANG=", 0), 0u);
}

TEST(SandboxPlan, GivenDefaultConfig_ThenNeitherRootNorDaemonPathsAreEverMounted) {
  const auto cfg = test_config();
  const auto plan = plan_ok(bundle_spec(), test_profile(), cfg, bundle_alloc());
  const auto sensitive = sandbox::sensitive_paths(cfg);
  for (const char* p : {"/etc/paddock", "/var/lib/paddock", "/var/lib/paddock/data", "/run/paddock",
                        "/etc/paddock/tokens", "/var/log/paddock"}) {
    EXPECT_NE(std::find(sensitive.begin(), sensitive.end(), p), sensitive.end()) << p;
  }
  for (const auto& [src, dst] : binds(plan.argv)) {
    EXPECT_NE(src, "/");
    EXPECT_NE(dst, "/");
    for (const auto& s : sensitive) {
      EXPECT_FALSE(sandbox::path_is_within(src, s) || sandbox::path_is_within(s, src))
          << src << " touches " << s;
    }
  }
}

TEST(SandboxPlan, GivenAProfileThatBindsRoot_ThenThePlanIsRefused) {
  auto profile = test_profile();
  profile.ro_paths.push_back("/");
  auto p = sandbox::make_plan(bundle_spec(), profile, test_config(), bundle_alloc());
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("never mounted"), std::string::npos) << p.error().message;
}

TEST(SandboxPlan, GivenAProfileThatBindsAParentOfADaemonPath_ThenThePlanIsRefused) {
  for (const char* bad : {"/etc", "/var", "/var/lib", "/run", "/var/lib/paddock/data/other",
                          "/etc/paddock/tokens", "/var/log"}) {
    auto profile = test_profile();
    profile.ro_paths_try.push_back(bad);
    auto p = sandbox::make_plan(bundle_spec(), profile, test_config(), bundle_alloc());
    ASSERT_FALSE(p) << bad;
    EXPECT_NE(p.error().message.find(bad), std::string::npos) << p.error().message;
  }
}

TEST(SandboxPlan, GivenAConfigFileInACustomDir_ThenThatDirIsNeverMounted) {
  auto cfg = test_config();
  cfg.source_file = "/opt/site/paddock.toml";
  auto profile = test_profile();
  profile.ro_paths.push_back("/opt/site");
  EXPECT_FALSE(sandbox::make_plan(bundle_spec(), profile, cfg, bundle_alloc()));
  profile.ro_paths.back() = "/opt";
  EXPECT_FALSE(sandbox::make_plan(bundle_spec(), profile, cfg, bundle_alloc()));
}

TEST(SandboxPlan, GivenADataMount_ThenOnlyThisWorkersDirIsBoundWritable) {
  auto profile = test_profile();
  profile.data_mount = "/data";
  profile.home = "/data";
  const auto plan = plan_ok(bundle_spec(), profile, test_config(), bundle_alloc());
  EXPECT_EQ(plan.data_dir, "/var/lib/paddock/data/w-1");
  EXPECT_EQ(after(plan.argv, "--bind-fd", 2), (std::vector<std::string>{"10", "/data"}));
  int by_fd = 0;
  for (const auto& f : plan.fds) {
    if (f.target == 10 && f.role == sandbox::FdRole::PathSource &&
        f.data == "/var/lib/paddock/data/w-1") {
      ++by_fd;
    }
  }
  EXPECT_EQ(by_fd, 1);
  EXPECT_EQ(plan.sandbox_env.at("HOME"), "/data");
  // Exactly one writable bind, and it is this worker's.
  int writable = 0;
  for (std::size_t i = 0; i < plan.argv.size(); ++i) {
    if (plan.argv[i] == "--bind" || plan.argv[i] == "--bind-try" || plan.argv[i] == "--bind-fd")
      ++writable;
  }
  EXPECT_EQ(writable, 1);
}

TEST(SandboxPlan, GivenABundle_ThenItIsBoundReadOnlyAtAppAndNothingWritableOtherwise) {
  const auto plan = plan_ok(bundle_spec(), test_profile(), test_config(), bundle_alloc());
  EXPECT_EQ(after(plan.argv, "--ro-bind", 2), (std::vector<std::string>{"/usr", "/usr"}));
  // Bound by descriptor: fd 9 is the bundle, opened by the spawner without following symlinks.
  EXPECT_EQ(after(plan.argv, "--ro-bind-fd", 2), (std::vector<std::string>{"9", "/app"}));
  for (const auto& [src, dst] : binds(plan.argv)) EXPECT_NE(dst, "/app") << src;
  int found = 0;
  for (const auto& f : plan.fds) {
    if (f.target != 9) continue;
    ++found;
    EXPECT_EQ(f.role, sandbox::FdRole::PathSource);
    EXPECT_EQ(f.data, "/srv/paddock/bundles/app1");
  }
  EXPECT_EQ(found, 1);
  EXPECT_FALSE(has(plan.argv, "--bind"));
  EXPECT_FALSE(has(plan.argv, "--bind-fd"));
  EXPECT_TRUE(plan.data_dir.empty());
}

TEST(SandboxPlan, GivenABundleOutsideTheRoots_ThenTheErrorNamesIt) {
  WorkerSpec spec;
  spec.bundle = "/home/alice/app";
  Allocation alloc = test_alloc();
  alloc.bundle_path = "/home/alice/app";
  auto p = sandbox::make_plan(spec, test_profile(), test_config(), alloc);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, "invalid_bundle");
  EXPECT_NE(p.error().message.find("/home/alice/app"), std::string::npos);
}

TEST(SandboxPlan, GivenARequestEnv_ThenOnlyAllowlistedNamesReachTheSandbox) {
  WorkerSpec spec = bundle_spec();
  spec.env = {{"TZ", "UTC"}, {"APP_MODE", "demo"}};
  const auto plan = plan_ok(spec, test_profile(), test_config(), bundle_alloc());
  auto names = setenv_names(plan.argv);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"APP_MODE", "HOME", "LANG", "PATH", "TZ"}));
  // --clearenv comes before every --setenv.
  const auto clear = std::find(plan.argv.begin(), plan.argv.end(), "--clearenv");
  const auto first_set = std::find(plan.argv.begin(), plan.argv.end(), "--setenv");
  EXPECT_LT(clear, first_set);
}

TEST(SandboxPlan, GivenAnEnvNameOutsideTheAllowlist_ThenTheErrorNamesTheVariable) {
  WorkerSpec spec = bundle_spec();
  spec.env = {{"LD_PRELOAD", "/tmp/x.so"}};
  auto p = sandbox::make_plan(spec, test_profile(), test_config(), bundle_alloc());
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, "env_not_allowed");
  EXPECT_EQ(p.error().field, "env.LD_PRELOAD");
  EXPECT_NE(p.error().message.find("LD_PRELOAD"), std::string::npos);
  EXPECT_NE(p.error().message.find("'test'"), std::string::npos);
}

TEST(SandboxPlan, GivenARequestSettingHomeOrPort_ThenItIsRefused) {
  for (const char* name : {"HOME", "PORT"}) {
    auto profile = test_profile();
    profile.env_allow.push_back("*");  // even a profile that allows everything
    WorkerSpec spec = bundle_spec();
    spec.env = {{name, "x"}};
    auto p = sandbox::make_plan(spec, profile, test_config(), bundle_alloc());
    ASSERT_FALSE(p) << name;
    EXPECT_EQ(p.error().field, std::string("env.") + name);
  }
}

TEST(SandboxPlan, GivenAPort_ThenPortIsSetAlsoWithNetworkNone) {
  WorkerSpec spec = bundle_spec();
  spec.port = true;
  Allocation alloc = bundle_alloc();
  alloc.port = 20007;
  const auto plan = plan_ok(spec, test_profile(), test_config(), alloc);
  EXPECT_EQ(plan.sandbox_env.at("PORT"), "20007");
  EXPECT_EQ(plan.port, 20007);
  EXPECT_EQ(plan.network, sandbox::NetworkMode::Private);
  // network "none" with a port: the workload binds PORT in its own namespace; the daemon
  // bridges the host's side.
  spec.network = sandbox::NetworkMode::None;
  const auto none = plan_ok(spec, test_profile(), test_config(), alloc);
  EXPECT_EQ(none.sandbox_env.at("PORT"), "20007");
  EXPECT_EQ(none.network, sandbox::NetworkMode::None);
  EXPECT_NE(std::find(none.argv.begin(), none.argv.end(), "--unshare-net"), none.argv.end());
  // Without a port, no PORT variable.
  const auto no_port = plan_ok(bundle_spec(), test_profile(), test_config(), bundle_alloc());
  EXPECT_EQ(no_port.sandbox_env.count("PORT"), 0u);
}

TEST(SandboxPlan, GivenAUidOutsideTheRangeOrGidZero_ThenThePlanIsRefused) {
  Allocation alloc = bundle_alloc();
  alloc.uid = 0;
  EXPECT_FALSE(sandbox::make_plan(bundle_spec(), test_profile(), test_config(), alloc));
  alloc.uid = 61000;
  EXPECT_FALSE(sandbox::make_plan(bundle_spec(), test_profile(), test_config(), alloc));
  auto cfg = test_config();
  cfg.process.worker_gid = 0;
  EXPECT_FALSE(sandbox::make_plan(bundle_spec(), test_profile(), cfg, bundle_alloc()));
}

TEST(SandboxPlan, GivenLimits_ThenRlimitsFollowThemAndCoreIsZero) {
  WorkerSpec spec = bundle_spec();
  spec.limits.nofile = 256;
  spec.limits.pids = 50;
  auto profile = test_profile();
  profile.rlimit_as_mb = 2048;
  const auto plan = plan_ok(spec, profile, test_config(), bundle_alloc());
  auto find = [&](int res) -> sandbox::Rlimit {
    for (const auto& r : plan.rlimits) {
      if (r.resource == res) return r;
    }
    return {-1, 0, 0};
  };
  EXPECT_EQ(find(RLIMIT_NOFILE), (sandbox::Rlimit{RLIMIT_NOFILE, 256, 256}));
  // pids + bwrap and the sandbox's init + slirp4netns and the port relay (network "private").
  EXPECT_EQ(find(RLIMIT_NPROC), (sandbox::Rlimit{RLIMIT_NPROC, 54, 54}));
  spec.network = sandbox::NetworkMode::Host;
  auto host_cfg = test_config();
  host_cfg.process.allow_host_network = true;
  const auto host = plan_ok(spec, profile, host_cfg, bundle_alloc());
  EXPECT_EQ(
      std::count(host.rlimits.begin(), host.rlimits.end(), sandbox::Rlimit{RLIMIT_NPROC, 52, 52}),
      1);
  EXPECT_EQ(find(RLIMIT_CORE), (sandbox::Rlimit{RLIMIT_CORE, 0, 0}));
  EXPECT_EQ(find(RLIMIT_FSIZE).hard, 64ULL * 1024 * 1024);
  EXPECT_EQ(find(RLIMIT_AS).hard, 2048ULL * 1024 * 1024);
  EXPECT_EQ(find(RLIMIT_CPU).resource, -1);  // not set by the profile
}

TEST(SandboxPlan, GivenALimitAboveTheConfig_ThenLimitTooHigh) {
  WorkerSpec spec = bundle_spec();
  spec.limits.memory_mb = 100000;
  auto p = sandbox::make_plan(spec, test_profile(), test_config(), bundle_alloc());
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, "limit_too_high");
  EXPECT_EQ(p.error().field, "limits.memory_mb");
}

TEST(SandboxPlan, GivenAPasswdProfile_ThenAMinimalPasswdNamesTheWorkerUid) {
  const auto plan = plan_ok(bundle_spec(), test_profile(), test_config(), bundle_alloc());
  std::string passwd;
  for (const auto& f : plan.fds) {
    if (f.target == 5) passwd = f.data;
  }
  EXPECT_EQ(passwd.rfind("worker:x:60012:65534:", 0), 0u) << passwd;
  EXPECT_EQ(passwd.find("root"), std::string::npos);
  EXPECT_EQ(after(plan.argv, "--ro-bind-data", 2), (std::vector<std::string>{"5", "/etc/passwd"}));
}

TEST(SandboxPlan, GivenNoCommandInTheRequest_ThenTheProfileDefaultRunsAndCwdIsHome) {
  WorkerSpec spec;  // no bundle
  const auto plan = plan_ok(spec, test_profile(), test_config(), test_alloc());
  EXPECT_EQ(plan.command, (std::vector<std::string>{"/bin/sh"}));
  EXPECT_EQ(plan.cwd, "/tmp");
}

TEST(WorkerSpec, ParsesRestartAndNetworkAndRejectsTheRest) {
  EXPECT_EQ(*sandbox::parse_restart_policy("on-failure"), sandbox::RestartPolicy::OnFailure);
  EXPECT_EQ(*sandbox::parse_network_mode("none"), sandbox::NetworkMode::None);
  auto bad = sandbox::parse_restart_policy("sometimes");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "restart");
  EXPECT_FALSE(sandbox::parse_network_mode("bridge"));
}

TEST(WorkerSpec, GivenNoLimits_ThenTheConfigValuesApply) {
  config::LimitsConfig d;
  auto l = sandbox::resolve_limits({}, d);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->memory_mb, d.memory_mb);
  EXPECT_EQ(l->tmp_mb, d.tmp_mb);
  // A wall-clock limit in the config cannot be lifted with 0.
  d.wall_seconds = 60;
  sandbox::LimitsRequest r;
  r.wall_seconds = 0;
  EXPECT_FALSE(sandbox::resolve_limits(r, d));
}
