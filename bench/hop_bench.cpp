// paddock-bench-hop: what the spawner hop costs. The daemon holds no privilege and asks the
// spawner (a separate process, over a SOCK_SEQPACKET socketpair) for every UID, port and launch;
// this measures that conversation against doing the same work in one process.
//
// Interleaved in rounds so background load hits each alike:
//   hello    one request/reply round trip to a real spawner (the bare hop)
//   spawner  a /bin/true run the way the daemon does it: LeaseUid, Launch (plan, cgroup leaf,
//            spawn; stdout/stderr come back by SCM_RIGHTS), read both to EOF, wait for Exited,
//            ReleaseUid
//   module   the spawn module alone in this process (spawn::spawn of the same plan, pipes read
//            to EOF, waitid): the work without the hop
//   raw      fork, setresuid and exec of bwrap with the same argv and filter
//
//   paddock-bench-hop [--n=200] [--rounds=10] [--warmup=10]
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <thread>

#include "bench_support.hpp"
#include "paddock/privsep/client.hpp"
#include "paddock/privsep/protocol.hpp"
#include "paddock/spawn/spawn.hpp"

using namespace paddock;
using namespace paddock::bench;
using namespace paddock::privsep;

namespace {

constexpr uid_t kFirstUid = 62100;
constexpr uid_t kUidCount = 16;

/// Sends a request and waits for its reply; events that arrive first go to `events`.
Message call(int sock, Type type, std::uint32_t id, const nlohmann::json& body,
             std::vector<Message>* events = nullptr) {
  if (auto r = send_message(sock, type, id, body, {}, kMaxRequestBytes); !r) {
    throw std::runtime_error("send: " + r.error().message);
  }
  for (;;) {
    pollfd p{sock, POLLIN, 0};
    ::poll(&p, 1, 10000);
    Message m;
    auto got = receive_message(sock, kMaxReplyBytes, m);
    if (!got) throw std::runtime_error("receive: " + got.error().message);
    if (*got == Received::Closed) throw std::runtime_error("the spawner exited");
    if (*got != Received::Message) continue;
    if (m.type == Type::Reply && m.id == id) {
      if (auto st = reply_status(m.body); !st) throw std::runtime_error(st.error().message);
      return m;
    }
    if (events != nullptr) events->push_back(std::move(m));
  }
}

struct Hop {
  int sock;
  std::uint32_t next = 1;

  double hello() {
    const auto t0 = Clock::now();
    call(sock, Type::Hello, next++, nlohmann::json::object());
    return ms_since(t0);
  }

  double run(const std::string& worker_id) {
    const auto t0 = Clock::now();
    std::vector<Message> events;
    call(sock, Type::LeaseUid, next++, {{"worker_id", worker_id}});
    auto launched = call(
        sock, Type::Launch, next++,
        {{"worker_id", worker_id}, {"spec", {{"command", {"/bin/true"}}, {"network", "none"}}}},
        &events);
    const auto proc = launched.body.value("proc", std::uint64_t{0});
    std::vector<int> fds;
    for (const auto& fd : launched.fds) fds.push_back(fd.get());
    read_to_eof(fds);
    const auto exited = [&] {
      for (const auto& e : events) {
        if (e.type == Type::Exited && e.body.value("proc", std::uint64_t{0}) == proc) return true;
      }
      return false;
    };
    while (!exited()) {
      pollfd p{sock, POLLIN, 0};
      ::poll(&p, 1, 10000);
      Message m;
      auto got = receive_message(sock, kMaxReplyBytes, m);
      if (!got || *got == Received::Closed) throw std::runtime_error("no exit event");
      if (*got == Received::Message) events.push_back(std::move(m));
    }
    const double ms = ms_since(t0);
    // As the daemon does when a run has ended (no reply awaited).
    (void)send_message(sock, Type::ReleaseUid, 0, {{"worker_id", worker_id}});
    (void)send_message(sock, Type::RemoveData, 0, {{"worker_id", worker_id}});
    return ms;
  }
};

double raw_once(const RawBwrap& raw) {
  const auto t0 = Clock::now();
  auto pid = raw.start();
  if (!pid) throw std::runtime_error("raw spawn: " + pid.error().message);
  wait_for(*pid);
  return ms_since(t0);
}

void print_row(const char* name, const Summary& s) {
  std::printf("  %-8s %8.3f %8.3f %8.3f %8.3f\n", name, s.p50, s.p90, s.p99, s.mean);
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args(argc, argv);
  const long n = args.integer("n", 200);
  const long rounds = std::max(1L, args.integer("rounds", 10));
  const long warmup = args.integer("warmup", 10);
  if (::geteuid() != 0) throw std::runtime_error("needs root (worker UIDs)");
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);

