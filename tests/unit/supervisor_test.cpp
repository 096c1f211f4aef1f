// The supervisor's lifecycle with a fake ProcessOps and a fake clock: no processes, no sleeping.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>

#include "paddock/supervisor/supervisor.hpp"
#include "support/fakes.hpp"

using namespace paddock;
using namespace paddock::supervisor;
using namespace std::chrono_literals;
using paddock::fakes::FakeProcessOps;
using paddock::fakes::FakeScheduler;

namespace {

config::Config make_config() {
  config::Config c;
  c.process.worker_uid_range_start = 60000;
  c.process.worker_uid_range_end = 60002;
  c.process.port_range_start = 20000;
  c.process.port_range_end = 20001;
  c.process.max_workers = 10;
  c.process.bundle_roots = {"/srv/bundles"};
  c.process.stop_grace_seconds = 10;
  c.process.readiness_timeout_seconds = 5;
  c.log.worker_log_ring_bytes = 4096;
  return c;
}

sandbox::SandboxProfile shell_profile() {
  sandbox::SandboxProfile p;
  p.name = "shell";
  p.ro_paths = {"/usr"};
  p.symlinks = {{"usr/bin", "/bin"}};
  p.command = {"/bin/sh"};
  p.env_allow = {"GREETING"};
  return p;
}

class SupervisorTest : public ::testing::Test {
 protected:
  SupervisorTest()
      : cfg(make_config()),
        uids(cfg.process.worker_uid_range_start, cfg.process.worker_uid_range_end, table),
        ports(20000, 20001, binder) {
    profiles.profiles["shell"] = shell_profile();
    sup = std::make_unique<Supervisor>(cfg, ops, sched, uids, ports, profiles, fs, events);
    events.subscribe([this](const Event& e) {
      seen.push_back(std::string(to_string(e.from)) + ">" + std::string(to_string(e.to)));
    });
  }

  sandbox::WorkerSpec spec(std::vector<std::string> cmd = {"/bin/sh", "-c", "true"}) {
    sandbox::WorkerSpec s;
    s.command = std::move(cmd);
    return s;
  }

  State state(const std::string& id) { return sup->get(id)->state; }

  config::Config cfg;
  fakes::EmptyProcessTable table;
  fakes::AlwaysBinder binder;
  pool::UidPool uids;
  pool::PortPool ports;
  fakes::MapProfiles profiles;
  fakes::FakeFs fs;
  FakeScheduler sched;
  FakeProcessOps ops;
  EventBus events;
  std::vector<std::string> seen;
  std::unique_ptr<Supervisor> sup;
};

}  // namespace

TEST_F(SupervisorTest, GivenSpecWhenCreatedThenStartingThenRunningThenReady) {
  auto w = sup->create(spec());
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->state, State::Starting);
  EXPECT_EQ(w->uid, 60000u);
  ASSERT_EQ(ops.launches.size(), 1u);
  EXPECT_EQ(ops.launches[0].plan.uid, 60000u);
  ops.start(0, 4242);
  EXPECT_EQ(state(w->id), State::Ready);
  EXPECT_EQ(sup->get(w->id)->pid, 4242);
  EXPECT_EQ(seen,
            (std::vector<std::string>{"starting>starting", "starting>running", "running>ready"}));
}

TEST_F(SupervisorTest, GivenRunningWorkerWhenStoppedThenTermGoesToWorkloadAndExitIsRecorded) {
  auto w = sup->create(spec());
  ops.start(0);
  auto s = sup->stop(w->id, std::nullopt);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->state, State::Stopping);
  ASSERT_EQ(ops.signals.size(), 1u);
  EXPECT_EQ(ops.signals[0].second, SIGTERM);
  ops.exit(0, 0);
  auto after = sup->get(w->id);
  EXPECT_EQ(after->state, State::Exited);
  EXPECT_EQ(after->exit_code, 0);
  EXPECT_NE(after->reason.find("stopped by request"), std::string::npos) << after->reason;
  EXPECT_TRUE(ops.kills.empty());
  EXPECT_EQ(uids.leased(), 0u);
}

TEST_F(SupervisorTest, GivenWorkerIgnoringTermWhenGraceEndsThenTreeIsKilled) {
  auto w = sup->create(spec());
  ops.start(0);
  (void)sup->stop(w->id, 3s);
  sched.advance(2999ms);
  EXPECT_TRUE(ops.kills.empty());
  sched.advance(1ms);
  ASSERT_EQ(ops.kills.size(), 1u);
  ops.exit(0, -1, SIGKILL);
  EXPECT_EQ(state(w->id), State::Exited);
  EXPECT_EQ(sup->get(w->id)->signal, SIGKILL);
}

