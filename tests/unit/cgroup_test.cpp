// The cgroup module against fixture text and fixture directories laid out like a delegated
// cgroup v2 tree (interface files are plain files here).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "paddock/cgroup/detect.hpp"
#include "paddock/cgroup/enforcement.hpp"
#include "paddock/cgroup/files.hpp"
#include "paddock/cgroup/manager.hpp"
#include "paddock/util/fd.hpp"

using namespace paddock;
using namespace paddock::cgroup;

namespace {

// Mount tables as the three kinds of hosts write them.
constexpr const char* kUnifiedMounts =
    "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
    "25 23 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";
constexpr const char* kHybridMounts =
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
constexpr const char* kLegacyMounts =
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
    "34 30 0:31 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n";

/// A temporary directory removed at the end of the test.
class Fixture {
 public:
  Fixture() {
    char tmpl[] = "/tmp/paddock-cgroup-XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    if (d != nullptr) dir_ = d;
  }
  ~Fixture() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& dir() const { return dir_; }
  void write(const std::string& rel, const std::string& text) const {
    std::filesystem::create_directories(std::filesystem::path(dir_ + "/" + rel).parent_path());
    std::ofstream(dir_ + "/" + rel) << text;
  }
  std::string read(const std::string& rel) const { return util::read_small_file(dir_ + "/" + rel); }
  bool exists(const std::string& rel) const { return std::filesystem::exists(dir_ + "/" + rel); }
  /// A daemon cgroup as systemd delegates it: controllers available, none enabled.
  void delegated(const std::string& controllers) const {
    write("cgroup.controllers", controllers + "\n");
    write("cgroup.subtree_control", "");
    write("cgroup.procs", "");
  }

 private:
  std::string dir_;
};

sandbox::Limits limits(std::uint32_t memory_mb, double cpus, std::uint32_t pids) {
  sandbox::Limits l;
  l.memory_mb = memory_mb;
  l.cpus = cpus;
  l.pids = pids;
  l.nofile = 1024;
  l.tmp_mb = 64;
  return l;
}

}  // namespace

// --- detection --------------------------------------------------------------------------------

TEST(CgroupDetect, GivenPureV2Host_ThenUnifiedAtSysFsCgroupWithTheServiceCgroup) {
  const auto d = parse_detection(kUnifiedMounts, "0::/system.slice/paddock.service\n");
  EXPECT_EQ(d.layout, Layout::Unified);
  EXPECT_EQ(d.mount_point, "/sys/fs/cgroup");
  EXPECT_EQ(d.own_path, "/system.slice/paddock.service");
  EXPECT_TRUE(d.has_v2());
  EXPECT_EQ(d.own_dir(), "/sys/fs/cgroup/system.slice/paddock.service");
}

TEST(CgroupDetect, GivenHybridHost_ThenTheUnifiedMountAndTheRootCgroup) {
  const auto d =
      parse_detection(kHybridMounts, "9:name=systemd:/\n4:memory:/some/where\n1:cpu:/\n0::/\n");
  EXPECT_EQ(d.layout, Layout::Hybrid);
  EXPECT_EQ(d.mount_point, "/sys/fs/cgroup/unified");
  EXPECT_EQ(d.own_path, "/");
  EXPECT_EQ(d.own_dir(), "/sys/fs/cgroup/unified");
}

TEST(CgroupDetect, GivenV1OnlyHost_ThenLegacyWithoutAV2Directory) {
  const auto d = parse_detection(kLegacyMounts, "2:pids:/user.slice\n1:cpu,cpuacct:/\n");
  EXPECT_EQ(d.layout, Layout::Legacy);
  EXPECT_FALSE(d.has_v2());
  EXPECT_EQ(d.own_dir(), "");
  EXPECT_EQ(parse_detection("", "").layout, Layout::None);
  EXPECT_EQ(to_string(Layout::Legacy), "legacy");
}

TEST(CgroupDetect, GivenEscapedMountPointAndBoundSubtree_ThenPathsAreDecodedAndRelative) {
  const std::string mounts =
      "40 30 0:37 /outer /srv/cg\\040root rw - cgroup2 cgroup2 rw\n"
      "41 30 0:37 /elsewhere /mnt/other rw - cgroup2 cgroup2 rw\n";
  const auto d = parse_detection(mounts, "0::/outer/svc\n");
  EXPECT_EQ(d.layout, Layout::Unified);
  EXPECT_EQ(d.mount_point, "/srv/cg root");
  EXPECT_EQ(d.own_path, "/svc");
  EXPECT_EQ(d.own_dir(), "/srv/cg root/svc");
}

