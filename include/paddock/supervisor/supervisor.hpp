#pragma once
/// The worker registry and state machine. Single-threaded: every call and every event happens on
/// the io thread. Processes are reached only through ProcessOps and time only through Scheduler,
/// so the whole lifecycle is unit-tested with fakes.

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "paddock/cgroup/enforcement.hpp"
#include "paddock/config/config.hpp"
#include "paddock/pool/port_pool.hpp"
#include "paddock/pool/uid_pool.hpp"
#include "paddock/runfiles/runfiles.hpp"
#include "paddock/sandbox/paths.hpp"
#include "paddock/sandbox/profile.hpp"
#include "paddock/sandbox/worker_spec.hpp"
#include "paddock/supervisor/events.hpp"
#include "paddock/supervisor/log_ring.hpp"
#include "paddock/supervisor/log_store.hpp"
#include "paddock/supervisor/lookup.hpp"
#include "paddock/supervisor/process_ops.hpp"
#include "paddock/supervisor/restart.hpp"
#include "paddock/supervisor/scheduler.hpp"
#include "paddock/util/result.hpp"

namespace paddock::supervisor {

/// Where sandbox profiles come from (a directory in the daemon, a map in tests).
class ProfileSource {
 public:
  virtual ~ProfileSource() = default;
  /// The profile called `name`; errors have code "unknown_profile" or "invalid_profile".
  virtual Result<sandbox::SandboxProfile> get(const std::string& name) const = 0;
};

/// Profiles loaded from a directory once (and again on reload()).
class DirProfileSource final : public ProfileSource {
 public:
  explicit DirProfileSource(std::string dir) : dir_(std::move(dir)) {}
  Result<void> reload();
  Result<sandbox::SandboxProfile> get(const std::string& name) const override;
  std::vector<std::string> names() const;

 private:
  std::string dir_;
  std::map<std::string, sandbox::SandboxProfile> profiles_;
};

/// A point-in-time view of a worker (or run), as the API shows it.
struct WorkerSnapshot {
  std::string id;
  std::string kind;  ///< "worker" or "run"
  std::string name;
  State state = State::Starting;
  std::string reason;
  std::optional<uid_t> uid;
  std::optional<pid_t> pid;  ///< the workload's host pid while it runs
  std::optional<std::uint16_t> port;
  std::string profile;
  std::vector<std::string> command;
  std::string bundle;  ///< as given in the spec: a host path or an uploaded bundle id
  WallTime created_at;
  std::optional<WallTime> started_at;
  std::optional<WallTime> exited_at;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::uint32_t restarts = 0;
  std::map<std::string, std::string> labels;
  sandbox::Limits limits;
  sandbox::RestartPolicy restart = sandbox::RestartPolicy::Never;
  sandbox::NetworkMode network = sandbox::NetworkMode::Private;
  std::uint64_t dropped_log_bytes = 0;
  /// Which mechanism enforces each limit (for the current or last launch).
  cgroup::Enforcement enforcement;
  /// The cgroup's counters while the worker runs in one; nullopt otherwise.
  std::optional<cgroup::Usage> usage;
};

/// A one-shot run: a worker that is never restarted, whose output is captured.
/// A worker as a list names it: enough for a cache of rendered workers to know whether its
/// rendering is still current.
struct ListedWorker {
  /// The worker's id, valid until the supervisor next runs (it forgets workers only then).
  std::string_view id;
  /// A number no other worker of this process has (cheaper to key a cache by than the id).
  std::uint64_t serial = 0;
  /// Changes whenever anything the worker's snapshot shows, other than `usage`, changes (unique
  /// across workers: a new rendering is never mistaken for an old one).
  std::uint64_t version = 0;
  /// The cgroup's counters while the worker runs in one (read fresh, as in snapshot()).
  std::optional<cgroup::Usage> usage;
};

/// A one-shot run: a worker that is never restarted, whose output is captured.
struct RunSpec {
  sandbox::WorkerSpec spec;
  std::optional<std::string> stdin_data;
  std::uint32_t timeout_seconds = 60;
  std::size_t output_cap_bytes = 1024 * 1024;
  /// Written into the run's working directory before its command starts.
  std::vector<runfiles::InputFile> files;
  /// Globs relative to the working directory, read back once the run has ended.
  std::vector<std::string> collect;
};

/// A worker (or run) that a daemon which went away left with the spawner, as a new daemon
/// adopts it: its tree still runs (`proc`), or it ended while no daemon was there.
struct AdoptedWorker {
  std::string id;
  sandbox::WorkerSpec spec;
  uid_t uid = 0;
  std::optional<std::uint16_t> port;
  std::optional<ProcId> proc;  ///< the running tree; none when it has ended
  pid_t bwrap_pid = -1;
  std::optional<pid_t> workload_pid;
  std::optional<cgroup::Controllers> cgroup;
  WallTime started_at{};
  std::optional<WallTime> exited_at;
  ExitStatus exit;
  /// Named only by the journal: neither its tree nor its exit status survived (the spawner
  /// ended too). It holds no lease and is recorded as failed.
  bool lost = false;
  /// The host side of its bridged port, kept for its restarts (each launch gets a copy).
  std::shared_ptr<util::UniqueFd> port_listener;

