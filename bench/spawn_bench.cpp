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
// Network: what a worker's own network costs. Network "none": from the request to the workload
// running (daemon: POST /v1/workers of `sleep 3600` until the "running" event; raw: bwrap
// started by hand until its workload is found; spawner: the spawn module alone). Network
// "private" (the default): from the request to the workload running AND slirp4netns serving
// its namespace (raw: the same bwrap, then slirp4netns with the daemon's flags started by hand
// as the worker's uid until its --ready-fd fires; spawner: spawn::spawn_net_helper as the
// daemon calls it). The end point of all three private columns is seen the same way, from
// outside (EgressProbe: tap0's default route, then slirp4netns answering for 10.0.2.2 on
// tap0), because the daemon keeps the ready pipe of the workers it starts; the raw and spawner
// columns also report when the ready fd fired. Nothing leaves the sandbox's namespace.
//
//   paddock-bench-spawn [--n=200] [--rounds=10] [--warmup=10] [--throughput-runs=200]
//                       [--net-n=N (default n; 0 skips the network part)]
//                       [--warm-n=N (default n; 0 skips the warm runs)]
//
// Warm runs: POST /v1/runs served by a sandbox parked ahead ([pool] warm) against the raw cold
// spawn (see warm_part).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "bench_support.hpp"
#include "net_baseline.hpp"
#include "paddock/net/relay.hpp"
#include "paddock/spawn/net_helper.hpp"
#include "paddock/spawn/reaper.hpp"
#include "paddock/spawn/spawn.hpp"
#include "paddock/spawn/status.hpp"
#include "support/proc_probe.hpp"

using namespace paddock;
using namespace paddock::bench;

namespace {

constexpr uid_t kFirstUid = 62000;
constexpr uid_t kUidCount = 64;
const char* const kRunBody = R"({"command":["/bin/true"]})";
/// The same run with egress: slirp4netns is started for it (runs default to network "none").
const char* const kPrivateRunBody = R"({"command":["/bin/true"],"network":"private"})";

// The raw bwraps being waited for. Their sandbox inits outlive them and come to the bench (a
// subreaper): each raw run reaps those as it ends, or over a long throughput pass their zombies
// fill the raw UID's RLIMIT_NPROC and a bwrap cannot fork.
std::mutex g_raw_mu;
std::set<pid_t> g_raw_waited;

bool raw_waited(pid_t pid) {
  const std::lock_guard lock(g_raw_mu);
  return g_raw_waited.count(pid) != 0;
}

double raw_once(const RawBwrap& raw) {
  const auto t0 = Clock::now();
  auto pid = raw.start();
  if (!pid) throw std::runtime_error("raw spawn: " + pid.error().message);
  {
    const std::lock_guard lock(g_raw_mu);
    g_raw_waited.insert(*pid);
  }
  const int status = wait_for(*pid);
  const double ms = ms_since(t0);
  {
    const std::lock_guard lock(g_raw_mu);
    g_raw_waited.erase(*pid);
  }
  spawn::reap_orphans(raw_waited);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("raw bwrap exited with status " + std::to_string(status));
  }
  return ms;
}