TEST(CgroupDetect, GivenTwoCgroup2Mounts_ThenSysFsCgroupIsPreferred) {
  const std::string mounts =
      std::string(kHybridMounts) + "50 22 0:37 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
  EXPECT_EQ(parse_detection(mounts, "0::/a\n").mount_point, "/sys/fs/cgroup");
}

TEST(CgroupDetect, GivenThisHostsProc_ThenDetectionAgreesWithMountinfo) {
  auto d = detect();
  ASSERT_TRUE(d) << d.error().message;
  const std::string mountinfo = util::read_small_file("/proc/self/mountinfo");
  EXPECT_EQ(d->layout == Layout::Unified || d->layout == Layout::Hybrid,
            mountinfo.find(" - cgroup2 ") != std::string::npos);
  EXPECT_FALSE(detect("/nonexistent-proc"));
}

// --- interface file parsing -------------------------------------------------------------------

TEST(CgroupFiles, GivenControllerListsThenOnlyMemoryCpuPidsCount) {
  EXPECT_EQ(parse_controllers("cpuset cpu io memory hugetlb pids rdma misc\n"),
            (Controllers{true, true, true}));
  EXPECT_EQ(parse_controllers("+memory +pids"), (Controllers{true, false, true}));
  EXPECT_EQ(parse_controllers("cpuset io\n"), Controllers{});
  EXPECT_FALSE(parse_controllers("").any());
  EXPECT_EQ(enable_line({true, true, true}), "+memory +cpu +pids");
  EXPECT_EQ(enable_line({false, true, false}), "+cpu");
  EXPECT_EQ(enable_line({}), "");
}

TEST(CgroupFiles, GivenFlatKeyedAndSingleValues_ThenNumbersOrNothing) {
  const std::string stat = "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n";
  EXPECT_EQ(flat_keyed_value(stat, "usage_usec"), 1234u);
  EXPECT_EQ(flat_keyed_value(stat, "system_usec"), 234u);
  EXPECT_EQ(flat_keyed_value(stat, "nr_periods"), std::nullopt);
  EXPECT_EQ(flat_keyed_value("oom_kill x\n", "oom_kill"), std::nullopt);
  EXPECT_EQ(single_value("268435456\n"), 268435456u);
  EXPECT_EQ(single_value("max\n"), std::nullopt);
  EXPECT_EQ(single_value(""), std::nullopt);
}

TEST(CgroupFiles, GivenLimits_ThenTheValuesWrittenAreBytesQuotaAndPidsWithSandboxAllowance) {
  EXPECT_EQ(memory_max_value(limits(256, 1, 1)), "268435456");
  EXPECT_EQ(cpu_max_value(limits(1, 1.5, 1)), "150000 100000");
  EXPECT_EQ(cpu_max_value(limits(1, 0.25, 1)), "25000 100000");
  EXPECT_EQ(cpu_max_value(limits(1, 0.001, 1)), "1000 100000");
  EXPECT_EQ(pids_max_value(limits(1, 1, 20)), "22");
}

// --- the manager on a fixture tree ------------------------------------------------------------

TEST(CgroupManager, GivenDelegatedFixture_ThenDaemonMovedWorkersCreatedControllersEnabled) {
  Fixture fx;
  fx.delegated("cpuset cpu io memory hugetlb pids rdma misc");
  SetupReport rep;
  auto m = Manager::setup(fx.dir(), 4242, &rep);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_TRUE(rep.moved_self);
  EXPECT_EQ(fx.read("daemon/cgroup.procs"), "4242");
  EXPECT_EQ(fx.read("cgroup.subtree_control"), "+memory +cpu +pids");
  EXPECT_EQ(fx.read("workers/cgroup.subtree_control"), "+memory +cpu +pids");
  EXPECT_EQ(rep.enabled, (Controllers{true, true, true}));
  EXPECT_EQ((*m)->controllers(), (Controllers{true, true, true}));
  EXPECT_EQ((*m)->workers_dir(), fx.dir() + "/workers");
  EXPECT_FALSE((*m)->has_kill());
  EXPECT_TRUE(rep.warning.empty()) << rep.warning;
}

