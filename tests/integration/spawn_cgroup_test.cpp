// The spawner places a worker in a cgroup v2 leaf before bwrap runs: through clone3 with
// CLONE_INTO_CGROUP, and through the cgroup.procs fallback (the child waits until it was moved).
// Runs on the real cgroup2 mount (on a hybrid host: /sys/fs/cgroup/unified, no controllers).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "paddock/cgroup/detect.hpp"
#include "paddock/cgroup/manager.hpp"
#include "paddock/pool/process_table.hpp"
#include "paddock/pool/uid_pool.hpp"
#include "paddock/sandbox/plan.hpp"
#include "paddock/spawn/reaper.hpp"
#include "paddock/spawn/spawn.hpp"
#include "paddock/spawn/status.hpp"
#include "support/spawn_support.hpp"

using namespace paddock;
using namespace std::chrono_literals;
namespace ts = paddock::testsupport;

namespace {

// The same per-process UID slices as the other spawn tests (62000-64999).
const unsigned kSlice = static_cast<unsigned>(::getpid()) % 15;
const uid_t kFirstUid = 62000 + kSlice * 200;

std::string v2_cgroup_of(pid_t pid) {
  const std::string text = ts::read_file("/proc/" + std::to_string(pid) + "/cgroup");
  const auto at = text.find("0::");
  if (at == std::string::npos) return {};
  const auto end = text.find('\n', at);
  return text.substr(at + 3, end - at - 3);
}

class SpawnCgroup : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to worker UIDs";
    auto found = cgroup::detect();
    ASSERT_TRUE(found) << found.error().message;
    if (!found->has_v2()) GTEST_SKIP() << "no cgroup2 mount holds this process";
    if (auto w = cgroup::Manager::check_writable(found->own_dir()); !w) {
      GTEST_SKIP() << "this process's cgroup is not writable: " << w.error().message;
    }
    own_ = *found;
    cfg_ = layout_.config(kFirstUid, 200);
    ASSERT_TRUE(uids_.adopt_host_state());
  }

  cgroup::Detection own_;
  ts::DaemonLayout layout_;
  config::Config cfg_;
  pool::ProcProcessTable table_;
  pool::UidPool uids_{kFirstUid, kFirstUid + 199, table_};
};

}  // namespace

TEST_P(SpawnCgroup, GivenALeaf_WhenSpawning_ThenBwrapAndTheWorkloadAreInItFromTheStart) {
  const bool via_procs = GetParam();
  const std::string name =
      "paddock-spawn-test-" + std::to_string(::getpid()) + (via_procs ? "-procs" : "-clone3");
  const std::string leaf = own_.own_dir() + "/" + name;
  ASSERT_EQ(::mkdir(leaf.c_str(), 0755), 0) << leaf << ": " << std::strerror(errno);
  util::UniqueFd dir(::open(leaf.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dir.valid());

  auto uid = uids_.acquire();
  ASSERT_TRUE(uid) << uid.error().message;
  sandbox::WorkerSpec spec;
  spec.command = {"sleep", "30"};
  sandbox::Allocation alloc;
  alloc.worker_id = "cg1";
  alloc.uid = *uid;
  auto plan = sandbox::make_plan(spec, ts::source_profile("shell"), cfg_, alloc);
  ASSERT_TRUE(plan) << plan.error().message;
  spawn::SpawnInputs in;
  const std::string bpf = ts::test_seccomp_bpf();
  in.seccomp_bpf = bpf;
  in.cgroup_fd = dir.get();
  in.cgroup_via_procs = via_procs;
  auto s = spawn::spawn(*plan, std::move(in));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->cgroup_placement,
            via_procs ? spawn::CgroupPlacement::ProcsFile : spawn::CgroupPlacement::Clone3);
  const std::string rel = (own_.own_path == "/" ? "" : own_.own_path) + "/" + name;
  EXPECT_EQ(v2_cgroup_of(s->pid), rel) << "bwrap";
  auto workload = spawn::read_workload_pid(s->status_fd.get(), 10000ms);
  ASSERT_TRUE(workload) << workload.error().message;
  EXPECT_EQ(v2_cgroup_of(*workload), rel) << "workload";
  const std::string procs = ts::read_file(leaf + "/cgroup.procs");
  EXPECT_NE(procs.find(std::to_string(s->pid) + "\n"), std::string::npos) << procs;

  ts::kill_and_reap(*s, *uid);
  uids_.release(*uid);
  bool removed = false;
  for (int i = 0; i < 100 && !removed; ++i) {
    removed = ::rmdir(leaf.c_str()) == 0;
    if (!removed) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(removed) << "rmdir(" << leaf << "): " << std::strerror(errno);
}

INSTANTIATE_TEST_SUITE_P(Placement, SpawnCgroup, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "ProcsFile" : "Clone3"; });
