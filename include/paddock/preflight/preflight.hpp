#pragma once
/// Preflight: proves the host is safe before the first worker starts. run_all() runs every
/// check (the independent ones concurrently, each bounded by [preflight] timeout_seconds) and
/// returns a Report; run_async() does the same on a background thread for the daemon.

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "paddock/config/config.hpp"
#include "paddock/preflight/host_fs.hpp"
#include "paddock/preflight/result.hpp"
#include "paddock/preflight/sandbox_probe.hpp"

namespace paddock::preflight {

/// Every check, in report order: bwrap_available, user_namespaces, seccomp_profile, uid_range,
/// bwrap_host_uid_mapping, cloud_metadata, redis_auth, cgroup_delegation, worker_network,
/// worker_egress,
/// sandbox_canary.
const std::vector<std::string>& check_names();

struct Options {
  /// Host files; nullptr means the real host (RootedFs("/")).
  std::shared_ptr<const HostFs> fs;
  /// Run only these checks (names from check_names()); empty runs all. Unknown names are
  /// reported as error results.
  std::vector<std::string> only;
  /// UIDs for probe workers; unset means make_local_uid_source(cfg). A daemon whose supervisor
  /// already holds a pool::UidPool passes acquire/release that go through that pool.
  std::optional<UidSource> uids;
  /// Probe workers; nullptr means a SpawnProber over `uids`.
  std::shared_ptr<SandboxProber> prober;
  /// Whether the daemon runs as root; unset means geteuid() == 0.
  std::optional<bool> as_root;
  /// Environment names sandbox_canary must not find inside; unset means the names in this
  /// process's environ.
  std::optional<std::vector<std::string>> daemon_env_names;
  /// UIDs of the caller's live workers (not reported by uid_range).
  std::set<uid_t> worker_uids_in_use;
};

/// Runs the checks and returns their results in check_names() order. Host checks run
/// concurrently first, then the sandbox checks concurrently (so probe workers never show up in
/// uid_range). A check that does not finish within timeout_seconds is reported as an error
/// (its thread finishes on its own in the background). Blocks for at most about
/// 2 * timeout_seconds. Call it from a thread that outlives the call (see SpawnProber).
Report run_all(const config::Config& cfg, const Options& options = {});

/// Runs run_all() on a new thread and calls `done` with the report from that thread. The
/// caller owns the returned thread (join it before destroying what `done` refers to); `done`
/// typically posts the report to the io_context.
std::thread run_async(config::Config cfg, Options options, std::function<void(Report)> done);

/// True while `pid` is a child process preflight started and will reap itself (a probe worker's
/// bwrap, `bwrap --version`). The daemon's orphan reaper must leave such children alone: pass
/// it `[&](pid_t p) { return supervisor_manages(p) || preflight::owns_child(p); }`.
bool owns_child(pid_t pid);

/// Logs every result (info for ok/info, warn for warning, error for error) with its details.
void log_report(const Report& report);

/// The report as a terminal table: one row per check (CHECK, RESULT, MESSAGE) with the message
/// wrapped, the remedy on indented "fix:" lines below it ("tip:" for an ok result that carries
/// one; firewall commands are never split), and a summary line. `color` adds ANSI colours to
/// RESULT.
std::string format_table(const Report& report, bool color);

}  // namespace paddock::preflight