TEST_F(SupervisorTest, GivenStopTwiceThenIdempotentAndWorksWhileStarting) {
  auto w = sup->create(spec());
  auto a = sup->stop(w->id, 1s);  // workload pid not known yet
  auto b = sup->stop(w->id, 1s);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(b->state, State::Stopping);
  EXPECT_EQ(ops.signals.size(), 1u);
  ops.exit(0, 143);
  EXPECT_EQ(state(w->id), State::Exited);
  EXPECT_TRUE(sup->stop(w->id, 1s));  // still fine once exited
  EXPECT_FALSE(sup->stop("w-nope", 1s));
}

TEST_F(SupervisorTest,
       GivenOnFailureWhenExitingNonZeroThenRestartsWithGrowingDelaysUntilStartLimit) {
  auto s = spec();
  s.restart = sandbox::RestartPolicy::OnFailure;
  auto w = sup->create(s);
  std::vector<std::chrono::milliseconds> delays;
  for (int i = 0; i < 4; ++i) {
    ops.start(ops.last());
    ops.exit(ops.last(), 1);
    ASSERT_EQ(state(w->id), State::Starting) << i;
    const auto launches = ops.launches.size();
    std::chrono::milliseconds waited{0};
    while (ops.launches.size() == launches) {
      sched.advance(1ms);
      waited += 1ms;
      ASSERT_LT(waited, 60s);
    }
    delays.push_back(waited);
  }
  EXPECT_EQ(delays, (std::vector<std::chrono::milliseconds>{100ms, 200ms, 400ms, 800ms}));
  ops.start(ops.last());
  ops.exit(ops.last(), 1);
  auto after = sup->get(w->id);
  EXPECT_EQ(after->state, State::Failed);
  EXPECT_NE(after->reason.find("start limit"), std::string::npos) << after->reason;
  EXPECT_EQ(after->restarts, 4u);
  EXPECT_EQ(uids.leased(), 0u);
}

TEST_F(SupervisorTest, GivenABundleReplacedByASymlinkAfterCreation_WhenRestarted_ThenNotLaunched) {
  fs.dirs.insert("/etc");
  auto s = spec();
  s.bundle = "/srv/bundles/app1";
  s.restart = sandbox::RestartPolicy::OnFailure;
  auto w = sup->create(s);
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_EQ(ops.launches.size(), 1u);
  EXPECT_EQ(ops.launches[0].plan.bundle_path, "/srv/bundles/app1");
  // The directory becomes a symlink to /etc, then the workload fails and is restarted.
  fs.dirs.erase("/srv/bundles/app1");
  fs.links["/srv/bundles/app1"] = "/etc";
  ops.start(ops.last());
  ops.exit(ops.last(), 1);
  sched.advance(60s);
  for (const auto& l : ops.launches) EXPECT_EQ(l.plan.bundle_path, "/srv/bundles/app1");
  EXPECT_EQ(ops.launches.size(), 1u);
  const auto after = sup->get(w->id);
  EXPECT_EQ(after->state, State::Failed);
  EXPECT_NE(after->reason.find("changed since the worker was created"), std::string::npos)
      << after->reason;
  EXPECT_EQ(uids.leased(), 0u);
}

TEST_F(SupervisorTest, GivenADataMountWorker_ThenItsDataDirIsRemovedOnceWhenItEndsNotOnRestart) {
  profiles.profiles["shell"].data_mount = "/data";
  auto s = spec();
  s.restart = sandbox::RestartPolicy::OnFailure;
  auto w = sup->create(s);
  ASSERT_TRUE(w) << w.error().message;
  const std::string dir = ops.launches[0].plan.data_dir;
  EXPECT_EQ(dir, cfg.process.data_root + "/" + w->id);
  ops.start(ops.last());
  ops.exit(ops.last(), 1);
  sched.advance(1s);
  ASSERT_EQ(ops.launches.size(), 2u);
  EXPECT_TRUE(ops.removed_data_dirs.empty()) << "removed on a restart";
  ops.start(ops.last());
  ASSERT_TRUE(sup->stop(w->id, 1s));
  ops.exit(ops.last(), 0, SIGTERM);
  EXPECT_TRUE(is_terminal(state(w->id)));
  EXPECT_EQ(ops.removed_data_dirs, (std::vector<std::string>{dir}));
  // A worker without a data mount has nothing to remove.
  profiles.profiles["shell"].data_mount.clear();
  auto plain = sup->create(spec());
  ops.start(ops.last());
  ops.exit(ops.last(), 0);
  EXPECT_EQ(ops.removed_data_dirs.size(), 1u);
}

