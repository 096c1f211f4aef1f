#pragma once
/// Running the paddock-probe helper inside a real worker sandbox: the same path a worker takes
/// (sandbox::make_plan + spawn::spawn, a UID from the worker range, [process] worker_gid, the
/// configured seccomp filter, the default sandbox profile) with the helper bound read-only.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "paddock/config/config.hpp"
#include "paddock/util/result.hpp"

namespace paddock::preflight {

/// Leases worker UIDs for probe workers. Both functions may be called from several threads at
/// once; the daemon passes ones that go through its own pool::UidPool so a probe never gets the
/// UID of a live worker.
struct UidSource {
  std::function<Result<uid_t>()> acquire;
  std::function<void(uid_t)> release;
};

/// A UidSource over a private pool::UidPool of the configured range that first marks every UID
/// owning a process as in use (adopt_host_state), guarded by a mutex. Use it when no supervisor
/// holds UIDs yet (at start-up, in `paddockd preflight`).
UidSource make_local_uid_source(const config::Config& cfg);

/// Where the helper is: [preflight] probe_path when set; else paddock-probe next to the running
/// binary (in a build tree that is ${binary dir}/src/, where paddockd is); else
/// PADDOCK_LIBEXECDIR/paddock-probe. Error code "probe_missing" naming every place tried.
Result<std::string> locate_probe_helper(const config::Config& cfg);
/// The same search for any helper `name`: `configured` when set (the config key `key`, e.g.
/// "pool.helper_path", is named in the error), else next to the running binary, else in
/// PADDOCK_LIBEXECDIR.
Result<std::string> locate_libexec_helper(const std::string& configured, const std::string& name,
                                          const std::string& key);

/// A probe worker that ran to its end (or was killed at the deadline).
struct ProbeRun {
  uid_t uid = 0;         ///< the worker UID it ran as
  int exit_status = -1;  ///< bwrap's exit code (the helper's), 128+signal when killed
  bool timed_out = false;
  std::string out;
  std::string err;
};

/// What the host saw of a running probe worker.
struct UidObservation {
  uid_t allocated = 0;      ///< the UID the spawner was asked to use
  pid_t workload_pid = -1;  ///< the helper's pid on the host
  std::string uid_line;     ///< the Uid: line of /proc/<pid>/status (tab separated)
  std::string gid_line;     ///< the Gid: line
};

/// Starts probe workers. The real one is SpawnProber; unit tests of the checks use fakes.
class SandboxProber {
 public:
  virtual ~SandboxProber() = default;
  /// Runs `paddock-probe args...` in a fresh worker until it exits or `timeout` passes.
  /// `purpose` names the worker ("canary", "egress"). Errors: the step that failed (no helper,
  /// no UID, make_plan, spawn).
  virtual Result<ProbeRun> run(const std::string& purpose, const std::vector<std::string>& args,
                               std::chrono::milliseconds timeout) = 0;
  /// Starts `paddock-probe wait` in a worker, finds the helper's host pid and reads its
  /// /proc/<pid>/status from the host, then ends the worker.
  virtual Result<UidObservation> observe_uid(std::chrono::milliseconds timeout) = 0;
};

/// The real prober: the helper found by locate_probe_helper(), the profile named by
/// [process] default_profile, [process] seccomp_profile as the filter, UIDs from `uids`.
/// Thread-safe (each call builds its own worker). Call it from a thread that stays alive until
/// the call returns (the spawner's PR_SET_PDEATHSIG is tied to the calling thread).
class SpawnProber final : public SandboxProber {
 public:
  SpawnProber(config::Config cfg, UidSource uids);
  Result<ProbeRun> run(const std::string& purpose, const std::vector<std::string>& args,
                       std::chrono::milliseconds timeout) override;
  Result<UidObservation> observe_uid(std::chrono::milliseconds timeout) override;

 private:
  config::Config cfg_;
  UidSource uids_;
};

/// The helper's "NAME VERDICT [DETAIL...]" lines as (name, rest) pairs, in order; the rest is
/// "VERDICT" or "VERDICT DETAIL". Lines without a space are skipped.
std::vector<std::pair<std::string, std::string>> parse_probe_output(const std::string& out);

}  // namespace paddock::preflight