  /// What the image before an upgrade knew beyond what the spawner keeps (daemon::Handoff).
  struct Carried {
    State state = State::Running;
    std::string reason;
    WallTime created_at{};
    std::optional<WallTime> last_exited_at;
    std::optional<int> exit_code;
    std::optional<int> signal;
    std::uint32_t restarts = 0;
    std::uint32_t consecutive_failures = 0;
    /// Log lines so far and the partial lines waiting for their newline.
    std::uint64_t log_seq = 0;
    std::string partial_out;
    std::string partial_err;
    /// The lines its ring held (served again without a log file).
    std::vector<LogLine> ring;
    /// A stop under way: its reason, what the worker becomes, and the grace left.
    std::string stop_reason;
    State stop_target = State::Exited;
    bool relaunch_after_stop = false;
    std::int64_t grace_left_ms = 0;
    /// It had no tree at the hand-over (between two runs): it is launched again.
    bool between_runs = false;
  };
  std::optional<Carried> carried;
};

struct RunResult {
  WorkerSnapshot worker;
  bool finished = false;
  std::string stdout_data;
  std::string stderr_data;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  bool timed_out = false;
  std::int64_t duration_ms = 0;
  /// What "collect" found (files and error entries), once the run has ended.
  std::vector<runfiles::Collected> files;
};

struct SupervisorStats {
  std::map<State, std::size_t> by_state;  ///< workers and runs not yet forgotten
  std::size_t live = 0;
  std::size_t free_uids = 0;
  std::size_t free_ports = 0;
  std::uint64_t spawns_ok = 0;
  std::uint64_t spawns_failed = 0;
  std::uint64_t warm_runs = 0;  ///< runs started in a sandbox parked ahead ([pool] warm)
  std::uint64_t restarts_total = 0;
  std::uint64_t dropped_log_bytes = 0;
  std::map<std::string, std::uint64_t>
      exits_by_reason;                          ///< exited, failed, stopped, killed, timeout, ...
  std::vector<double> spawn_latencies_seconds;  ///< recent launch-to-started times
};

struct SupervisorOptions {
  RestartSettings restart;
  /// Readiness polling: first delay, doubling up to max.
  std::chrono::milliseconds readiness_initial{25};
  std::chrono::milliseconds readiness_max{1000};
  /// Finished workers and runs kept for GET before they are forgotten.
  std::size_t keep_finished = 1000;
  /// Called with the seconds from launch to a running workload, for each spawn (metrics).
  std::function<void(double)> on_spawn_latency;
  /// Resolves an uploaded bundle id ("b-...") to the directory to mount; "" when there is no
  /// such bundle. Unset: only host paths under bundle_roots are accepted.
  std::function<std::string(const std::string& id)> uploaded_bundle_path;
};

class Supervisor final : public ProcessSink {
 public:
  Supervisor(const config::Config& cfg, ProcessOps& ops, Scheduler& sched, pool::UidAllocator& uids,
             pool::PortAllocator& ports, const ProfileSource& profiles,
             const sandbox::FileSystem& fs, EventBus& events, SupervisorOptions options = {});
  ~Supervisor() override;