TEST_F(SupervisorTest, GivenManyWorkers_ThenIdsAreTypePrefixedAnd128RandomBits) {
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    auto w = sup->create(spec());
    ASSERT_TRUE(w);
    EXPECT_TRUE(ids.insert(w->id).second) << w->id;
    EXPECT_EQ(w->id.rfind("w-", 0), 0u) << w->id;
    EXPECT_EQ(w->id.size(), 24u) << w->id;
    ops.start(ops.last());
    ops.exit(ops.last(), 0);
  }
}

TEST_F(SupervisorTest, GivenStableRunThenFailureCounterResets) {
  auto s = spec();
  s.restart = sandbox::RestartPolicy::Always;
  auto w = sup->create(s);
  for (int i = 0; i < 12; ++i) {
    ops.start(ops.last());
    sched.advance(61s);  // each run is stable
    ops.exit(ops.last(), 0);
    sched.advance(200ms);
    ASSERT_NE(state(w->id), State::Failed) << i;
  }
  EXPECT_EQ(sup->get(w->id)->restarts, 12u);
}

TEST_F(SupervisorTest, GivenNeverPolicyWhenExitingNonZeroThenExitedWithCode) {
  auto w = sup->create(spec());
  ops.start(0);
  ops.exit(0, 3);
  auto after = sup->get(w->id);
  EXPECT_EQ(after->state, State::Exited);
  EXPECT_EQ(after->exit_code, 3);
  EXPECT_EQ(ops.launches.size(), 1u);
}

TEST_F(SupervisorTest, GivenPortWorkerThenReadyOnlyWhenThePortAccepts) {
  auto s = spec();
  s.port = true;
  auto w = sup->create(s);
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_TRUE(w->port);
  EXPECT_EQ(ops.launches[0].plan.port, w->port);
  ops.start(0);
  EXPECT_EQ(state(w->id), State::Running);
  sched.advance(500ms);
  EXPECT_EQ(state(w->id), State::Running);
  EXPECT_GE(ops.probes.size(), 3u);
  ops.port_open = true;
  sched.advance(1100ms);
  EXPECT_EQ(state(w->id), State::Ready);
}

TEST_F(SupervisorTest, GivenPortNeverOpensThenFailedAtReadinessTimeout) {
  auto s = spec();
  s.port = true;
  auto w = sup->create(s);
  ops.start(0);
  sched.advance(5s);
  EXPECT_EQ(state(w->id), State::Stopping);
  ASSERT_EQ(ops.kills.size(), 1u);
  ops.exit(0, -1, SIGKILL);
  auto after = sup->get(w->id);
  EXPECT_EQ(after->state, State::Failed);
  EXPECT_NE(after->reason.find("not ready"), std::string::npos) << after->reason;
  EXPECT_EQ(ports.leased(), 0u);
}

TEST_F(SupervisorTest, GivenIdleTimeoutThenStoppedWithReasonUnlessOutputKeepsItBusy) {
  auto s = spec();
  s.idle_timeout_seconds = 10;
  auto w = sup->create(s);
  ops.start(0);
  for (int i = 0; i < 5; ++i) {
    sched.advance(4s);
    ops.output(0, Stream::Stdout, "tick\n");
  }
  EXPECT_EQ(state(w->id), State::Ready);
  sched.advance(11s);
  EXPECT_EQ(state(w->id), State::Stopping);
  ops.exit(0, 0);
  EXPECT_NE(sup->get(w->id)->reason.find("idle timeout"), std::string::npos);
}

TEST_F(SupervisorTest, GivenMaxLifetimeThenStoppedWhenItIsReached) {
  auto s = spec();
  s.max_lifetime_seconds = 30;
  auto w = sup->create(s);
  ops.start(0);
  sched.advance(29s);
  EXPECT_EQ(state(w->id), State::Ready);
  sched.advance(1s);
  EXPECT_EQ(state(w->id), State::Stopping);
  ops.exit(0, 0);
  EXPECT_NE(sup->get(w->id)->reason.find("max lifetime"), std::string::npos);
}

