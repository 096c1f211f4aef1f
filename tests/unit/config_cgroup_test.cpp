// [process] cgroup: "auto" by default, "off" accepted, anything else refused with the key named.
#include <gtest/gtest.h>

#include "paddock/config/loader.hpp"

using namespace paddock::config;

namespace {

LoadResult load(const std::string& text, const Environment& env = {}) {
  HostFacts h;
  h.accounts = {{"root", 0}, {"nobody", 65534}};
  h.executables = {"/usr/bin/bwrap"};
  return load_from_string(text, "/etc/paddock/paddock.toml", env, h);
}

}  // namespace

TEST(ConfigCgroup, GivenNothingThenAutoAndOffAndEnvAreRead) {
  auto def = load("");
  ASSERT_TRUE(def.config) << (def.errors.empty() ? "" : def.errors[0].to_string());
  EXPECT_EQ(def.config->process.cgroup, "auto");
  auto off = load("[process]\ncgroup = \"off\"\n");
  ASSERT_TRUE(off.config);
  EXPECT_EQ(off.config->process.cgroup, "off");
  auto env = load("", {{"PADDOCK_PROCESS_CGROUP", "off"}});
  ASSERT_TRUE(env.config);
  EXPECT_EQ(env.config->process.cgroup, "off");
}

TEST(ConfigCgroup, GivenAnUnknownModeThenRefusedNamingTheKey) {
  auto r = load("[process]\ncgroup = \"v1\"\n");
  EXPECT_FALSE(r.config);
  ASSERT_FALSE(r.errors.empty());
  EXPECT_NE(r.errors[0].to_string().find("process.cgroup 'v1' must be \"auto\" or \"off\""),
            std::string::npos)
      << r.errors[0].to_string();
}
