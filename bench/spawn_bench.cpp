// paddock-bench-spawn: how much the daemon adds to starting a sandbox.
//
// Latency: POST /v1/runs of /bin/true through a real paddockd (answered when the run has ended)
// against the raw operation: fork, setgroups/setresgid/setresuid and exec of bwrap with the same
// argv and seccomp program, waiting for it to exit. A third column, "spawner", is the daemon's
// spawn module alone (spawn::spawn with its pipes read to EOF), to show where the time goes.
// The three are measured interleaved in rounds so background load hits them alike.
//
// Throughput: runs per second with two concurrent clients of the daemon against two concurrent
// raw spawners.
//
//   paddock-bench-spawn [--n=200] [--rounds=10] [--warmup=10] [--throughput-runs=200]
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench_support.hpp"
#include "paddock/spawn/spawn.hpp"
#include "support/proc_probe.hpp"

using namespace paddock;
using namespace paddock::bench;

namespace {

constexpr uid_t kFirstUid = 62000;
constexpr uid_t kUidCount = 64;
const char* const kRunBody = R"({"command":["/bin/true"]})";

double raw_once(const RawBwrap& raw) {
  const auto t0 = Clock::now();
  auto pid = raw.start();
  if (!pid) throw std::runtime_error("raw spawn: " + pid.error().message);
  const int status = wait_for(*pid);
  const double ms = ms_since(t0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("raw bwrap exited with status " + std::to_string(status));
  }
  return ms;
}

double spawner_once(const RawBwrap& raw) {
  const auto t0 = Clock::now();
  spawn::SpawnInputs in;
  in.seccomp_bpf = raw.seccomp_bpf();
  auto s = spawn::spawn(raw.sandbox_plan(), std::move(in));
  if (!s) throw std::runtime_error("spawn::spawn: " + s.error().message);
  // Read stdout, stderr and the status stream to EOF, as the daemon does, then reap.
  pollfd fds[3] = {{s->stdout_fd.get(), POLLIN, 0},
                   {s->stderr_fd.get(), POLLIN, 0},
                   {s->status_fd.get(), POLLIN, 0}};
  int open = 3;
  char buf[4096];
  while (open > 0) {
    if (::poll(fds, 3, 10000) <= 0) break;
    for (auto& p : fds) {
      if (p.fd < 0 || p.revents == 0) continue;
      if (::read(p.fd, buf, sizeof buf) <= 0) {
        p.fd = -1;
        --open;
      }
    }
  }
  siginfo_t info{};
  ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(s->pidfd.get()), &info, WEXITED);
  const double ms = ms_since(t0);
  if (info.si_code != CLD_EXITED || info.si_status != 0) {
    throw std::runtime_error("spawner: bwrap status " + std::to_string(info.si_status));
  }
  return ms;
}

double daemon_once(KeepAliveClient& c, const std::string& token) {
  const auto t0 = Clock::now();
  auto r = c.request("POST", "/v1/runs", kRunBody, token);
  const double ms = ms_since(t0);
  if (r.status != 200)
    throw std::runtime_error("POST /v1/runs: " + std::to_string(r.status) + r.body);
  if (nlohmann::json::parse(r.body).value("exit_code", -1) != 0) {
    throw std::runtime_error("run did not exit 0: " + r.body);
  }
  return ms;
}