TEST_F(SupervisorTest, GivenUidRangeExhaustedThenClearErrorAndRecoveryAfterExit) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(sup->create(spec())->id);
  auto extra = sup->create(spec());
  ASSERT_FALSE(extra);
  EXPECT_EQ(extra.error().code, "uid_exhausted");
  ops.start(0);
  ops.exit(0, 0);
  auto again = sup->create(spec());
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->uid, 60000u);
}

TEST_F(SupervisorTest, GivenMaxWorkersThenCapacityError) {
  cfg.process.max_workers = 1;
  ASSERT_TRUE(sup->create(spec()));
  auto second = sup->create(spec());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, "capacity");
}

TEST_F(SupervisorTest, GivenLiveNameThenSecondWorkerWithSameNameIsRefused) {
  auto s = spec();
  s.name = "shiny";
  ASSERT_TRUE(sup->create(s));
  auto dup = sup->create(s);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, "name_taken");
  EXPECT_EQ(dup.error().field, "name");
}

TEST_F(SupervisorTest, GivenBadRequestThenNothingIsLeftAllocated) {
  auto s = spec();
  s.env["NOT_ALLOWED"] = "x";
  auto r = sup->create(s);
  ASSERT_FALSE(r);
  EXPECT_EQ(uids.leased(), 0u);
  EXPECT_TRUE(ops.launches.empty());
  auto p = spec();
  p.profile = "nope";
  auto r2 = sup->create(p);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().field, "profile");
  auto b = spec();
  b.bundle = "/srv/bundles/../../etc";
  EXPECT_FALSE(sup->create(b));
  EXPECT_EQ(uids.leased(), 0u);
  EXPECT_TRUE(sup->list().empty());
}

TEST_F(SupervisorTest, GivenSpawnFailureThenErrorAndResourcesReturned) {
  ops.fail_next_launch = true;
  auto s = spec();
  s.port = true;
  auto r = sup->create(s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "spawn_failed");
  EXPECT_EQ(uids.leased(), 0u);
  EXPECT_EQ(ports.leased(), 0u);
  EXPECT_EQ(sup->stats().spawns_failed, 1u);
}

TEST_F(SupervisorTest, GivenRunThenOutputIsCapturedAndTruncatedAtTheCap) {
  RunSpec rs;
  rs.spec = spec({"/bin/echo", "hi"});
  rs.output_cap_bytes = 8;
  rs.stdin_data = "input";
  std::optional<RunResult> result;
  auto r = sup->start_run(rs, [&](const RunResult& res) { result = res; });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(ops.launches[0].stdin_data, "input");
  ops.start(0);
  ops.output(0, Stream::Stdout, "hi\n");
  ops.output(0, Stream::Stdout, "0123456789");
  ops.output(0, Stream::Stderr, "warn\n");
  EXPECT_FALSE(result);
  ops.exit(0, 0);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->stdout_data, "hi\n01234");
  EXPECT_TRUE(result->stdout_truncated);
  EXPECT_EQ(result->stderr_data, "warn\n");
  EXPECT_FALSE(result->stderr_truncated);
  EXPECT_EQ(result->worker.exit_code, 0);
  EXPECT_FALSE(result->timed_out);
  EXPECT_TRUE(sup->list().empty()) << "runs are not listed as workers";
}

TEST_F(SupervisorTest, GivenRunWithFilesAndCollectThenCollectedBeforeItsUidAndDirectoryGo) {
  RunSpec rs;
  rs.spec = spec({"/bin/sh", "main.sh"});
  rs.files = {{"main.sh", "echo hi > out.txt"}};
  rs.collect = {"out.txt"};
  std::optional<RunResult> result;
  const auto free_before = sup->stats().free_uids;
  auto r = sup->start_run(rs, [&](const RunResult& res) { result = res; });
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(ops.launches[0].run_workdir);
  ASSERT_EQ(ops.launches[0].files.size(), 1u);
  EXPECT_EQ(ops.launches[0].files[0].content, "echo hi > out.txt");
  EXPECT_EQ(ops.launches[0].plan.cwd, "/work");
  EXPECT_EQ(ops.launches[0].plan.data_dir, cfg.process.data_root + "/" + r->id);
  ops.start(0);
  ops.exit(0, 0);
  // The tree has ended: collect is asked for while the run still holds its UID and directory.
  ASSERT_EQ(ops.collects.size(), 1u);
  EXPECT_EQ(ops.collects[0].first.worker_id, r->id);
  EXPECT_EQ(ops.collects[0].first.patterns, std::vector<std::string>{"out.txt"});
  EXPECT_EQ(ops.collects[0].first.uid, static_cast<uid_t>(r->uid.value_or(0)));
  EXPECT_FALSE(result);
  EXPECT_TRUE(ops.removed_data_dirs.empty());
  EXPECT_EQ(sup->stats().free_uids, free_before - 1);
  // A stop meanwhile changes nothing and asks for nothing twice.
  EXPECT_TRUE(sup->stop(r->id, std::chrono::seconds(0), "stop"));
  EXPECT_EQ(ops.collects.size(), 1u);
  runfiles::Collected c;
  c.path = "out.txt";
  c.pattern = "out.txt";
  c.content = "hi\n";
  c.size = 3;
  ops.answer_collect(0, {c});
  ASSERT_TRUE(result);
  ASSERT_EQ(result->files.size(), 1u);
  EXPECT_EQ(result->files[0].content, "hi\n");
  EXPECT_EQ(result->worker.state, State::Exited);
  EXPECT_EQ(ops.removed_data_dirs, std::vector<std::string>{cfg.process.data_root + "/" + r->id});
  EXPECT_EQ(sup->stats().free_uids, free_before);
}

