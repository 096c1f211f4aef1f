// paddock-bench-http: GET /healthz requests/s and latency of a real paddockd against the raw
// baseline, paddock-bench-httpd (a bare Beast server with the same threading), under the same
// closed-loop load (wrk when installed, else the built-in client). Both servers get one core's
// worth of event loop; the load generator shares the machine with them.
//
//   paddock-bench-http [--seconds=10] [--connections=32] [--threads=2] [--client=auto|wrk|builtin]
#include <cstdio>
#include <iostream>

#include "bench_support.hpp"
#include "load_client.hpp"

using namespace paddock;
using namespace paddock::bench;

namespace {

void print(const char* name, const LoadResult& r) {
  std::printf("  %-9s %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms  (%ld requests, %ld errors, %s)\n",
              name, r.requests_per_second, r.p50_ms, r.p99_ms, r.requests, r.errors,
              r.tool.c_str());
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args(argc, argv);
  LoadOptions load;
  load.seconds = static_cast<double>(args.integer("seconds", 10));
  load.connections = static_cast<int>(args.integer("connections", 32));
  load.threads = static_cast<int>(args.integer("threads", 2));
  load.client = args.text("client", "auto");

  test::TestDaemon d(daemon_options(62100, 16, 16));
  if (!d.started()) throw std::runtime_error(d.start_error());
  BaselineServer base;
  std::cout << "machine: " << machine_description() << "\n";
  std::cout << "load: "
            << (load.client == "builtin" || (load.client == "auto" && !have_wrk())
                    ? "built-in client"
                    : "wrk")
            << ", " << load.threads << " threads, " << load.connections
            << " keep-alive connections, " << load.seconds
            << " s per pass, 2 passes each (alternating)\n";

  std::vector<LoadResult> daemon_runs, base_runs;
  for (int pass = 0; pass < 2; ++pass) {
    load.port = base.port();
    base_runs.push_back(run_load(load));
    load.port = d.port();
    daemon_runs.push_back(run_load(load));
  }
  const auto best = [](const std::vector<LoadResult>& v) {
    return v[0].requests_per_second >= v[1].requests_per_second ? v[0] : v[1];
  };
  std::cout << "\nGET /healthz:\n";
  for (int i = 0; i < 2; ++i) {
    print("baseline", base_runs[i]);
    print("daemon", daemon_runs[i]);
  }
  const auto b = best(base_runs);
  const auto dm = best(daemon_runs);
  std::printf("daemon RSS %ld KiB, baseline RSS %ld KiB\n", rss_kib(d.pid()), rss_kib(base.pid()));
  result("healthz_baseline_rps", b.requests_per_second, "req/s");
  result("healthz_daemon_rps", dm.requests_per_second, "req/s", ">=30000");
  result("healthz_daemon_p99", dm.p99_ms, "ms");
  result("healthz_rps_ratio", dm.requests_per_second / b.requests_per_second, "x");
  result("healthz_p99_ratio", dm.p99_ms / b.p99_ms, "x");
  if (dm.errors != 0) std::cout << "warning: " << dm.errors << " errors against the daemon\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "paddock-bench-http: " << e.what() << "\n";
  return 1;
}
