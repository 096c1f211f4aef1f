// Sandbox profiles: the shipped ones load and are safe; mistakes are reported with file:line:col.
#include <gtest/gtest.h>

#include "paddock/sandbox/env.hpp"
#include "paddock/sandbox/plan.hpp"
#include "paddock/sandbox/profile.hpp"

using namespace paddock;

namespace {

const std::string kDir = std::string(PADDOCK_SOURCE_DIR) + "/profiles/sandbox";

Error load_error(const std::string& text) {
  auto p = sandbox::load_profile_string(text, "t", "t.toml");
  EXPECT_FALSE(p) << text;
  return p ? Error{} : p.error();
}

}  // namespace

TEST(SandboxProfile, GivenTheShippedProfiles_ThenTheyLoadAndNeverMountRoot) {
  auto all = sandbox::load_profiles_dir(kDir);
  ASSERT_TRUE(all) << all.error().message;
  for (const char* name : {"shell", "python", "r"}) {
    ASSERT_EQ(all->count(name), 1u) << name;
    const auto& p = all->at(name);
    EXPECT_FALSE(p.command.empty());
    for (const auto& path : p.ro_paths) EXPECT_NE(path, "/");
    // Merged-/usr links, as on the host.
    bool bin = false;
    for (const auto& [target, link] : p.symlinks)
      bin = bin || (link == "/bin" && target == "usr/bin");
    EXPECT_TRUE(bin) << name;
    // And a plan for it with the default config is accepted (no sensitive path touched).
    sandbox::WorkerSpec spec;
    sandbox::Allocation alloc;
    alloc.worker_id = "w";
    alloc.uid = 60000;
    auto plan = sandbox::make_plan(spec, p, config::Config{}, alloc);
    EXPECT_TRUE(plan) << name << ": " << plan.error().message;
  }
  const auto& r = all->at("r");
  EXPECT_NE(std::find(r.ro_paths_try.begin(), r.ro_paths_try.end(), "/usr/lib/R"),
            r.ro_paths_try.end());
  EXPECT_NE(
      std::find(r.ro_paths_try.begin(), r.ro_paths_try.end(), "/usr/local/lib/R/site-library"),
      r.ro_paths_try.end());
}

TEST(SandboxProfile, GivenAnUnknownKey_ThenTheErrorHasFileLineColAndASuggestion) {
  const auto e = load_error("command = [\"/bin/sh\"]\nro_path = [\"/usr\"]\n");
  EXPECT_EQ(e.code, "invalid_profile");
  EXPECT_EQ(e.message.rfind("t.toml:2:1: unknown key 'ro_path'", 0), 0u) << e.message;
  EXPECT_NE(e.message.find("did you mean 'ro_paths'"), std::string::npos) << e.message;
}

TEST(SandboxProfile, GivenWrongTypesOrUnsafeValues_ThenEachIsRefused) {
  EXPECT_NE(load_error("command = \"/bin/sh\"\n").message.find("t.toml:1:"), std::string::npos);
  EXPECT_NE(load_error("command = [\"sh\"]\nro_paths = [\"/\"]\n").message.find("never mounted"),
            std::string::npos);
  EXPECT_NE(load_error("command = [\"sh\"]\nro_paths = [\"/usr/../etc\"]\n").message.find("clean"),
            std::string::npos);
  EXPECT_NE(load_error("command = [\"sh\"]\nenv_allow = [\"HOME\"]\n").message.find("HOME"),
            std::string::npos);
  EXPECT_NE(load_error("command = [\"sh\"]\nhome = \"/var\"\n").message.find("home"),
            std::string::npos);
  EXPECT_NE(load_error("ro_paths = [\"/usr\"]\n").message.find("'command' is required"),
            std::string::npos);
  EXPECT_NE(
      load_error("command = [\"sh\"]\n[env]\n\"BAD-NAME\" = \"x\"\n").message.find("t.toml:3:"),
      std::string::npos);
  EXPECT_NE(load_error("command = [\"sh\"\n").message.find("TOML syntax error"), std::string::npos);
}

TEST(SandboxProfile, GivenAMissingProfile_ThenTheErrorListsTheAvailableOnes) {
  auto p = sandbox::load_profile(kDir, "pyhton");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, "unknown_profile");
  EXPECT_NE(p.error().message.find("python"), std::string::npos) << p.error().message;
  EXPECT_FALSE(sandbox::load_profile(kDir, "../etc/passwd"));
}

TEST(EnvAllowlist, GivenExactNamesAndPrefixes_ThenOnlyThoseMatch) {
  const std::vector<std::string> allow{"TZ", "R_*"};
  EXPECT_TRUE(sandbox::env_allowed("TZ", allow));
  EXPECT_TRUE(sandbox::env_allowed("R_LIBS_USER", allow));
  EXPECT_FALSE(sandbox::env_allowed("TZX", allow));
  EXPECT_FALSE(sandbox::env_allowed("LD_PRELOAD", allow));
  EXPECT_TRUE(sandbox::check_request_env({{"R_X", "1"}}, allow, "r"));
  auto bad = sandbox::check_request_env({{"1X", "1"}}, allow, "r");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "env.1X");
  auto nul = sandbox::check_request_env({{"TZ", std::string("a\0b", 3)}}, allow, "r");
  ASSERT_FALSE(nul);
  EXPECT_NE(nul.error().message.find("NUL"), std::string::npos);
}