// A run that collects nothing lets the process layer remove its directory as the tree ends;
// when the layer says it did, the supervisor does not ask again. A run that collects must keep
// its directory until the files are read, so it is never offered.
TEST_F(SupervisorTest,
       GivenRunsWithAndWithoutCollect_ThenOnlyTheOneWithoutLetsTheLayerRemoveTheDir) {
  RunSpec plain;
  plain.spec = spec({"/bin/true"});
  std::optional<RunResult> result;
  auto r = sup->start_run(plain, [&](const RunResult& res) { result = res; });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(ops.launches[0].remove_data_at_end);
  ops.start(0);
  ops.exit(0, 0, 0, /*data_removed=*/true);
  ASSERT_TRUE(result);
  EXPECT_TRUE(ops.removed_data_dirs.empty()) << "asked to remove what the layer removed";

  // The layer could not remove it: the supervisor asks, as before.
  result.reset();
  auto again = sup->start_run(plain, [&](const RunResult& res) { result = res; });
  ASSERT_TRUE(again) << again.error().message;
  ops.start(1);
  ops.exit(1, 0);
  ASSERT_TRUE(result);
  EXPECT_EQ(ops.removed_data_dirs,
            std::vector<std::string>{cfg.process.data_root + "/" + again->id});

  RunSpec collecting;
  collecting.spec = spec({"/bin/true"});
  collecting.collect = {"out.txt"};
  auto c = sup->start_run(collecting, [](const RunResult&) {});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE(ops.launches[2].remove_data_at_end);
}

TEST_F(SupervisorTest, GivenRunWithPathTraversalInFilesThenRefusedBeforeAnythingStarts) {
  RunSpec rs;
  rs.spec = spec({"/bin/true"});
  rs.files = {{"../escape", "x"}};
  auto r = sup->start_run(rs, [](const RunResult&) {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "files.../escape");
  EXPECT_TRUE(ops.launches.empty());
}

TEST_F(SupervisorTest, GivenRunPastItsTimeoutThenTreeKilledAndTimedOut) {
  RunSpec rs;
  rs.spec = spec({"/bin/sleep", "10"});
  rs.timeout_seconds = 1;
  std::optional<RunResult> result;
  auto r = sup->start_run(rs, [&](const RunResult& res) { result = res; });
  ops.start(0);
  sched.advance(1s);
  ASSERT_EQ(ops.kills.size(), 1u);
  ops.exit(0, -1, SIGKILL);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->timed_out);
  EXPECT_EQ(result->worker.signal, SIGKILL);
}

TEST_F(SupervisorTest, GivenFollowerThenLinesArriveAndEndIsSignalled) {
  auto w = sup->create(spec());
  ops.start(0);
  std::vector<std::string> got;
  bool ended = false;
  sup->subscribe_logs(
      w->id, [&](const LogLine& l) { got.push_back(l.text); }, [&] { ended = true; });
  ops.output(0, Stream::Stdout, "a\nb");
  EXPECT_EQ(got, (std::vector<std::string>{"a"}));
  ops.exit(0, 0);
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(ended);
  EXPECT_EQ(sup->logs(w->id)->tail(10).size(), 2u);
}