void print_row(const char* name, const Summary& s) {
  std::printf("  %-8s %8.2f %8.2f %8.2f %8.2f %8.2f\n", name, s.p50, s.p90, s.p99, s.mean, s.max);
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args(argc, argv);
  const long n = args.integer("n", 200);
  const long rounds = std::max(1L, args.integer("rounds", 10));
  const long warmup = args.integer("warmup", 10);
  const long tp_runs = args.integer("throughput-runs", 200);
  if (::geteuid() != 0) throw std::runtime_error("needs root (worker UIDs)");
  // Sandbox inits that outlive their bwrap come to us, as they come to the daemon.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);

  test::TestDaemon d(daemon_options(kFirstUid, kUidCount, kUidCount));
  if (!d.started()) throw std::runtime_error(d.start_error());
  // The daemon hands out the lowest free UIDs; the raw spawners use the top of the same range.
  auto raw_a =
      RawBwrap::plan(d.config_path(), "bench-raw-a", kFirstUid + kUidCount - 1, {"/bin/true"});
  auto raw_b =
      RawBwrap::plan(d.config_path(), "bench-raw-b", kFirstUid + kUidCount - 2, {"/bin/true"});
  if (!raw_a || !raw_b)
    throw std::runtime_error("plan: " + (raw_a ? raw_b : raw_a).error().message);

  std::cout << "machine: " << machine_description() << "\n";
  std::cout << "bwrap argv (" << raw_a->sandbox_plan().argv.size() << " words), seccomp "
            << raw_a->seccomp_bpf().size() / 8 << " instructions\n";

  KeepAliveClient client(d.port());
  for (long i = 0; i < warmup; ++i) {
    raw_once(*raw_a);
    spawner_once(*raw_a);
    daemon_once(client, d.write_token());
    reap_exited_children();
  }

  std::vector<double> raw_ms, spawner_ms, daemon_ms;
  for (long r = 0; r < rounds; ++r) {
    const long per = n / rounds + (r < n % rounds ? 1 : 0);
    for (long i = 0; i < per; ++i) raw_ms.push_back(raw_once(*raw_a));
    reap_exited_children();
    for (long i = 0; i < per; ++i) spawner_ms.push_back(spawner_once(*raw_a));
    reap_exited_children();
    for (long i = 0; i < per; ++i) daemon_ms.push_back(daemon_once(client, d.write_token()));
  }
  const auto raw_s = summarize(raw_ms);
  const auto spawner_s = summarize(spawner_ms);
  const auto daemon_s = summarize(daemon_ms);
  std::printf("\nspawn latency of /bin/true, N=%ld each, ms:\n", n);
  std::printf("  %-8s %8s %8s %8s %8s %8s\n", "", "p50", "p90", "p99", "mean", "max");
  print_row("raw", raw_s);
  print_row("spawner", spawner_s);
  print_row("daemon", daemon_s);
  const auto metrics =
      test::HttpClient::tcp("127.0.0.1", d.port()).get("/metrics", {test::bearer(d.read_token())});
  if (auto p50 = test::metric_value(metrics.body, "paddock_spawn_latency_seconds_p50")) {
    std::printf("  daemon's own launch->workload-running p50: %.2f ms\n", *p50 * 1000);
  }
  result("spawn_latency_raw_p50", raw_s.p50, "ms");
  result("spawn_latency_raw_p99", raw_s.p99, "ms");
  result("spawn_latency_spawner_p50", spawner_s.p50, "ms");
  result("spawn_latency_daemon_p50", daemon_s.p50, "ms");
  result("spawn_latency_daemon_p90", daemon_s.p90, "ms");
  result("spawn_latency_daemon_p99", daemon_s.p99, "ms");
  result("spawn_latency_ratio_p50", daemon_s.p50 / raw_s.p50, "x", "<=1.15");
  result("spawn_latency_ratio_p90", daemon_s.p90 / raw_s.p90, "x");
  result("spawn_latency_ratio_p99", daemon_s.p99 / raw_s.p99, "x", "<=2");

  // Throughput, two at a time.
  reap_exited_children();
  const auto raw_tp = [&] {
    std::atomic<long> left{tp_runs};
    const auto t0 = Clock::now();
    std::thread a([&] {
      while (left.fetch_sub(1) > 0) raw_once(*raw_a);
    });
    std::thread b([&] {
      while (left.fetch_sub(1) > 0) raw_once(*raw_b);
    });
    a.join();
    b.join();
    return static_cast<double>(tp_runs) / (ms_since(t0) / 1000.0);
  };
  const auto daemon_tp = [&] {
    std::atomic<long> left{tp_runs};
    const auto t0 = Clock::now();
    auto worker = [&] {
      KeepAliveClient c(d.port());
      while (left.fetch_sub(1) > 0) daemon_once(c, d.write_token());
    };
    std::thread a(worker);
    std::thread b(worker);
    a.join();
    b.join();
    return static_cast<double>(tp_runs) / (ms_since(t0) / 1000.0);
  };
  // Alternate to spread background noise: raw, daemon, raw, daemon.
  std::vector<double> raw_rates, daemon_rates;
  for (int i = 0; i < 2; ++i) {
    raw_rates.push_back(raw_tp());
    reap_exited_children();
    daemon_rates.push_back(daemon_tp());
  }
  const double raw_rate = (raw_rates[0] + raw_rates[1]) / 2;
  const double daemon_rate = (daemon_rates[0] + daemon_rates[1]) / 2;
  std::printf("\nspawn throughput, 2 concurrent, %ld runs per pass, 2 passes each:\n", tp_runs);
  std::printf("  raw     %8.1f runs/s (%.1f, %.1f)\n", raw_rate, raw_rates[0], raw_rates[1]);
  std::printf("  daemon  %8.1f runs/s (%.1f, %.1f)\n", daemon_rate, daemon_rates[0],
              daemon_rates[1]);
  result("spawn_throughput_raw", raw_rate, "runs/s");
  result("spawn_throughput_daemon", daemon_rate, "runs/s");
  result("spawn_throughput_ratio", daemon_rate / raw_rate, "x", ">=0.8");
  std::printf("daemon RSS after the runs: %ld KiB\n", rss_kib(d.pid()));
  reap_exited_children();
  return 0;
} catch (const std::exception& e) {
  std::cerr << "paddock-bench-spawn: " << e.what() << "\n";
  return 1;
}
