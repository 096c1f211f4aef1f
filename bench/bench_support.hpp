#pragma once
/// Shared pieces of the benchmark programs: timing and percentiles, a keep-alive HTTP client,
/// result lines for bench/run.sh, the daemon under test (a real paddockd started like the
/// integration tests start it) and the raw baseline: bwrap started by a plain fork + setgroups +
/// setresgid + setresuid + exec with the argv and seccomp program the daemon would use.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "paddock/sandbox/plan.hpp"
#include "paddock/util/fd.hpp"
#include "paddock/util/result.hpp"
#include "support/daemon.hpp"
#include "support/http_client.hpp"

namespace paddock::bench {

using Clock = std::chrono::steady_clock;

/// Milliseconds since `t0`.
double ms_since(Clock::time_point t0);

struct Summary {
  std::size_t n = 0;
  double min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

/// Nearest-rank percentiles of `samples` (any order).
Summary summarize(std::vector<double> samples);

/// "--name=value" options; anything else is an error.
class Args {
 public:
  Args(int argc, char** argv);
  long integer(const std::string& name, long fallback) const;
  std::string text(const std::string& name, const std::string& fallback) const;
  bool flag(const std::string& name) const { return values_.count(name) != 0; }

 private:
  std::map<std::string, std::string> values_;
};

/// Prints "RESULT <key> <value> <unit> [<target> ok|MISS]", the lines bench/run.sh tabulates.
/// `target` is e.g. "<=1.15"; when given, whether `value` meets it is printed too.
void result(const std::string& key, double value, const std::string& unit,
            const std::string& target = {});

/// One keep-alive HTTP/1.1 connection to 127.0.0.1:port (reconnects when the server closes).
/// Only Content-Length responses are supported (every non-streaming route of the daemon).
class KeepAliveClient {
 public:
  explicit KeepAliveClient(std::uint16_t port) : port_(port) {}
  KeepAliveClient(KeepAliveClient&&) = default;
  struct Reply {
    unsigned status = 0;
    std::string body;
  };
  /// Throws std::runtime_error when the connection fails twice in a row.
  Reply request(const std::string& method, const std::string& target, const std::string& body = {},
                const std::string& token = {});

 private:
  bool exchange(const std::string& req, Reply& out);
  std::uint16_t port_;
  util::UniqueFd fd_;
  std::string buf_;
};

/// A subscription to GET /v1/events of the daemon under test that waits for one worker's
/// transition; events of other workers and other transitions are skipped.
class EventStream {
 public:
  explicit EventStream(const test::TestDaemon& d);
  /// Blocks until an event moves worker `id` to `to`; throws std::runtime_error after `limit`.
  void wait(const std::string& id, const std::string& to, std::chrono::milliseconds limit);

 private:
  test::RawConnection conn_;
  std::string buf_;
};

/// Options of the daemon under test: worker UIDs [first, first + count - 1], max_workers,
/// log level info (the production default; the test default is debug).
test::TestDaemonOptions daemon_options(uid_t first, uid_t count, unsigned max_workers);

/// `fd` moved to a number >= 64 (close-on-exec), above every descriptor number a child of the
/// benchmark is given; `fd` itself is closed. Empty when `fd` < 0 or the move fails.
util::UniqueFd high(int fd);

/// bwrap started without the daemon: the plan the daemon would make for `command` (same config
/// file, same default profile, same seccomp program), spawned by a plain fork, setgroups(0),
/// setresgid, setresuid, the planned descriptors and rlimits, and execve.
class RawBwrap {
 public:
  /// Loads `config_path` as the daemon does and plans `command` for `uid` under `worker_id`.
  static Result<RawBwrap> plan(const std::string& config_path, const std::string& worker_id,
                               uid_t uid, const std::vector<std::string>& command);
  /// Starts bwrap with stdin, stdout and stderr on /dev/null. With `status`, the read end of
  /// bwrap's --json-status-fd pipe is returned there; without, the status goes to /dev/null.
  Result<pid_t> start(util::UniqueFd* status = nullptr) const;
  const sandbox::SandboxPlan& sandbox_plan() const { return plan_; }
  const std::string& seccomp_bpf() const { return bpf_; }

 private:
  sandbox::SandboxPlan plan_;
  std::string bpf_;
};

/// The raw baseline of the API benchmarks: paddock-bench-httpd on a free loopback port,
/// serving /healthz and, when `blob_file` is given, that file's bytes at /blob. Killed on
/// destruction.
class BaselineServer {
 public:
  explicit BaselineServer(const std::string& blob_file = {});
  ~BaselineServer();
  BaselineServer(const BaselineServer&) = delete;
  BaselineServer& operator=(const BaselineServer&) = delete;
  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

/// Reads every descriptor of `fds` to EOF (bounded: throws when nothing arrives for 10 s).
void read_to_eof(const std::vector<int>& fds);

/// The daemon's spawn module alone: spawn::spawn of `raw`'s plan, stdout/stderr/status read to
/// EOF, reaped through the pidfd; milliseconds. Throws unless bwrap exited 0.
double spawn_module_once(const RawBwrap& raw);

/// waitpid(pid) until it reports; returns the wait status.
int wait_for(pid_t pid);

/// Reaps every exited child (sandbox inits re-parented to a subreaper).
void reap_exited_children();

/// VmRSS of `pid` in KiB (-1 when unreadable).
long rss_kib(pid_t pid);

/// Name of the CPU, cores, kernel and date: the machine line of a report.
std::string machine_description();

}  // namespace paddock::bench
