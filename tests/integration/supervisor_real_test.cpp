// The supervisor with the real ProcessOps: real bwrap, real UIDs, the compiled seccomp profile.
// Runs the io_context in the test thread until a condition holds (bounded).
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "paddock/supervisor/asio_process_ops.hpp"
#include "paddock/supervisor/supervisor.hpp"

using namespace paddock;
using namespace paddock::supervisor;
using namespace std::chrono_literals;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

class SupervisorReal : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to worker UIDs";
    bpf = read_file(PADDOCK_BINARY_DIR "/profiles/seccomp/default.bpf");
    ASSERT_FALSE(bpf.empty()) << "build the seccomp profiles first";
    dir = std::filesystem::temp_directory_path() / ("paddock-sup-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir / "bundles");
    std::filesystem::create_directories(dir / "data");
    cfg.process.worker_uid_range_start = 60400;
    cfg.process.worker_uid_range_end = 60449;
    cfg.process.port_range_start = 24000;
    cfg.process.port_range_end = 24049;
    cfg.process.sandbox_profiles_dir = PADDOCK_SOURCE_DIR "/profiles/sandbox";
    cfg.process.bundle_roots = {(dir / "bundles").string()};
    cfg.process.data_root = (dir / "data").string();
    cfg.process.state_dir = (dir / "state").string();
    cfg.process.readiness_timeout_seconds = 20;
    cfg.server.socket = (dir / "paddock.sock").string();
    cfg.server.token_file = (dir / "tokens").string();
    cfg.log.audit_log = "";
    cfg.log.worker_log_ring_bytes = 64 * 1024;
    ASSERT_TRUE(profiles.reload());
    uids = std::make_unique<pool::UidPool>(60400, 60449, table);
    ASSERT_TRUE(uids->adopt_host_state());  // leave UIDs still held by earlier tests alone
    ports = std::make_unique<pool::PortPool>(24000, 24049, binder);
    sched = std::make_unique<AsioScheduler>(ioc);
    ops = std::make_unique<AsioProcessOps>(ioc, bpf);
    sup = std::make_unique<Supervisor>(cfg, *ops, *sched, *uids, *ports, profiles, fs, events);
  }
  void TearDown() override {
    if (sup) {
      bool done = false;
      sup->shutdown(2s, [&] { done = true; });
      run_until([&] { return done; }, 10s);
    }
    sup.reset();
    ops.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  /// Runs the loop until `pred` holds or `limit` passes; returns pred().
  template <class Pred>
  bool run_until(Pred pred, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred() && std::chrono::steady_clock::now() < deadline) {
      ioc.run_for(10ms);
      ioc.restart();
    }
    return pred();
  }

  State state(const std::string& id) { return sup->get(id)->state; }
  std::string output(const std::string& id) {
    std::string s;
    for (const auto& l : sup->logs(id)->tail(1000)) s += l.text + "\n";
    return s;
  }

  sandbox::WorkerSpec shell(std::string script) {
    sandbox::WorkerSpec s;
    s.profile = "shell";
    s.command = {"/bin/sh", "-c", std::move(script)};
    return s;
  }

  std::filesystem::path dir;
  std::string bpf;
  config::Config cfg;
  boost::asio::io_context ioc;
  pool::ProcProcessTable table;
  pool::LoopbackBinder binder;
  sandbox::RealFileSystem fs;
  DirProfileSource profiles{PADDOCK_SOURCE_DIR "/profiles/sandbox"};
  EventBus events;
  std::unique_ptr<pool::UidPool> uids;
  std::unique_ptr<pool::PortPool> ports;
  std::unique_ptr<AsioScheduler> sched;
  std::unique_ptr<AsioProcessOps> ops;
  std::unique_ptr<Supervisor> sup;
};

}  // namespace

