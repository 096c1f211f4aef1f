// paddock-bench-fleet: the daemon with many live workers. Its resident memory (VmRSS) with 0,
// 100 and 1000 live `sleep` workers, and GET /v1/workers latency with 1000 of them, against the
// raw baseline of serving a response of the same size: paddock-bench-httpd sending the bytes
// the daemon answered, from memory. Then the cost of worker output, on a fresh daemon with the
// default log settings: 1000 live workers that have each printed 1 MiB (99-character lines;
// extrapolated to 1000 when --ring-workers is lower).
//
// Also GET /v1/workers polled 1.1 s apart, as a frontend refreshing a page does: every worker's
// cgroup usage is older than the 1 s it may be by then.
//
//   paddock-bench-fleet [--workers=1000] [--requests=200] [--polls=10] [--ring-workers=1000]
//                       [--ring-print=1048576]
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench_support.hpp"
#include "support/proc_probe.hpp"

using namespace paddock;
using namespace paddock::bench;
using nlohmann::json;

namespace {

constexpr uid_t kFirstUid = 63000;

/// Starts `count` workers running `command` with two concurrent clients; returns their ids.
std::vector<std::string> start_workers(const test::TestDaemon& d, long count, const json& command) {
  std::vector<std::string> ids;
  std::mutex mu;
  std::atomic<long> left{count};
  const std::string body = json{{"command", command}}.dump();
  auto work = [&] {
    KeepAliveClient c(d.port());
    while (left.fetch_sub(1) > 0) {
      auto r = c.request("POST", "/v1/workers", body, d.write_token());
      if (r.status != 201)
        throw std::runtime_error("POST /v1/workers: " + std::to_string(r.status) + " " + r.body);
      std::lock_guard<std::mutex> lock(mu);
      ids.push_back(json::parse(r.body)["id"]);
    }
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  return ids;
}

/// Waits until the daemon counts `n` workers in state ready.
void wait_ready(const test::TestDaemon& d, long n) {
  KeepAliveClient c(d.port());
  for (int i = 0; i < 6000; ++i) {
    auto m = c.request("GET", "/metrics", {}, d.read_token());
    if (test::metric_value(m.body, "paddock_workers{state=\"ready\"}").value_or(0) >= double(n))
      return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("workers did not all become ready");
}

void stop_all(const test::TestDaemon& d, const std::vector<std::string>& ids) {
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    KeepAliveClient c(d.port());
    for (std::size_t i = next++; i < ids.size(); i = next++) {
      c.request("DELETE", "/v1/workers/" + ids[i] + "?grace_seconds=0", {}, d.write_token());
    }
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  KeepAliveClient c(d.port());
  for (int i = 0; i < 6000; ++i) {
    auto m = c.request("GET", "/metrics", {}, d.read_token()).body;
    double live = 0;
    for (const char* s : {"starting", "running", "ready", "stopping"}) {
      live +=
          test::metric_value(m, std::string("paddock_workers{state=\"") + s + "\"}").value_or(0);
    }
    if (live == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("workers did not all stop");
}

/// VmRSS once it has stopped moving (sampled every 200 ms, up to 5 s).
long settled_rss(pid_t pid) {
  long last = rss_kib(pid);
  for (int i = 0; i < 25; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const long now = rss_kib(pid);
    if (now == last) return now;
    last = now;
  }
  return last;
}

Summary time_gets(std::uint16_t port, const std::string& target, const std::string& token,
                  long requests, std::size_t* bytes,
                  std::chrono::milliseconds gap = std::chrono::milliseconds(0)) {
  KeepAliveClient c(port);
  for (int i = 0; i < 5; ++i) c.request("GET", target, {}, token);  // warm up
  std::vector<double> ms;
  for (long i = 0; i < requests; ++i) {
    if (gap.count() > 0) std::this_thread::sleep_for(gap);
    const auto t0 = Clock::now();
    auto r = c.request("GET", target, {}, token);
    ms.push_back(ms_since(t0));
    if (r.status != 200)
      throw std::runtime_error("GET " + target + ": " + std::to_string(r.status));
    *bytes = r.body.size();
  }
  return summarize(ms);
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args(argc, argv);
  const long workers = args.integer("workers", 1000);
  const long requests = args.integer("requests", 200);
  const long polls = args.integer("polls", 10);
  const long ring_workers = args.integer("ring-workers", 1000);
  const long ring_print = args.integer("ring-print", 1048576);
  if (::geteuid() != 0) throw std::runtime_error("needs root (worker UIDs)");
  const auto range = static_cast<uid_t>(workers + ring_workers + 16);
  auto opts = daemon_options(kFirstUid, range, static_cast<unsigned>(range));
  test::TestDaemon d(opts);
  if (!d.started()) throw std::runtime_error(d.start_error());
  std::cout << "machine: " << machine_description() << "\n";

  // 0 live workers, after a few runs so the first-use allocations are made.
  {
    KeepAliveClient c(d.port());
    for (int i = 0; i < 10; ++i)
      c.request("POST", "/v1/runs", R"({"command":["/bin/true"]})", d.write_token());
  }
  const long rss0 = settled_rss(d.pid());
  const auto t_start = Clock::now();
  auto ids = start_workers(d, std::min(100L, workers), {"sleep", "3600"});
  wait_ready(d, static_cast<long>(ids.size()));
  const long rss100 = settled_rss(d.pid());
  auto more = start_workers(d, workers - static_cast<long>(ids.size()), {"sleep", "3600"});
  ids.insert(ids.end(), more.begin(), more.end());
  wait_ready(d, workers);
  const double start_s = ms_since(t_start) / 1000.0;
  const long rss1000 = settled_rss(d.pid());
  const int fds1000 = test::count_fds(d.pid());

  std::size_t list_bytes = 0, blob_bytes = 0;
  const auto list = time_gets(d.port(), "/v1/workers", d.read_token(), requests, &list_bytes);
  std::size_t polled_bytes = 0;
  const auto polled = time_gets(d.port(), "/v1/workers", d.read_token(), polls, &polled_bytes,
                                std::chrono::milliseconds(1100));
  const auto one = time_gets(d.port(), "/v1/workers/" + ids[ids.size() / 2], d.read_token(),
                             requests, &blob_bytes);
  // The raw baseline: the same bytes served by the bare server.
  const std::string blob_path = d.dir() + "/workers.json";
  {
    KeepAliveClient c(d.port());
    std::ofstream(blob_path, std::ios::binary)
        << c.request("GET", "/v1/workers", {}, d.read_token()).body;
  }
  Summary blob;
  {
    BaselineServer base(blob_path);
    blob = time_gets(base.port(), "/blob", {}, requests, &blob_bytes);
  }

  stop_all(d, ids);
  const long rss_after = settled_rss(d.pid());

  // Worker output, on a fresh daemon (the first one's allocator already holds the memory of
  // 1000 workers): each worker prints `ring_print` bytes in 99-character lines, then sleeps.
  long rss_rings = 0, rss_rings_base = 0;
  std::uint64_t ring_bytes_held = 0;
  if (ring_workers > 0) {
    // After the first daemon's range when that stays below 65534 (nobody), else far above it.
    const auto after_first = static_cast<uid_t>(kFirstUid + range + 16);
    const auto ring_first =
        after_first + ring_workers + 4 < 65534 ? after_first : static_cast<uid_t>(200000);
    test::TestDaemon r(daemon_options(ring_first, static_cast<uid_t>(ring_workers + 4),
                                      static_cast<unsigned>(ring_workers + 4)));
    if (!r.started()) throw std::runtime_error(r.start_error());
    rss_rings_base = settled_rss(r.pid());
    auto ring_ids = start_workers(r, ring_workers,
                                  {"sh", "-c",
                                   "head -c " + std::to_string(ring_print) +
                                       " /dev/zero | tr '\\0' x | fold -w 99; exec sleep 3600"});
    wait_ready(r, ring_workers);
    // Until every worker's last full line has arrived.
    const auto lines = static_cast<std::uint64_t>(ring_print / 99);
    KeepAliveClient c(r.port());
    for (const auto& id : ring_ids) {
      for (int i = 0; i < 1200; ++i) {
        auto t = c.request("GET", "/v1/workers/" + id + "/logs?tail=1", {}, r.read_token());
        const auto j = json::parse(t.body);
        if (!j["lines"].empty() && j["lines"][0]["seq"].get<std::uint64_t>() >= lines) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    rss_rings = settled_rss(r.pid());
    auto m = c.request("GET", "/metrics", {}, r.read_token()).body;
    ring_bytes_held =
        static_cast<std::uint64_t>(test::metric_value(m, "paddock_log_ring_bytes").value_or(-1));
    stop_all(r, ring_ids);
  }

  std::printf("\nstarted %ld sleep workers in %.1f s (2 concurrent clients)\n", workers, start_s);
  std::printf(
      "daemon VmRSS: 0 live %ld KiB, 100 live %ld KiB, %ld live %ld KiB, after stopping %ld KiB\n",
      rss0, rss100, workers, rss1000, rss_after);
  std::printf("daemon descriptors with %ld live workers: %d\n", workers, fds1000);
  std::printf("GET /v1/workers with %ld workers (%zu bytes): p50 %.2f ms p90 %.2f ms p99 %.2f ms\n",
              workers, list_bytes, list.p50, list.p90, list.p99);
  std::printf("same bytes from the bare server:             p50 %.2f ms p90 %.2f ms p99 %.2f ms\n",
              blob.p50, blob.p90, blob.p99);
  std::printf("GET /v1/workers polled 1.1 s apart (%ld polls): p50 %.2f ms max %.2f ms\n", polls,
              polled.p50, polled.max);
  std::printf("GET /v1/workers/{id} with %ld workers: p50 %.3f ms p99 %.3f ms\n", workers, one.p50,
              one.p99);
  if (ring_workers > 0) {
    const double per = double(rss_rings - rss_rings_base) / double(ring_workers);
    const double at_1000 = (double(rss_rings_base) + per * 1000) / 1024.0;
    std::printf(
        "fresh daemon (default [log] settings): VmRSS %ld KiB idle, %ld KiB with %ld live workers "
        "that each printed %ld bytes (%.0f KiB per worker; %.1f MiB for 1000); rings hold %llu "
        "bytes\n",
        rss_rings_base, rss_rings, ring_workers, ring_print, per, at_1000,
        static_cast<unsigned long long>(ring_bytes_held));
    result("rss_per_worker_printed", per, "KiB");
    result(
        ring_workers == 1000 ? "rss_1000_workers_printed" : "rss_1000_workers_printed_extrapolated",
        ring_workers == 1000 ? double(rss_rings) / 1024.0 : at_1000, "MiB", "<=100");
  }
  result("rss_0_workers", rss0 / 1024.0, "MiB");
  result("rss_100_workers", rss100 / 1024.0, "MiB");
  result("rss_1000_workers", rss1000 / 1024.0, "MiB", "<=100");
  result("workers_list_p50", list.p50, "ms");
  result("workers_list_p99", list.p99, "ms", "<=20");
  result("workers_list_p99_ratio", list.p99 / blob.p99, "x", "<=3");
  result("workers_list_polled_p50", polled.p50, "ms");
  result("worker_get_p99", one.p99, "ms");
  return 0;
} catch (const std::exception& e) {
  std::cerr << "paddock-bench-fleet: " << e.what() << "\n";
  return 1;
}
