// The supervisor's side of per-worker limits and network = "none": the enforcement report and
// usage in snapshots, the worker JSON, and the port reservation a bridged worker keeps.
#include <fcntl.h>
#include <gtest/gtest.h>

#include "paddock/api/routes.hpp"
#include "paddock/api/worker_json.hpp"
#include "paddock/supervisor/supervisor.hpp"
#include "support/fakes.hpp"

using namespace paddock;
using namespace paddock::supervisor;
using namespace std::chrono_literals;

namespace {

/// Hands out a real descriptor per lease, so "the listener was passed" is observable.
class FdBinder final : public pool::PortBinder {
 public:
  Result<util::UniqueFd> bind(std::uint16_t) override {
    return util::UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  }
};

class SupervisorLimits : public ::testing::Test {
 protected:
  SupervisorLimits() : uids(60000, 60002, table), ports(20000, 20001, binder) {
    cfg.process.worker_uid_range_start = 60000;
    cfg.process.worker_uid_range_end = 60002;
    cfg.process.port_range_start = 20000;
    cfg.process.port_range_end = 20001;
    cfg.process.bundle_roots = {"/srv/bundles"};
    cfg.log.worker_log_ring_bytes = 4096;
    sandbox::SandboxProfile p;
    p.name = "shell";
    p.ro_paths = {"/usr"};
    p.command = {"/bin/sh"};
    profiles.profiles["shell"] = p;
    sandbox::SandboxProfile big = p;
    big.name = "capped";
    big.rlimit_as_mb = 4096;
    profiles.profiles["capped"] = big;
    sup = std::make_unique<Supervisor>(cfg, ops, sched, uids, ports, profiles, fs, events);
  }

  sandbox::WorkerSpec spec() {
    sandbox::WorkerSpec s;
    s.profile = "shell";
    s.command = {"/bin/sh", "-c", "sleep 100"};
    return s;
  }

  config::Config cfg;
  fakes::EmptyProcessTable table;
  FdBinder binder;
  pool::UidPool uids;
  pool::PortPool ports;
  fakes::MapProfiles profiles;
  fakes::FakeFs fs;
  fakes::FakeScheduler sched;
  fakes::FakeProcessOps ops;
  EventBus events;
  std::unique_ptr<Supervisor> sup;
};

}  // namespace

TEST_F(SupervisorLimits, GivenNoCgroup_ThenEnforcementIsRlimitOnlyAndUsageIsNull) {
  auto w = sup->create(spec());
  ASSERT_TRUE(w) << w.error().message;
  ops.start(0);
  const auto snap = *sup->get(w->id);
  EXPECT_EQ(snap.enforcement, cgroup::enforcement_for(std::nullopt, false));
  EXPECT_EQ(snap.enforcement.pids, "rlimit");
  EXPECT_EQ(snap.enforcement.memory, "none");
  EXPECT_FALSE(snap.usage);
  const auto j = api::to_json(snap);
  EXPECT_EQ(j["enforcement"]["pids"], "rlimit");
  EXPECT_EQ(j["enforcement"]["nofile"], "rlimit");
  EXPECT_EQ(j["enforcement"]["tmp"], "tmpfs");
  EXPECT_EQ(j["enforcement"]["wall"], "supervisor");
  EXPECT_TRUE(j["usage"].is_null());
}

TEST_F(SupervisorLimits, GivenProfileWithRlimitAs_ThenMemoryIsEnforcedByRlimit) {
  auto s = spec();
  s.profile = "capped";
  auto w = sup->create(s);
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(sup->get(w->id)->enforcement.memory, "rlimit");
}

TEST_F(SupervisorLimits, GivenCgroupWithControllers_ThenEnforcementAndUsageComeFromIt) {
  ops.cgroup = cgroup::Controllers{true, true, true};
  ops.usage_now = cgroup::Usage{4096, 1500, 3, 1};
  auto w = sup->create(spec());
  ASSERT_TRUE(w) << w.error().message;
  ops.start(0);
  const auto snap = *sup->get(w->id);
  EXPECT_EQ(snap.enforcement.memory, "cgroup");
  EXPECT_EQ(snap.enforcement.cpus, "cgroup");
  EXPECT_EQ(snap.enforcement.pids, "cgroup");
  ASSERT_TRUE(snap.usage);
  const auto j = api::to_json(snap);
  EXPECT_EQ(j["usage"]["memory_bytes"], 4096);
  EXPECT_EQ(j["usage"]["cpu_usec"], 1500);
  EXPECT_EQ(j["usage"]["pids"], 3);
  EXPECT_EQ(j["usage"]["oom_kills"], 1);
  // After exit the leaf is gone: no usage, but the report of what enforced it stays.
  ops.exit(0, 0);
  const auto done = *sup->get(w->id);
  EXPECT_FALSE(done.usage);
  EXPECT_EQ(done.enforcement.memory, "cgroup");
}

