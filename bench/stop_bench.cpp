// paddock-bench-stop: how long stopping a worker takes. Daemon: from sending DELETE
// /v1/workers/{id}?grace_seconds=1 to the "exited" event on GET /v1/events. Raw: from SIGTERM to
// the workload (found through bwrap's status stream, as the daemon finds it) to bwrap reaped.
//  - cooperative: `sleep 3600`, which dies of SIGTERM at once;
//  - uncooperative: `sleep 3600` with SIGTERM ignored, killed at the grace (1 s): the figure is
//    the time past the grace.
//
//   paddock-bench-stop [--n=20]
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "bench_support.hpp"
#include "paddock/spawn/status.hpp"

using namespace paddock;
using namespace paddock::bench;
using nlohmann::json;

namespace {

constexpr uid_t kFirstUid = 62200;
constexpr double kGraceMs = 1000;
const std::vector<std::string> kCooperative = {"sleep", "3600"};
const std::vector<std::string> kStubborn = {"sh", "-c", "trap '' TERM; exec sleep 3600"};

double daemon_stop(const test::TestDaemon& d, KeepAliveClient& c, EventStream& events,
                   const std::vector<std::string>& command) {
  auto r = c.request("POST", "/v1/workers", json{{"command", command}}.dump(), d.write_token());
  if (r.status != 201) throw std::runtime_error("POST /v1/workers: " + r.body);
  const std::string id = json::parse(r.body)["id"];
  events.wait(id, "ready", std::chrono::seconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let sh install its trap
  const auto t0 = Clock::now();
  auto del = c.request("DELETE", "/v1/workers/" + id + "?grace_seconds=1", {}, d.write_token());
  if (del.status != 202) throw std::runtime_error("DELETE: " + del.body);
  events.wait(id, "exited", std::chrono::seconds(20));
  return ms_since(t0);
}

double raw_stop(const RawBwrap& raw, bool stubborn) {
  util::UniqueFd status;
  auto pid = raw.start(&status);
  if (!pid) throw std::runtime_error("raw spawn: " + pid.error().message);
  auto workload = spawn::read_workload_pid(status.get(), std::chrono::seconds(10));
  if (!workload) throw std::runtime_error("workload pid: " + workload.error().message);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto t0 = Clock::now();
  ::kill(*workload, SIGTERM);
  if (stubborn) {
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long>(kGraceMs)));
    ::kill(*pid, SIGKILL);
  }
  wait_for(*pid);
  const double ms = ms_since(t0);
  reap_exited_children();
  return ms;
}

void row(const char* name, const Summary& s) {
  std::printf("  %-22s p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms\n", name, s.p50, s.p99, s.max);
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args(argc, argv);
  const long n = args.integer("n", 20);
  if (::geteuid() != 0) throw std::runtime_error("needs root (worker UIDs)");
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  auto opts = daemon_options(kFirstUid, 16, 16);
  test::TestDaemon d(opts);
  if (!d.started()) throw std::runtime_error(d.start_error());
  auto coop_raw = RawBwrap::plan(d.config_path(), "bench-stop-a", kFirstUid + 15, kCooperative);
  auto stub_raw = RawBwrap::plan(d.config_path(), "bench-stop-b", kFirstUid + 14, kStubborn);
  if (!coop_raw || !stub_raw) throw std::runtime_error("plan failed");
  std::cout << "machine: " << machine_description() << "\n";

  EventStream events(d);
  KeepAliveClient c(d.port());
  std::vector<double> d_coop, d_stub, r_coop, r_stub;
  for (long i = 0; i < n; ++i) {
    r_coop.push_back(raw_stop(*coop_raw, false));
    d_coop.push_back(daemon_stop(d, c, events, kCooperative));
    r_stub.push_back(raw_stop(*stub_raw, true) - kGraceMs);
    d_stub.push_back(daemon_stop(d, c, events, kStubborn) - kGraceMs);
  }
  const auto dc = summarize(d_coop), rc = summarize(r_coop);
  const auto ds = summarize(d_stub), rs = summarize(r_stub);
  std::printf("\nstop latency, N=%ld each (uncooperative: time past the 1 s grace):\n", n);
  row("raw cooperative", rc);
  row("daemon cooperative", dc);
  row("raw uncooperative", rs);
  row("daemon uncooperative", ds);
  result("stop_cooperative_raw_p50", rc.p50, "ms");
  result("stop_cooperative_daemon_p50", dc.p50, "ms");
  result("stop_cooperative_daemon_p99", dc.p99, "ms", "<=50");
  result("stop_cooperative_ratio_p50", dc.p50 / rc.p50, "x");
  result("stop_uncooperative_raw_p50", rs.p50, "ms");
  result("stop_uncooperative_daemon_p50", ds.p50, "ms");
  result("stop_uncooperative_daemon_p99", ds.p99, "ms", "<=50");
  result("stop_uncooperative_ratio_p50", ds.p50 / std::max(rs.p50, 0.001), "x");
  return 0;
} catch (const std::exception& e) {
  std::cerr << "paddock-bench-stop: " << e.what() << "\n";
  return 1;
}