double daemon_once(KeepAliveClient& c, const std::string& token, const char* body = kRunBody) {
  const auto t0 = Clock::now();
  auto r = c.request("POST", "/v1/runs", body, token);
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

// --- network "none" and "private" ---------------------------------------------------------------

constexpr auto kNetTimeout = std::chrono::milliseconds(20000);

/// One start of a sandbox with a network of its own, in ms from the request: `running` when
/// the workload was seen running; with network "private" also `ready` (slirp4netns's ready fd;
/// the daemon's is not visible), `route` (tap0's default route) and `answered` (slirp4netns
/// answered on tap0: the end point).
struct NetSample {
  double running = 0, ready = 0, route = 0, answered = 0;
};

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

template <typename T>
T ok_or_throw(Result<T> r, const std::string& what) {
  if (!r) throw std::runtime_error(what + ": " + r.error().message);
  return std::move(*r);
}

/// The probe of the workload's namespace, with slirp4netns's ready pipe when there is one.
void finish_private(Clock::time_point t0, pid_t workload, int ready_fd, int stderr_fd,
                    NetSample& s) {
  auto probe = ok_or_throw(EgressProbe::open(workload), "egress probe");
  const auto times = ok_or_throw(probe.wait(kNetTimeout, ready_fd, stderr_fd), "egress probe");
  s.route = ms_between(t0, times.route);
  s.answered = ms_between(t0, times.answered);
  if (ready_fd >= 0) s.ready = ms_between(t0, times.ready);
}

/// Raw: bwrap by hand until its workload is found; with `with_slirp`, slirp4netns by hand.
NetSample raw_net_once(const RawBwrap& raw, bool with_slirp) {
  NetSample s;
  const auto t0 = Clock::now();
  util::UniqueFd status;
  const pid_t bwrap = ok_or_throw(raw.start(&status), "raw spawn");
  const pid_t workload =
      ok_or_throw(spawn::read_workload_pid(status.get(), kNetTimeout), "raw workload");
  s.running = ms_since(t0);
  RawSlirp slirp;
  if (with_slirp) {
    const auto& plan = raw.sandbox_plan();
    slirp = ok_or_throw(start_raw_slirp(plan.slirp4netns_path, plan.uid, plan.gid, workload),
                        "raw slirp4netns");
    finish_private(t0, workload, slirp.ready.get(), slirp.error_out.get(), s);
    ::kill(slirp.pid, SIGKILL);
    wait_for(slirp.pid);
  }
  ::kill(bwrap, SIGKILL);
  wait_for(bwrap);
  reap_exited_children();
  return s;
}

/// Spawner: the daemon's spawn module (spawn::spawn, then spawn::spawn_net_helper with the
/// daemon's slirp4netns argv), without the supervisor and the HTTP API.
NetSample spawner_net_once(const RawBwrap& raw, bool with_slirp) {
  NetSample s;
  const auto t0 = Clock::now();
  spawn::SpawnInputs in;
  in.seccomp_bpf = raw.seccomp_bpf();
  auto sandbox = ok_or_throw(spawn::spawn(raw.sandbox_plan(), std::move(in)), "spawn::spawn");
  const pid_t workload =
      ok_or_throw(spawn::read_workload_pid(sandbox.status_fd.get(), kNetTimeout), "workload");
  s.running = ms_since(t0);
  spawn::SpawnedHelper helper;
  if (with_slirp) {
    const auto& plan = raw.sandbox_plan();
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    util::UniqueFd ready_r(ready[0]);
    util::UniqueFd ready_w(ready[1]);
    int err[2];
    if (::pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    util::UniqueFd err_r(err[0]);
    util::UniqueFd err_w(err[1]);
    spawn::NetHelper h;
    h.uid = plan.uid;
    h.gid = plan.gid;
    h.target = workload;
    h.path = plan.slirp4netns_path;
    h.argv = net::slirp4netns_argv(plan.slirp4netns_path);
    h.ready_fd = std::move(ready_w);
    h.stderr_fd = std::move(err_w);
    helper = ok_or_throw(spawn::spawn_net_helper(std::move(h)), "spawn_net_helper");
    finish_private(t0, workload, ready_r.get(), err_r.get(), s);
    ::syscall(SYS_pidfd_send_signal, helper.pidfd.get(), SIGKILL, nullptr, 0);
    siginfo_t info{};
    ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(helper.pidfd.get()), &info, WEXITED);
  }
  ::syscall(SYS_pidfd_send_signal, sandbox.pidfd.get(), SIGKILL, nullptr, 0);
  siginfo_t info{};
  ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(sandbox.pidfd.get()), &info, WEXITED);
  reap_exited_children();
  return s;
}

/// Daemon: POST /v1/workers of `sleep 3600` with `network`, until the "running" event; for
/// "private", then its pid (GET /v1/workers/{id}) and the probe of its namespace. The worker
/// is stopped afterwards (not timed).
NetSample daemon_net_once(const test::TestDaemon& d, KeepAliveClient& c, EventStream& events,
                          const std::string& network) {
  NetSample s;
  const std::string body =
      nlohmann::json{{"command", {"sleep", "3600"}}, {"network", network}}.dump();
  const auto t0 = Clock::now();
  auto r = c.request("POST", "/v1/workers", body, d.write_token());
  if (r.status != 201) throw std::runtime_error("POST /v1/workers: " + r.body);
  const std::string id = nlohmann::json::parse(r.body)["id"];
  events.wait(id, "running", kNetTimeout);
  s.running = ms_since(t0);
  if (network == "private") {
    auto w = c.request("GET", "/v1/workers/" + id, {}, d.read_token());
    const auto pid = nlohmann::json::parse(w.body).value("pid", -1);
    if (pid <= 0) throw std::runtime_error("no pid for a running worker: " + w.body);
    finish_private(t0, pid, -1, -1, s);
  }
  auto del = c.request("DELETE", "/v1/workers/" + id + "?grace_seconds=0", {}, d.write_token());
  if (del.status != 202) throw std::runtime_error("DELETE: " + del.body);
  events.wait(id, "exited", kNetTimeout);
  return s;
}