TEST(CgroupManager, GivenLeaf_ThenLimitsAreWrittenForEnabledControllers) {
  Fixture fx;
  fx.delegated("cpu memory pids");
  auto m = Manager::setup(fx.dir(), 1);
  ASSERT_TRUE(m) << m.error().message;
  auto leaf = (*m)->create_leaf("w-00000a1b2c", limits(256, 1.5, 20));
  ASSERT_TRUE(leaf) << leaf.error().message;
  EXPECT_EQ(leaf->path, fx.dir() + "/workers/w-00000a1b2c");
  EXPECT_TRUE(leaf->dir.valid());
  struct stat st {};
  ASSERT_EQ(::fstat(leaf->dir.get(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(fx.read("workers/w-00000a1b2c/memory.max"), "268435456");
  EXPECT_EQ(fx.read("workers/w-00000a1b2c/memory.swap.max"), "0");
  EXPECT_EQ(fx.read("workers/w-00000a1b2c/cpu.max"), "150000 100000");
  EXPECT_EQ(fx.read("workers/w-00000a1b2c/pids.max"), "22");
  EXPECT_EQ(leaf->controllers, (Controllers{true, true, true}));
}

TEST(CgroupManager, GivenOnlySomeControllers_ThenOnlyTheirLimitsAreWritten) {
  Fixture fx;
  fx.delegated("cpuset pids io");
  SetupReport rep;
  auto m = Manager::setup(fx.dir(), 7, &rep);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(fx.read("cgroup.subtree_control"), "+pids");
  EXPECT_EQ(rep.enabled, (Controllers{false, false, true}));
  auto leaf = (*m)->create_leaf("w-1", limits(64, 2, 5));
  ASSERT_TRUE(leaf) << leaf.error().message;
  EXPECT_EQ(fx.read("workers/w-1/pids.max"), "7");
  EXPECT_FALSE(fx.exists("workers/w-1/memory.max"));
  EXPECT_FALSE(fx.exists("workers/w-1/cpu.max"));
}

TEST(CgroupManager, GivenNoControllers_LikeAHybridHost_ThenLeavesExistWithoutLimits) {
  Fixture fx;
  fx.delegated("");
  SetupReport rep;
  auto m = Manager::setup(fx.dir(), 0, &rep);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_FALSE(rep.moved_self);
  EXPECT_FALSE(fx.exists("daemon/cgroup.procs"));
  EXPECT_TRUE(fx.exists("workers"));
  EXPECT_FALSE(rep.enabled.any());
  auto leaf = (*m)->create_leaf("w-2", limits(64, 1, 5));
  ASSERT_TRUE(leaf) << leaf.error().message;
  EXPECT_TRUE(std::filesystem::is_directory(leaf->path));
  EXPECT_TRUE(std::filesystem::is_empty(leaf->path));
}

TEST(CgroupManager, GivenKillFile_ThenKillWritesOneElseUnsupported) {
  Fixture fx;
  fx.delegated("memory");
  fx.write("workers/cgroup.kill", "");
  auto m = Manager::setup(fx.dir(), 3);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_TRUE((*m)->has_kill());
  ASSERT_TRUE((*m)->create_leaf("w-3", limits(64, 1, 5)));
  ASSERT_TRUE((*m)->kill("w-3"));
  EXPECT_EQ(fx.read("workers/w-3/cgroup.kill"), "1");

  Fixture old;
  old.delegated("memory");
  auto m2 = Manager::setup(old.dir(), 3);
  ASSERT_TRUE(m2);
  EXPECT_FALSE((*m2)->has_kill());
  auto k = (*m2)->kill("w-3");
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().code, "unsupported");
}

TEST(CgroupManager, GivenLeafWithFiles_ThenRemoveDeletesItAndAMissingLeafIsFine) {
  Fixture fx;
  fx.delegated("cpu memory pids");
  auto m = Manager::setup(fx.dir(), 3);
  ASSERT_TRUE(m);
  ASSERT_TRUE((*m)->create_leaf("w-4", limits(64, 1, 5)));
  ASSERT_TRUE(fx.exists("workers/w-4/memory.max"));
  auto r = (*m)->remove_leaf("w-4");
  EXPECT_TRUE(r) << r.error().message;
  EXPECT_FALSE(fx.exists("workers/w-4"));
  EXPECT_TRUE((*m)->remove_leaf("w-4"));
}

TEST(CgroupManager, GivenUsageFiles_ThenUsageIsParsedAndMissingFilesAreNull) {
  Fixture fx;
  fx.delegated("cpu memory pids");
  auto m = Manager::setup(fx.dir(), 3);
  ASSERT_TRUE(m);
  ASSERT_TRUE((*m)->create_leaf("w-5", limits(64, 1, 5)));
  fx.write("workers/w-5/memory.current", "1048576\n");
  fx.write("workers/w-5/cpu.stat", "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n");
  fx.write("workers/w-5/pids.current", "3\n");
  fx.write("workers/w-5/memory.events", "low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n");
  EXPECT_EQ((*m)->usage("w-5"), (Usage{1048576, 1234, 3, 2}));
  ASSERT_TRUE((*m)->create_leaf("w-6", limits(64, 1, 5)));
  fx.write("workers/w-6/cpu.stat", "usage_usec 99\n");
  EXPECT_EQ((*m)->usage("w-6"), (Usage{std::nullopt, 99, std::nullopt, std::nullopt}));
}

TEST(CgroupManager, GivenBadInputs_ThenRefused) {
  Fixture fx;
  EXPECT_EQ(Manager::check_writable(fx.dir() + "/missing").error().code, "not_found");
  EXPECT_FALSE(Manager::setup(fx.dir() + "/missing", 1));
  fx.delegated("memory");
  auto m = Manager::setup(fx.dir(), 3);
  ASSERT_TRUE(m);
  EXPECT_FALSE((*m)->create_leaf("../escape", limits(64, 1, 5)));
  // A leaf that exists and holds processes belongs to someone else.
  fx.write("workers/w-busy/cgroup.procs", "4711\n");
  auto busy = (*m)->create_leaf("w-busy", limits(64, 1, 5));
  ASSERT_FALSE(busy);
  EXPECT_NE(busy.error().message.find("already holds processes"), std::string::npos);
  EXPECT_EQ(fx.read("workers/w-busy/cgroup.procs"), "4711\n");
  // An empty leftover is replaced by a fresh leaf (what the old one held is gone).
  fx.write("workers/w-left/left-behind", "1\n");
  EXPECT_TRUE((*m)->create_leaf("w-left", limits(64, 1, 5)));
  EXPECT_TRUE(fx.exists("workers/w-left"));
  EXPECT_FALSE(fx.exists("workers/w-left/left-behind"));
  EXPECT_FALSE((*m)->create_leaf("", limits(64, 1, 5)));
  EXPECT_FALSE(fx.exists("escape"));
}

TEST(CgroupManager, GivenLeftoverLeaves_ThenEmptyOnesAreRemovedPopulatedOnesKept) {
  Fixture fx;
  fx.delegated("");
  fx.write("workers/w-old/cgroup.procs", "123\n");  // stands for a populated leaf
  std::filesystem::create_directories(fx.dir() + "/workers/w-empty");
  auto m = Manager::setup(fx.dir(), 3);
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)->remove_empty_leaves(), 1u);
  EXPECT_FALSE(fx.exists("workers/w-empty"));
  EXPECT_TRUE(fx.exists("workers/w-old"));
}