  auto options = daemon_options(kFirstUid, kUidCount, kUidCount);
  options.config_only = true;
  options.set["process.default_network"] = "\"none\"";
  test::TestDaemon cfg(options);
  auto spawner = start_spawner(PADDOCKD_PATH, cfg.config_path());
  if (!spawner) throw std::runtime_error("start_spawner: " + spawner.error().message);
  Hop hop{spawner->sock.get()};
  hop.hello();
  auto raw = RawBwrap::plan(cfg.config_path(), "w-benchrawAAAAAAAAAAAAAA",
                            kFirstUid + kUidCount - 1, {"/bin/true"});
  if (!raw) throw std::runtime_error("plan: " + raw.error().message);
  std::cout << "machine: " << machine_description() << "\n";

  long serial = 0;
  const auto next_id = [&] {
    char id[32];
    std::snprintf(id, sizeof id, "r-bench%017ld", serial++);
    return std::string(id);
  };
  for (long i = 0; i < warmup; ++i) {
    hop.hello();
    hop.run(next_id());
    spawn_module_once(*raw);
    raw_once(*raw);
    reap_exited_children();
  }
  std::vector<double> hello_ms, spawner_ms, module_ms, raw_ms;
  for (long r = 0; r < rounds; ++r) {
    const long per = n / rounds + (r < n % rounds ? 1 : 0);
    for (long i = 0; i < per; ++i) hello_ms.push_back(hop.hello());
    for (long i = 0; i < per; ++i) spawner_ms.push_back(hop.run(next_id()));
    reap_exited_children();
    for (long i = 0; i < per; ++i) module_ms.push_back(spawn_module_once(*raw));
    reap_exited_children();
    for (long i = 0; i < per; ++i) raw_ms.push_back(raw_once(*raw));
    reap_exited_children();
  }
  const auto hello_s = summarize(hello_ms);
  const auto spawner_s = summarize(spawner_ms);
  const auto module_s = summarize(module_ms);
  const auto raw_s = summarize(raw_ms);
  std::printf("\n/bin/true through the spawner vs in one process, N=%ld each, ms:\n", n);
  std::printf("  %-8s %8s %8s %8s %8s\n", "", "p50", "p90", "p99", "mean");
  print_row("hello", hello_s);
  print_row("spawner", spawner_s);
  print_row("module", module_s);
  print_row("raw", raw_s);
  result("hop_roundtrip_p50", hello_s.p50 * 1000, "us", "<=300");
  result("hop_roundtrip_p99", hello_s.p99 * 1000, "us");
  result("hop_run_spawner_p50", spawner_s.p50, "ms");
  result("hop_run_module_p50", module_s.p50, "ms");
  result("hop_run_raw_p50", raw_s.p50, "ms");
  // Not the hop: the work the spawner does that the bare module leaves out (performance.md).
  result("hop_extra_p50", spawner_s.p50 - module_s.p50, "ms");
  result("hop_spawner_vs_raw_p50", spawner_s.p50 / raw_s.p50, "x");
  spawner->sock.reset();
  wait_for(spawner->pid);
  return 0;
} catch (const std::exception& e) {
  std::cerr << "paddock-bench-hop: " << e.what() << "\n";
  return 1;
}