TEST_F(SupervisorLimits, GivenCgroupWithoutControllers_ThenUsageFieldsMayBeNull) {
  ops.cgroup = cgroup::Controllers{};
  ops.usage_now = cgroup::Usage{std::nullopt, 77, std::nullopt, std::nullopt};
  auto w = sup->create(spec());
  ASSERT_TRUE(w);
  ops.start(0);
  const auto j = api::to_json(*sup->get(w->id));
  EXPECT_EQ(j["enforcement"]["memory"], "none");
  EXPECT_EQ(j["enforcement"]["pids"], "rlimit");
  EXPECT_TRUE(j["usage"]["memory_bytes"].is_null());
  EXPECT_EQ(j["usage"]["cpu_usec"], 77);
}

TEST_F(SupervisorLimits, GivenNetworkNoneWithPort_ThenEveryLaunchGetsTheListenerAndThePortStays) {
  auto s = spec();
  s.port = true;
  s.network = sandbox::NetworkMode::None;
  s.restart = sandbox::RestartPolicy::Always;
  auto w = sup->create(s);
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_TRUE(w->port);
  ASSERT_EQ(ops.launches.size(), 1u);
  EXPECT_TRUE(ops.launches[0].had_port_listener);
  EXPECT_EQ(ops.launches[0].plan.network, sandbox::NetworkMode::None);
  ops.start(0);
  ops.exit(0, 1);
  sched.advance(5s);
  ASSERT_EQ(ops.launches.size(), 2u);
  EXPECT_TRUE(ops.launches[1].had_port_listener) << "the bridge needs the port on every launch";
  EXPECT_EQ(ops.launches[1].plan.port, w->port);
  EXPECT_TRUE(ports.is_leased(*w->port));
}

TEST_F(SupervisorLimits, GivenHostNetworkNotAllowed_ThenItIsRefusedUpFrontNamingTheField) {
  cfg.process.allow_host_network = false;
  sup = std::make_unique<Supervisor>(cfg, ops, sched, uids, ports, profiles, fs, events,
                                     SupervisorOptions{});
  auto s = spec();
  s.port = true;
  s.network = sandbox::NetworkMode::Host;
  auto refused = sup->create(s);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().field, "network");
  EXPECT_NE(refused.error().message.find("allow_host_network"), std::string::npos);
  EXPECT_EQ(api::status_for(refused.error()), 400u);
  EXPECT_TRUE(ops.launches.empty()) << "nothing may be started";
  EXPECT_TRUE(sup->list().empty()) << "nothing may be left behind";
  // The default network (private) and "none" need no permission; both get the port bridged.
  s.network.reset();
  auto w = sup->create(s);
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->network, sandbox::NetworkMode::Private);
  ASSERT_EQ(ops.launches.size(), 1u);
  EXPECT_EQ(ops.launches[0].plan.network, sandbox::NetworkMode::Private);
  EXPECT_TRUE(ops.launches[0].had_port_listener);
  s.network = sandbox::NetworkMode::None;
  EXPECT_TRUE(sup->create(s)) << "network none with a port";
}

TEST_F(SupervisorLimits, GivenNetworkPrivateWithPort_ThenEveryLaunchGetsTheListener) {
  auto s = spec();
  s.port = true;
  s.restart = sandbox::RestartPolicy::Always;
  auto w = sup->create(s);
  ASSERT_TRUE(w) << w.error().message;
  ops.start(0);
  ops.exit(0, 1);
  sched.advance(5s);
  ASSERT_EQ(ops.launches.size(), 2u);
  EXPECT_TRUE(ops.launches[1].had_port_listener) << "the bridge needs the port on every launch";
  EXPECT_TRUE(ports.is_leased(*w->port));
}

TEST_F(SupervisorLimits, GivenNetworkHostWithPort_ThenOnlyTheFirstLaunchGetsTheListener) {
  cfg.process.allow_host_network = true;
  sup = std::make_unique<Supervisor>(cfg, ops, sched, uids, ports, profiles, fs, events,
                                     SupervisorOptions{});
  auto s = spec();
  s.port = true;
  s.network = sandbox::NetworkMode::Host;
  s.restart = sandbox::RestartPolicy::Always;
  auto w = sup->create(s);
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_TRUE(ops.launches[0].had_port_listener);
  ops.start(0);
  ops.exit(0, 1);
  sched.advance(5s);
  ASSERT_EQ(ops.launches.size(), 2u);
  EXPECT_FALSE(ops.launches[1].had_port_listener);
}