TEST_F(SupervisorReal, GivenTrapOnTermWhenStoppedThenWorkloadSeesTermAndExitsZero) {
  auto w =
      sup->create(shell("trap 'echo got-term; exit 0' TERM; echo up; while :; do sleep 0.1; done"));
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_TRUE(run_until([&] { return output(w->id).find("up") != std::string::npos; }, 10s))
      << output(w->id);
  // Output can arrive a moment before the workload's pid is found (and the state moves on).
  EXPECT_TRUE(run_until([&] { return state(w->id) == State::Ready; }, 10s));
  ASSERT_TRUE(sup->stop(w->id, 10s));
  ASSERT_TRUE(run_until([&] { return is_terminal(state(w->id)); }, 10s));
  auto after = sup->get(w->id);
  EXPECT_EQ(after->state, State::Exited);
  EXPECT_EQ(after->exit_code, 0) << after->reason;
  EXPECT_NE(output(w->id).find("got-term"), std::string::npos) << output(w->id);
}

TEST_F(SupervisorReal, GivenWorkloadIgnoringTermWhenStoppedThenKilledAtGrace) {
  auto w = sup->create(shell("trap '' TERM; echo up; while :; do sleep 0.1; done"));
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_TRUE(run_until([&] { return output(w->id).find("up") != std::string::npos; }, 10s));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(sup->stop(w->id, 1s));
  ASSERT_TRUE(run_until([&] { return is_terminal(state(w->id)); }, 10s));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 900ms) << "killed before the grace period";
  EXPECT_EQ(sup->get(w->id)->signal, SIGKILL);
}

TEST_F(SupervisorReal, GivenOnFailureWorkerExitingOneThenRestartedUntilStartLimit) {
  auto s = shell("exit 1");
  s.restart = sandbox::RestartPolicy::OnFailure;
  auto w = sup->create(s);
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_TRUE(run_until([&] { return is_terminal(state(w->id)); }, 20s));
  auto after = sup->get(w->id);
  EXPECT_EQ(after->state, State::Failed);
  EXPECT_EQ(after->restarts, 4u);
  EXPECT_NE(after->reason.find("start limit"), std::string::npos) << after->reason;
  EXPECT_EQ(uids->leased(), 0u);
}

TEST_F(SupervisorReal, GivenRunOfEchoThenStdoutAndExitZero) {
  RunSpec rs;
  rs.spec = shell("echo hi; cat; echo oops >&2");
  rs.stdin_data = "from-stdin\n";
  std::optional<RunResult> result;
  ASSERT_TRUE(sup->start_run(rs, [&](const RunResult& r) { result = r; }));
  ASSERT_TRUE(run_until([&] { return result.has_value(); }, 10s));
  EXPECT_EQ(result->stdout_data, "hi\nfrom-stdin\n");
  EXPECT_EQ(result->stderr_data, "oops\n");
  EXPECT_EQ(result->worker.exit_code, 0);
  EXPECT_FALSE(result->timed_out);
}

TEST_F(SupervisorReal, GivenRunOfSleepWithTimeoutThenTimedOut) {
  RunSpec rs;
  rs.spec = shell("sleep 10");
  rs.timeout_seconds = 1;
  std::optional<RunResult> result;
  ASSERT_TRUE(sup->start_run(rs, [&](const RunResult& r) { result = r; }));
  ASSERT_TRUE(run_until([&] { return result.has_value(); }, 10s));
  EXPECT_TRUE(result->timed_out);
  EXPECT_LT(result->duration_ms, 5000);
}

TEST_F(SupervisorReal, GivenHttpServerWorkerThenReadyWhenPortAccepts) {
  sandbox::WorkerSpec s;
  s.profile = "python";
  s.port = true;
  s.command = {"/bin/sh", "-c", "exec python3 -m http.server --bind 127.0.0.1 \"$PORT\""};
  auto w = sup->create(s);
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_TRUE(
      run_until([&] { return state(w->id) == State::Ready || is_terminal(state(w->id)); }, 20s));
  EXPECT_EQ(state(w->id), State::Ready) << sup->get(w->id)->reason << "\n" << output(w->id);
}

TEST_F(SupervisorReal, GivenFloodingWorkerThenRingStaysBoundedAndDropsAreCounted) {
  auto w = sup->create(shell("head -c 20000000 /dev/zero | tr '\\0' 'x' | fold -w 100"));
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_TRUE(run_until([&] { return is_terminal(state(w->id)); }, 60s));
  EXPECT_LE(sup->logs(w->id)->bytes(), 64u * 1024u);
  EXPECT_GT(sup->get(w->id)->dropped_log_bytes, 19000000u);
}