std::vector<double> pick(const std::vector<NetSample>& v, double NetSample::*field) {
  std::vector<double> out;
  for (const auto& s : v) out.push_back(s.*field);
  return out;
}

/// The network part: none and private, raw, spawner and daemon, interleaved in rounds.
void network_part(const test::TestDaemon& d, const RawBwrap& raw, long n, long rounds,
                  long warmup) {
  KeepAliveClient client(d.port());
  EventStream events(d);
  for (long i = 0; i < warmup; ++i) {
    raw_net_once(raw, true);
    spawner_net_once(raw, true);
    daemon_net_once(d, client, events, "private");
    daemon_net_once(d, client, events, "none");
  }
  std::vector<NetSample> raw_none, spawner_none, daemon_none, raw_priv, spawner_priv, daemon_priv;
  for (long r = 0; r < rounds; ++r) {
    const long per = n / rounds + (r < n % rounds ? 1 : 0);
    for (long i = 0; i < per; ++i) raw_none.push_back(raw_net_once(raw, false));
    for (long i = 0; i < per; ++i) spawner_none.push_back(spawner_net_once(raw, false));
    for (long i = 0; i < per; ++i)
      daemon_none.push_back(daemon_net_once(d, client, events, "none"));
    for (long i = 0; i < per; ++i) raw_priv.push_back(raw_net_once(raw, true));
    for (long i = 0; i < per; ++i) spawner_priv.push_back(spawner_net_once(raw, true));
    for (long i = 0; i < per; ++i) {
      daemon_priv.push_back(daemon_net_once(d, client, events, "private"));
    }
  }
  const auto rn = summarize(pick(raw_none, &NetSample::running));
  const auto sn = summarize(pick(spawner_none, &NetSample::running));
  const auto dn = summarize(pick(daemon_none, &NetSample::running));
  const auto rp = summarize(pick(raw_priv, &NetSample::answered));
  const auto sp = summarize(pick(spawner_priv, &NetSample::answered));
  const auto dp = summarize(pick(daemon_priv, &NetSample::answered));
  std::printf("\nnetwork \"none\": request to workload running (sleep 3600), N=%ld each, ms:\n", n);
  std::printf("  %-8s %8s %8s %8s %8s %8s\n", "", "p50", "p90", "p99", "mean", "max");
  print_row("raw", rn);
  print_row("spawner", sn);
  print_row("daemon", dn);
  std::printf(
      "\nnetwork \"private\": request to workload running and slirp4netns answering on tap0, "
      "N=%ld each, ms:\n",
      n);
  std::printf("  %-8s %8s %8s %8s %8s %8s\n", "", "p50", "p90", "p99", "mean", "max");
  print_row("raw", rp);
  print_row("spawner", sp);
  print_row("daemon", dp);
  const auto p50 = [](const std::vector<NetSample>& v, double NetSample::*f) {
    return summarize(pick(v, f)).p50;
  };
  // Each step as the p50 of its own duration within a start (not a difference of p50s).
  const auto step = [](const std::vector<NetSample>& v, double NetSample::*from,
                       double NetSample::*to) {
    std::vector<double> durations;
    for (const auto& x : v) durations.push_back(x.*to - x.*from);
    return summarize(durations).p50;
  };
  std::printf("  steps of a private start, p50 of each step's own duration, ms:\n");
  std::printf("    %-8s %9s %9s %9s %9s\n", "", "running", "+route", "+ready-fd", "+answered");
  for (const auto& [name, v] : {std::pair{"raw", &raw_priv}, std::pair{"spawner", &spawner_priv}}) {
    std::printf("    %-8s %9.2f %9.2f %9.2f %9.2f\n", name, p50(*v, &NetSample::running),
                step(*v, &NetSample::running, &NetSample::route),
                step(*v, &NetSample::route, &NetSample::ready),
                step(*v, &NetSample::ready, &NetSample::answered));
  }
  std::printf("    %-8s %9.2f %9.2f %9s %9.2f\n", "daemon", p50(daemon_priv, &NetSample::running),
              step(daemon_priv, &NetSample::running, &NetSample::route), "-",
              step(daemon_priv, &NetSample::route, &NetSample::answered));
  std::printf(
      "    (daemon: running is its \"running\" event; its ready fd is not visible, so +answered "
      "is counted from the route)\n");
  std::printf("  private on top of none, p50: raw +%.2f ms (x%.2f), daemon +%.2f ms (x%.2f)\n",
              rp.p50 - rn.p50, rp.p50 / rn.p50, dp.p50 - dn.p50, dp.p50 / dn.p50);
  result("spawn_none_raw_p50", rn.p50, "ms");
  result("spawn_none_raw_p99", rn.p99, "ms");
  result("spawn_none_daemon_p50", dn.p50, "ms");
  result("spawn_none_daemon_p99", dn.p99, "ms");
  result("spawn_none_ratio_p50", dn.p50 / rn.p50, "x");
  result("spawn_none_ratio_p99", dn.p99 / rn.p99, "x");
  result("spawn_private_raw_p50", rp.p50, "ms");
  result("spawn_private_raw_p99", rp.p99, "ms");
  result("spawn_private_raw_ready_fd_p50", p50(raw_priv, &NetSample::ready), "ms");
  result("spawn_private_raw_slirp_p50", step(raw_priv, &NetSample::running, &NetSample::ready),
         "ms");
  result("spawn_private_spawner_slirp_p50",
         step(spawner_priv, &NetSample::running, &NetSample::ready), "ms");
  result("spawn_private_spawner_p50", sp.p50, "ms");
  result("spawn_private_daemon_p50", dp.p50, "ms");
  result("spawn_private_daemon_p99", dp.p99, "ms");
  result("spawn_private_ratio_p50", dp.p50 / rp.p50, "x");
  result("spawn_private_ratio_p99", dp.p99 / rp.p99, "x");
  result("spawn_private_over_none_raw_p50", rp.p50 - rn.p50, "ms");
  result("spawn_private_over_none_daemon_p50", dp.p50 - dn.p50, "ms");
}
/// Warm runs ([pool] warm): a second daemon (its own UID range) with 4 sandboxes of the default
/// profile parked. Before each timed POST /v1/runs of /bin/true the pool is full again (waited
/// for, untimed), so every sample is one warm start with the refill of the one before done;
/// the refill the sample itself triggers runs meanwhile, as it would in production. Raw cold
/// spawns of the same command are interleaved in rounds.
void warm_part(const RawBwrap& raw, long n, long rounds, long warmup) {
  constexpr int kPool = 4;
  auto o = daemon_options(kFirstUid + kUidCount, kUidCount, kUidCount);
  o.extra_toml = "\n[pool]\nwarm = {shell = " + std::to_string(kPool) + "}\n";
  test::TestDaemon w(o);
  if (!w.started()) throw std::runtime_error(w.start_error());
  auto metric = [&w](const std::string& series) {
    const auto m = test::HttpClient::tcp("127.0.0.1", w.port())
                       .get("/metrics", {test::bearer(w.read_token())});
    return test::metric_value(m.body, series).value_or(-1);
  };
  auto wait_full = [&] {
    // The daemon's pool counts are at most 200 ms old: let the last run's show first.
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    for (int i = 0; i < 20000; ++i) {
      if (metric("paddock_warm_sandboxes{state=\"ready\"}") >= kPool) return;
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    throw std::runtime_error("the warm pool did not fill up");
  };
  KeepAliveClient c(w.port());
  for (long i = 0; i < warmup; ++i) {
    wait_full();
    daemon_once(c, w.write_token());
  }
  const double served_before = metric("paddock_warm_runs_total");
  std::vector<double> raw_ms, warm_ms;
  for (long r = 0; r < rounds; ++r) {
    const long per = n / rounds + (r < n % rounds ? 1 : 0);
    for (long i = 0; i < per; ++i) raw_ms.push_back(raw_once(raw));
    reap_exited_children();
    for (long i = 0; i < per; ++i) {
      wait_full();
      warm_ms.push_back(daemon_once(c, w.write_token()));
    }
  }
  const double served = metric("paddock_warm_runs_total") - served_before;
  // Back to back from a full pool: how long the pool keeps runs warm.
  wait_full();
  std::vector<double> burst;
  for (int i = 0; i < kPool; ++i) burst.push_back(daemon_once(c, w.write_token()));
  const auto raw_s = summarize(raw_ms);
  const auto warm_s = summarize(warm_ms);
  const auto burst_s = summarize(burst);
  std::printf("\nwarm runs ([pool] warm = {shell = %d}), /bin/true, N=%ld each, ms:\n", kPool, n);
  std::printf("  %-8s %8s %8s %8s %8s %8s\n", "", "p50", "p90", "p99", "mean", "max");
  print_row("raw cold", raw_s);
  print_row("warm", warm_s);
  print_row("burst", burst_s);
  std::printf("  served by a parked sandbox: %.0f of %zu\n", served, warm_ms.size());
  result("warm_run_p50", warm_s.p50, "ms");
  result("warm_run_p99", warm_s.p99, "ms");
  result("warm_run_served", served / static_cast<double>(warm_ms.size()), "fraction", ">=1");
  result("warm_run_ratio_p50", warm_s.p50 / raw_s.p50, "x", "<=0.3");
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args(argc, argv);
  const long n = args.integer("n", 200);
  const long rounds = std::max(1L, args.integer("rounds", 10));
  const long warmup = args.integer("warmup", 10);
  const long tp_runs = args.integer("throughput-runs", 200);
  const long net_n = args.integer("net-n", n);
  const long warm_n = args.integer("warm-n", n);
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
    spawn_module_once(*raw_a);
    daemon_once(client, d.write_token());
    reap_exited_children();
  }

  std::vector<double> raw_ms, spawner_ms, daemon_ms, private_ms;
  for (long r = 0; r < rounds; ++r) {
    const long per = n / rounds + (r < n % rounds ? 1 : 0);
    for (long i = 0; i < per; ++i) raw_ms.push_back(raw_once(*raw_a));
    reap_exited_children();
    for (long i = 0; i < per; ++i) spawner_ms.push_back(spawn_module_once(*raw_a));
    reap_exited_children();
    for (long i = 0; i < per; ++i) daemon_ms.push_back(daemon_once(client, d.write_token()));
    for (long i = 0; i < per; ++i) {
      private_ms.push_back(daemon_once(client, d.write_token(), kPrivateRunBody));
    }
  }
  const auto raw_s = summarize(raw_ms);
  const auto spawner_s = summarize(spawner_ms);
  const auto daemon_s = summarize(daemon_ms);
  std::printf("\nspawn latency of /bin/true, N=%ld each, ms:\n", n);
  std::printf("  %-8s %8s %8s %8s %8s %8s\n", "", "p50", "p90", "p99", "mean", "max");
  print_row("raw", raw_s);
  print_row("spawner", spawner_s);
  print_row("daemon", daemon_s);
  const auto private_s = summarize(private_ms);
  print_row("private", private_s);
  std::printf(
      "  (private: the same run with \"network\": \"private\", slirp4netns started for it;\n"
      "   raw starts none)\n");
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
  result("spawn_latency_ratio_p99", daemon_s.p99 / raw_s.p99, "x", "<=1.5");
  result("spawn_latency_private_run_p50", private_s.p50, "ms");
  result("spawn_latency_private_run_ratio_p50", private_s.p50 / raw_s.p50, "x");

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
  result("spawn_throughput_ratio", daemon_rate / raw_rate, "x", ">=0.85");
  std::printf("daemon RSS after the runs: %ld KiB\n", rss_kib(d.pid()));
  reap_exited_children();
  if (net_n > 0) {
    auto raw_sleep = RawBwrap::plan(d.config_path(), "bench-raw-net", kFirstUid + kUidCount - 3,
                                    {"sleep", "3600"});
    if (!raw_sleep) throw std::runtime_error("plan: " + raw_sleep.error().message);
    network_part(d, *raw_sleep, net_n, std::min(rounds, net_n), std::min(warmup, net_n));
  }
  reap_exited_children();
  if (warm_n > 0) warm_part(*raw_a, warm_n, std::min(rounds, warm_n), std::min(warmup, warm_n));
  return 0;
} catch (const std::exception& e) {
  std::cerr << "paddock-bench-spawn: " << e.what() << "\n";
  return 1;
}