  /// Validates the spec, allocates a UID (and port), plans and launches. Errors:
  /// capacity/uid_exhausted/port_exhausted (503), name_taken (409), invalid_* /
  /// env_not_allowed / limit_too_high / unknown_profile (400), spawn_failed (500).
  Result<WorkerSnapshot> create(const sandbox::WorkerSpec& spec);
  std::optional<WorkerSnapshot> get(const std::string& id) const;
  /// As get(), without the cgroup counters (which are read from the cgroup files): for the
  /// audit log and other readers of the record alone.
  std::optional<WorkerSnapshot> get_record(const std::string& id) const;
  /// Workers (not runs), oldest first, optionally filtered by state and one label.
  std::vector<WorkerSnapshot> list(
      std::optional<State> state = std::nullopt,
      std::optional<std::pair<std::string, std::string>> label = std::nullopt) const;
  /// The workers list() would return, as ids with a change version (see ListedWorker), for
  /// routes that keep each worker's rendering and redo it only when the version moves.
  std::vector<ListedWorker> list_versions(
      std::optional<State> state = std::nullopt,
      std::optional<std::pair<std::string, std::string>> label = std::nullopt) const;
  /// Workers and runs not yet forgotten.
  std::size_t known_count() const { return workers_.size(); }
  /// SIGTERM to the workload, SIGKILL to the tree after `grace` (default [process]
  /// stop_grace_seconds). Idempotent; works while starting. Error not_found.
  Result<WorkerSnapshot> stop(const std::string& id, std::optional<std::chrono::seconds> grace,
                              std::string reason = "stopped by request");
  /// Every worker (`runs` false) or every run (`runs` true) still known, oldest id first, for
  /// lookup_id (names and id prefixes).
  std::vector<IdEntry> lookup_entries(bool runs) const;
  /// Whether the exact id `id` names a run (true) or a worker (false); nullopt when unknown.
  std::optional<bool> names_run(const std::string& id) const;
  /// Stops the current process and starts a new one with the same id, UID and port.
  Result<WorkerSnapshot> restart(const std::string& id);

  /// Takes over a worker the previous daemon left running (same id, UID, port and process
  /// tree; its leases are already held), or records one that ended meanwhile as exited. An
  /// adopted run is stopped: whoever waited for its result went with the old daemon.
  Result<WorkerSnapshot> adopt(AdoptedWorker a);
  /// Every worker and run that has not ended, as a journal names it (id, spec, UID, port).
  std::vector<AdoptedWorker> live_records() const;

  // An upgrade (daemon::Upgrade) hands every worker to a new image of the daemon.
  /// Launches now every worker waiting for its restart delay, so that each has a tree to hand
  /// over.
  void expedite_restarts();
  /// Workers and runs in a passing state (starting, stopping, a run, a run's files being
  /// collected): the hand-over waits for these, bounded.
  std::size_t unsettled() const;
  /// live_records() with what the next image needs to go on exactly where this one stops
  /// (AdoptedWorker::Carried). Call once nothing reads output any more.
  std::vector<AdoptedWorker> handoff_records() const;
  /// Sends a signal to the workload. Errors: not_found, not_running (409).
  Result<void> send_signal(const std::string& id, int sig);

  /// Starts a run; `done` is called once with the result when it finishes.
  Result<WorkerSnapshot> start_run(RunSpec spec, std::function<void(const RunResult&)> done = {});
  std::optional<RunResult> get_run(const std::string& id) const;

  /// The worker's output, in memory and its log file (nullptr for unknown ids).
  const LogStore* logs(const std::string& id) const;
  /// Memory held by every worker's log ring together (bounded by [log] max_ring_bytes_total).
  std::size_t log_ring_bytes() const { return log_budget_.bytes; }
  /// Calls `on_line` for every new line and `on_end` once the worker has exited (at once when
  /// it already has). Returns a token for unsubscribe_logs, 0 for unknown ids.
  std::uint64_t subscribe_logs(const std::string& id, std::function<void(const LogLine&)> on_line,
                               std::function<void()> on_end);
  void unsubscribe_logs(const std::string& id, std::uint64_t token);