TEST_F(SupervisorTest, GivenShutdownThenAllWorkersStopAndDoneFiresWhenTheyExit) {
  auto a = sup->create(spec());
  auto b = sup->create(spec());
  ops.start(0);
  ops.start(1);
  bool done = false;
  sup->shutdown(2s, [&] { done = true; });
  EXPECT_EQ(ops.signals.size(), 2u);
  EXPECT_FALSE(sup->create(spec()));
  ops.exit(0, 0);
  EXPECT_FALSE(done);
  sched.advance(2s);  // grace over: the second is killed
  EXPECT_EQ(ops.kills.size(), 1u);
  ops.exit(1, -1, SIGKILL);
  EXPECT_TRUE(done);
}

TEST_F(SupervisorTest, GivenRestartRequestThenSameIdUidAndNewProcess) {
  auto w = sup->create(spec());
  ops.start(0);
  auto r = sup->restart(w->id);
  ASSERT_TRUE(r);
  ops.exit(0, 0);
  ASSERT_EQ(ops.launches.size(), 2u);
  EXPECT_EQ(ops.launches[1].plan.uid, w->uid);
  ops.start(1);
  EXPECT_EQ(state(w->id), State::Ready);
}

TEST_F(SupervisorTest, GivenRestartUnderWay_WhenStopped_ThenTheWorkerExitsAndIsNotRelaunched) {
  auto w = sup->create(spec());
  ops.start(0);
  ASSERT_TRUE(sup->restart(w->id));
  EXPECT_EQ(state(w->id), State::Stopping);
  ASSERT_TRUE(sup->stop(w->id, 0s, "stopped by request"));
  ops.exit(0, 0, SIGTERM);
  EXPECT_EQ(ops.launches.size(), 1u) << "the stop was lost: the worker was launched again";
  EXPECT_EQ(state(w->id), State::Exited);
  EXPECT_EQ(uids.leased(), 0u);
}

TEST_F(SupervisorTest, GivenStopUnderWay_WhenRestarted_ThenItStillExits) {
  auto w = sup->create(spec());
  ops.start(0);
  ASSERT_TRUE(sup->stop(w->id, std::nullopt, "stopped by request"));
  ASSERT_TRUE(sup->restart(w->id));
  ops.exit(0, 0, SIGTERM);
  EXPECT_EQ(ops.launches.size(), 1u);
  EXPECT_EQ(state(w->id), State::Exited);
}

TEST_F(SupervisorTest, GivenFiltersThenListMatchesStateAndLabel) {
  auto s = spec();
  s.labels["app"] = "one";
  auto a = sup->create(s);
  auto b = sup->create(spec());
  ops.start(0);
  EXPECT_EQ(sup->list().size(), 2u);
  EXPECT_EQ(sup->list(State::Ready).size(), 1u);
  EXPECT_EQ(sup->list(std::nullopt, std::make_pair(std::string("app"), std::string("one")))[0].id,
            a->id);
  EXPECT_TRUE(
      sup->list(std::nullopt, std::make_pair(std::string("app"), std::string("two"))).empty());
}

TEST_F(SupervisorTest,
       GivenRingsOverTheDaemonTotal_ThenTheTotalStaysBoundedAndTheFileServesEveryLine) {
  char tmpl[] = "/tmp/paddock-sup-logs-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  cfg.log.worker_log_dir = dir;
  cfg.log.max_ring_bytes_total = 6000;  // less than the three 4096-byte rings
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto w = sup->create(spec());
    ASSERT_TRUE(w) << w.error().message;
    ids.push_back(w->id);
    ops.start(ops.last());
  }
  for (int n = 1; n <= 500; ++n) {
    for (std::size_t i = 0; i < 3; ++i) {
      // The first worker prints most.
      const int copies = i == 0 ? 3 : 1;
      for (int c = 0; c < copies; ++c) {
        ops.output(i, Stream::Stdout, "w" + std::to_string(i) + " line\n");
      }
      ASSERT_LE(sup->log_ring_bytes(), cfg.log.max_ring_bytes_total);
    }
  }
  EXPECT_GT(sup->log_ring_bytes(), 0u);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto* log = sup->logs(ids[i]);
    ASSERT_NE(log, nullptr);
    const auto lines = log->since(0);
    ASSERT_EQ(lines.size(), i == 0 ? 1500u : 500u);
    for (std::size_t k = 0; k < lines.size(); ++k) {
      ASSERT_EQ(lines[k].seq, k + 1);
      ASSERT_EQ(lines[k].text, "w" + std::to_string(i) + " line");
    }
    EXPECT_EQ(sup->get(ids[i])->dropped_log_bytes, 0u);
  }
  sup.reset();
  std::filesystem::remove_all(dir);
}