// --- enforcement report -----------------------------------------------------------------------

TEST(CgroupEnforcement, GivenNoCgroup_ThenRlimitsAndNone) {
  const auto e = enforcement_for(std::nullopt, false);
  EXPECT_EQ(e.memory, "none");
  EXPECT_EQ(e.cpus, "none");
  EXPECT_EQ(e.pids, "rlimit");
  EXPECT_EQ(e.nofile, "rlimit");
  EXPECT_EQ(e.tmp, "tmpfs");
  EXPECT_EQ(e.wall, "supervisor");
  EXPECT_EQ(enforcement_for(std::nullopt, true).memory, "rlimit");
  // A cgroup without controllers (a hybrid host) enforces nothing more.
  EXPECT_EQ(enforcement_for(Controllers{}, false), e);
}

TEST(CgroupEnforcement, GivenControllers_ThenEachLimitSaysCgroup) {
  const auto all = enforcement_for(Controllers{true, true, true}, true);
  EXPECT_EQ(all.memory, "cgroup");
  EXPECT_EQ(all.cpus, "cgroup");
  EXPECT_EQ(all.pids, "cgroup");
  const auto pids_only = enforcement_for(Controllers{false, false, true}, false);
  EXPECT_EQ(pids_only.memory, "none");
  EXPECT_EQ(pids_only.cpus, "none");
  EXPECT_EQ(pids_only.pids, "cgroup");
}