  /// Stops every live worker in parallel; after `deadline` kills what is left. Calls `done`
  /// when nothing is left running.
  void shutdown(std::chrono::milliseconds deadline, std::function<void()> done);
  bool shutting_down() const { return shutting_down_; }

  SupervisorStats stats() const;
  std::size_t live_count() const;
  /// Ids of the live workers and runs started with `bundle` (as given in their spec).
  std::vector<std::string> bundle_users(const std::string& bundle) const;

  // ProcessSink
  void on_started(ProcId proc, pid_t workload_pid) override;
  void on_output(ProcId proc, Stream stream, std::string_view bytes) override;
  void on_exited(ProcId proc, ExitStatus status) override;

  struct Worker;

 private:
  Result<void> launch(Worker& w);
  /// A run without a bundle or port: starts it in a parked sandbox when the process layer has
  /// one that fits (the worker then takes that sandbox's id and UID). False: start it cold.
  bool launch_warm(Worker& w);
  /// Records a started tree of `w`.
  void launched(Worker& w, ProcId proc, pid_t bwrap_pid);
  void transition(Worker& w, State to, std::string reason);
  void finish(Worker& w, State to, std::string reason, const std::string& exit_reason);
  void release_resources(Worker& w);
  /// Launches the worker's tree again; when that fails, the worker ends failed.
  void relaunch(Worker& w);
  void open_log_file(Worker& w, bool adopted = false,
                     const AdoptedWorker::Carried* carried = nullptr);
  /// The end of a worker's tree (on_exited, or an exit seen by the image before an upgrade).
  void handle_exit(Worker& w, ExitStatus status);
  /// Stops the worker at its max_lifetime or wall_seconds, whichever comes first, counting
  /// `elapsed` as already spent (an adopted or handed-over worker).
  void schedule_lifetime(Worker& w, std::chrono::milliseconds elapsed);
  /// adopt() of a worker handed over by an upgrade: it goes on as it was.
  Result<WorkerSnapshot> take_over(Worker& w, AdoptedWorker a);
  void publish_created(const Worker& w, WallTime at, std::string reason);
  void schedule_readiness(Worker& w, std::chrono::milliseconds delay);
  void schedule_idle_check(Worker& w);
  void cancel_timers(Worker& w);
  void complete_run(Worker& w);
  void forget_old();
  /// Trims the largest rings (their oldest lines) while all rings together pass
  /// [log] max_ring_bytes_total.
  void trim_rings();
  void check_shutdown_done();
  Worker* find(const std::string& id);
  const Worker* find(const std::string& id) const;
  /// The directory to mount for a spec's bundle: a host path under bundle_roots, resolved and
  /// checked, or an uploaded bundle's content directory.
  Result<std::string> resolve_bundle(const std::string& bundle) const;
  Worker* by_proc(ProcId proc);
  WorkerSnapshot snapshot(const Worker& w, bool with_usage = true) const;
  std::vector<const Worker*> listed(
      std::optional<State> state,
      const std::optional<std::pair<std::string, std::string>>& label) const;
  std::string new_id(const char* prefix);
  Result<WorkerSnapshot> create_impl(const sandbox::WorkerSpec& spec, std::unique_ptr<Worker> w);

  const config::Config& cfg_;
  ProcessOps& ops_;
  Scheduler& sched_;
  pool::UidAllocator& uids_;
  pool::PortAllocator& ports_;
  const ProfileSource& profiles_;
  const sandbox::FileSystem& fs_;
  EventBus& events_;
  SupervisorOptions options_;
  LogBudget log_budget_;  // before workers_: their rings give their bytes back when destroyed
  std::map<std::string, std::unique_ptr<Worker>> workers_;
  std::map<ProcId, std::string> procs_;
  std::deque<std::string> finished_order_;
  bool shutting_down_ = false;
  std::function<void()> shutdown_done_;
  Scheduler::TimerId shutdown_timer_ = 0;
  SupervisorStats counters_;
  mutable std::uint64_t versions_ = 0;
};

}  // namespace paddock::supervisor
