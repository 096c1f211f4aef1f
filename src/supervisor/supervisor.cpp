#include "paddock/supervisor/supervisor.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "paddock/log/log.hpp"
#include "paddock/sandbox/plan.hpp"
#include "paddock/util/crypto.hpp"

namespace paddock::supervisor {

using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// Profiles

Result<void> DirProfileSource::reload() {
  auto loaded = sandbox::load_profiles_dir(dir_);
  if (!loaded) return loaded.error();
  profiles_ = std::move(*loaded);
  return {};
}

Result<sandbox::SandboxProfile> DirProfileSource::get(const std::string& name) const {
  auto it = profiles_.find(name);
  if (it != profiles_.end()) return it->second;
  std::string known;
  for (const auto& [n, p] : profiles_) known += (known.empty() ? "" : ", ") + n;
  return make_error("unknown_profile",
                    "unknown sandbox profile '" + name + "'; available: " + known, "profile");
}

std::vector<std::string> DirProfileSource::names() const {
  std::vector<std::string> out;
  for (const auto& [n, p] : profiles_) out.push_back(n);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Worker record

namespace {

/// What a worker's snapshot shows that can change after it is created (everything else there
/// comes from its spec and profile, fixed at create), but usage, which list_versions() hands
/// out fresh. A field snapshot() fills from changing state must be here too, or cached
/// renderings of the worker list go stale.
struct ShownKey {
  State state = State::Starting;
  std::string reason;
  uid_t uid = 0;
  std::optional<pid_t> pid;
  std::optional<std::uint16_t> port;
  std::optional<WallTime> started_at;
  std::optional<WallTime> exited_at;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::uint32_t restarts = 0;
  std::uint64_t dropped_log_bytes = 0;
  // What the enforcement shown is made from (enforcement()).
  std::optional<cgroup::Controllers> cgroup;
  bool rlimit_as = false;
};

}  // namespace

struct Supervisor::Worker {
  std::string id;
  /// Unique among the workers this process ever made (ListedWorker::serial).
  std::uint64_t serial = next_serial();
  bool is_run = false;
  sandbox::WorkerSpec spec;
  sandbox::SandboxProfile profile;
  sandbox::Limits limits;
  std::string bundle_path;
  State state = State::Starting;
  std::string reason;

  uid_t uid = 0;
  bool holds_uid = false;
  bool data_dir_removed = false;
  std::optional<std::uint16_t> port;
  bool holds_port = false;
  util::UniqueFd port_listener;  // held until the first launch

  std::optional<ProcId> proc;
  std::optional<cgroup::Controllers> cgroup;  // of the current (or last) launch
  pid_t bwrap_pid = -1;
  std::optional<pid_t> workload_pid;
  Scheduler::Mono launched_mono{};
  bool adopted = false;  // taken over from a daemon that went away; no spawn latency to record
  Scheduler::Mono last_activity{};

  WallTime created_at{};
  std::optional<WallTime> started_at;
  std::optional<WallTime> exited_at;
  std::optional<int> exit_code;
  std::optional<int> signal;
  RestartTracker restarts;

  // Why the current stop was asked for, and what the worker becomes once it is down.
  std::string stop_reason;
  State stop_target = State::Exited;
  bool relaunch_after_stop = false;

  Scheduler::TimerId grace_timer = 0;
  Scheduler::Mono grace_deadline{};  // when grace_timer fires
  Scheduler::TimerId restart_timer = 0;
  Scheduler::TimerId readiness_timer = 0;
  Scheduler::TimerId readiness_deadline = 0;
  Scheduler::TimerId idle_timer = 0;
  Scheduler::TimerId lifetime_timer = 0;
  std::chrono::milliseconds readiness_delay{0};

  LogStore ring;
  std::map<std::uint64_t, std::pair<std::function<void(const LogLine&)>, std::function<void()>>>
      followers;
  std::uint64_t next_follower = 1;

  // Runs
  std::optional<std::string> stdin_data;
  std::size_t output_cap = 0;
  std::string out[2];
  bool truncated[2] = {false, false};
  bool timed_out = false;
  std::int64_t duration_ms = 0;
  std::function<void(const RunResult&)> run_done;
  bool run_workdir = false;  // files or collect: data_root/<id> is its working directory
  std::vector<runfiles::InputFile> files;
  std::vector<std::string> collect;
  bool collecting = false;  // the collect request is under way; finish() waits for it
  bool collected = false;
  std::vector<runfiles::Collected> collected_files;

  // What list_versions() last saw of this worker, and the version it gave that.
  mutable ShownKey shown;
  mutable std::uint64_t version = 0;

  Worker(std::size_t ring_bytes, LogBudget* budget, RestartSettings rs)
      : restarts(rs), ring(ring_bytes, budget) {}

  static std::uint64_t next_serial() {
    static std::atomic<std::uint64_t> last{0};
    return ++last;
  }
};

namespace {

std::uint64_t dropped_log_bytes(const Supervisor::Worker& w) { return w.ring.dropped_bytes(); }

cgroup::Enforcement enforcement(const Supervisor::Worker& w) {
  return cgroup::enforcement_for(w.cgroup, w.profile.rlimit_as_mb.has_value());
}

ShownKey shown_key(const Supervisor::Worker& w) {
  ShownKey k;
  k.state = w.state;
  k.reason = w.reason;
  k.uid = w.uid;
  k.pid = w.workload_pid;
  k.port = w.port;
  k.started_at = w.started_at;
  k.exited_at = w.exited_at;
  k.exit_code = w.exit_code;
  k.signal = w.signal;
  k.restarts = w.restarts.restarts();
  k.dropped_log_bytes = dropped_log_bytes(w);
  k.cgroup = w.cgroup;
  k.rlimit_as = w.profile.rlimit_as_mb.has_value();
  return k;
}

/// Whether `k` still describes `w` (compared in place: this runs for every worker of a list).
bool still_shows(const ShownKey& k, const Supervisor::Worker& w) {
  return k.state == w.state && k.uid == w.uid && k.pid == w.workload_pid && k.port == w.port &&
         k.started_at == w.started_at && k.exited_at == w.exited_at && k.exit_code == w.exit_code &&
         k.signal == w.signal && k.restarts == w.restarts.restarts() &&
         k.dropped_log_bytes == dropped_log_bytes(w) && k.cgroup == w.cgroup &&
         k.rlimit_as == w.profile.rlimit_as_mb.has_value() && k.reason == w.reason;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Supervisor::Supervisor(const config::Config& cfg, ProcessOps& ops, Scheduler& sched,
                       pool::UidAllocator& uids, pool::PortAllocator& ports,
                       const ProfileSource& profiles, const sandbox::FileSystem& fs,
                       EventBus& events, SupervisorOptions options)
    : cfg_(cfg),
      ops_(ops),
      sched_(sched),
      uids_(uids),
      ports_(ports),
      profiles_(profiles),
      fs_(fs),
      events_(events),
      options_(options) {}

Supervisor::~Supervisor() {
  for (auto& [id, w] : workers_) cancel_timers(*w);
  if (shutdown_timer_ != 0) sched_.cancel(shutdown_timer_);
}

Supervisor::Worker* Supervisor::find(const std::string& id) {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : it->second.get();
}

const Supervisor::Worker* Supervisor::find(const std::string& id) const {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : it->second.get();
}

Supervisor::Worker* Supervisor::by_proc(ProcId proc) {
  auto it = procs_.find(proc);
  return it == procs_.end() ? nullptr : find(it->second);
}

std::string Supervisor::new_id(const char* prefix) {
  // 128 random bits: never repeated, across daemon restarts too, so no later worker can meet
  // an earlier one's data directory or log file.
  for (;;) {
    std::string id = util::random_id(prefix);
    if (workers_.count(id) == 0) return id;
  }
}

std::size_t Supervisor::live_count() const {
  // Every ended record is in finished_order_ (finish() and take_over() put it there, forget_old()
  // takes it out with the record), so this needs no walk over up to keep_finished records on each
  // create. Debug builds check it against the walk.
#ifndef NDEBUG
  std::size_t n = 0;
  for (const auto& [id, w] : workers_) n += is_terminal(w->state) ? 0 : 1;
  assert(n == workers_.size() - finished_order_.size());
#endif
  return workers_.size() - finished_order_.size();
}

std::vector<std::string> Supervisor::bundle_users(const std::string& bundle) const {
  std::vector<std::string> out;
  for (const auto& [id, w] : workers_) {
    if (!is_terminal(w->state) && w->spec.bundle == bundle) out.push_back(id);
  }
  return out;
}

Result<std::string> Supervisor::resolve_bundle(const std::string& bundle) const {
  if (!bundle.empty() && bundle.front() != '/') {
    // An uploaded bundle: its id, resolved by the bundle store.
    std::string path = options_.uploaded_bundle_path ? options_.uploaded_bundle_path(bundle) : "";
    if (path.empty()) {
      return make_error("invalid_bundle",
                        "bundle '" + bundle +
                            "' is neither an absolute host path nor the id of an uploaded bundle "
                            "(GET /v1/bundles lists them)",
                        "bundle");
    }
    return path;
  }
  return sandbox::resolve_bundle_path(bundle, cfg_.process.bundle_roots, fs_);
}

void Supervisor::transition(Worker& w, State to, std::string reason) {
  const State from = w.state;
  if (from != to && !transition_allowed(from, to)) {
    log::error("refused state transition", {{"worker_id", w.id},
                                            {"from", std::string(to_string(from))},
                                            {"to", std::string(to_string(to))}});
    return;
  }
  w.state = to;
  w.reason = reason;
  log::info("worker " + std::string(to_string(to)),
            log::worker_fields(w.id, static_cast<long>(w.uid), w.workload_pid.value_or(w.bwrap_pid),
                               {{"from", std::string(to_string(from))}, {"reason", reason}}));
  Event e;
  e.worker_id = w.id;
  e.kind = w.is_run ? "run" : "worker";
  e.from = from;
  e.to = to;
  e.at = sched_.wall_now();
  e.reason = std::move(reason);
  events_.publish(std::move(e));
}

/// The event that announces a worker (Starting -> Starting), for the event stream and the audit
/// log.
void Supervisor::publish_created(const Worker& w, WallTime at, std::string reason) {
  Event e;
  e.worker_id = w.id;
  e.kind = w.is_run ? "run" : "worker";
  e.from = State::Starting;
  e.to = State::Starting;
  e.at = at;
  e.reason = std::move(reason);
  events_.publish(std::move(e));
}

void Supervisor::open_log_file(Worker& w, bool adopted, const AdoptedWorker::Carried* carried) {
  const std::string path =
      cfg_.log.worker_log_dir.empty() ? "" : cfg_.log.worker_log_dir + "/" + w.id + ".log";
  if (carried != nullptr) {
    // An upgrade: the same file goes on, with the same line numbers, and the lines the ring
    // held come across in the hand-over.
    bool resumed = false;
    if (!path.empty()) {
      auto r = w.ring.resume_file(path, cfg_.log.worker_log_max_bytes, carried->log_seq,
                                  carried->partial_out, carried->partial_err);
      resumed = static_cast<bool>(r);
      if (!r) {
        log::warn("cannot go on with the worker's log file; output stays in memory only",
                  {{"worker_id", w.id}, {"path", path}, {"error", r.error().message}});
      }
    }
    if (!resumed)
      w.ring.resume_memory(carried->log_seq, carried->partial_out, carried->partial_err);
    w.ring.restore_ring(carried->ring);
    return;
  }
  if (path.empty()) return;
  // An adopted worker's file holds what the previous daemon wrote: it stays on disk as .log.1
  // and this daemon writes a new one (its line numbers start again).
  if (adopted && ::rename(path.c_str(), (path + ".1").c_str()) != 0 && errno != ENOENT) {
    log::warn("cannot move the previous daemon's worker log file aside",
              {{"worker_id", w.id}, {"path", path}, {"error", std::strerror(errno)}});
  }
  if (auto opened = w.ring.open_file(path, cfg_.log.worker_log_max_bytes); !opened) {
    log::warn("cannot open worker log file; output stays in memory only",
              {{"worker_id", w.id}, {"path", path}, {"error", opened.error().message}});
  }
}

Result<WorkerSnapshot> Supervisor::create(const sandbox::WorkerSpec& spec) {
  auto w = std::make_unique<Worker>(cfg_.log.worker_log_ring_bytes, &log_budget_, options_.restart);
  w->id = new_id("w-");
  return create_impl(spec, std::move(w));
}

Result<WorkerSnapshot> Supervisor::create_impl(const sandbox::WorkerSpec& spec,
                                               std::unique_ptr<Worker> w) {
  if (shutting_down_) {
    return make_error("shutting_down", "the daemon is shutting down; no new workers are started");
  }
  if (live_count() >= cfg_.process.max_workers) {
    return make_error("capacity", "the daemon already runs its maximum of " +
                                      std::to_string(cfg_.process.max_workers) +
                                      " workers ([process] max_workers); stop one or retry later");
  }
  if (!spec.name.empty()) {
    for (const auto& [id, other] : workers_) {
      if (!is_terminal(other->state) && other->spec.name == spec.name) {
        return make_error("name_taken",
                          "a live worker is already named '" + spec.name + "' (" + id + ")",
                          "name");
      }
    }
  }
  const std::string profile_name =
      spec.profile.empty() ? cfg_.process.default_profile : spec.profile;
  auto profile = profiles_.get(profile_name);
  if (!profile) {
    Error e = profile.error();
    e.field = "profile";
    return e;
  }
  auto limits = sandbox::resolve_limits(spec.limits, cfg_.limits);
  if (!limits) return limits.error();
  // Checked before anything is allocated, so a refused request leaves nothing behind.
  auto network = w->is_run ? sandbox::resolve_run_network(spec.network, cfg_)
                           : sandbox::resolve_network(spec.network, cfg_.process);
  if (!network) return network.error();
  std::string bundle;
  if (!spec.bundle.empty()) {
    auto resolved = resolve_bundle(spec.bundle);
    if (!resolved) return resolved.error();
    bundle = *resolved;
  }

  w->spec = spec;
  w->spec.network = *network;
  w->spec.profile = profile_name;
  w->profile = std::move(*profile);
  w->limits = *limits;
  w->bundle_path = bundle;
  w->created_at = sched_.wall_now();
  w->reason = "created";
  // A run asks for a parked sandbox only where [pool] warm parks its profile (no round trip
  // to the spawner otherwise).
  const auto pooled = cfg_.pool.warm.find(profile_name);
  const bool warm = w->is_run && bundle.empty() && !spec.port && pooled != cfg_.pool.warm.end() &&
                    pooled->second > 0 && launch_warm(*w);
  if (!warm) {
    auto uid = uids_.lease(w->id);
    if (!uid) return uid.error();
    w->uid = *uid;
    w->holds_uid = true;
    if (spec.port) {
      auto lease = ports_.lease(w->id);
      if (!lease) {
        uids_.give_back(w->uid);
        return lease.error();
      }
      w->port = lease->port;
      w->holds_port = true;
      w->port_listener = std::move(lease->listener);
    }
  }

  Worker& ref = *w;
  open_log_file(ref);

  // Plan before registering, so a bad request leaves nothing behind.
  if (!warm) {
    if (auto r = launch(ref); !r) {
      release_resources(ref);
      return r.error();
    }
  }
  workers_.emplace(ref.id, std::move(w));
  publish_created(ref, ref.created_at, "created");

  schedule_lifetime(ref, std::chrono::milliseconds(0));
  if (ref.spec.idle_timeout_seconds != 0) schedule_idle_check(ref);
  // A run is answered when it ends; its counters at its start are not read (three cgroup files).
  return snapshot(ref, /*with_usage=*/!ref.is_run);
}

void Supervisor::schedule_lifetime(Worker& w, std::chrono::milliseconds elapsed) {
  const std::uint32_t lifetime = w.spec.max_lifetime_seconds;
  const std::uint32_t wall = w.limits.wall_seconds;
  if (lifetime == 0 && wall == 0) return;
  const bool wall_first = wall != 0 && (lifetime == 0 || wall < lifetime);
  const std::chrono::milliseconds limit = std::chrono::seconds(wall_first ? wall : lifetime);
  const std::string why = wall_first ? "wall_seconds limit reached" : "max lifetime reached";
  const std::string id = w.id;
  w.lifetime_timer =
      sched_.after(std::max(limit - elapsed, std::chrono::milliseconds(0)), [this, id, why] {
        if (Worker* x = find(id)) {
          x->lifetime_timer = 0;
          if (!is_terminal(x->state)) (void)stop(id, std::nullopt, why);
        }
      });
}

Result<void> Supervisor::launch(Worker& w) {
  sandbox::Allocation alloc;
  alloc.worker_id = w.id;
  alloc.uid = w.uid;
  alloc.port = w.port;
  alloc.bundle_path = w.bundle_path;
  alloc.run_workdir = w.run_workdir;
  if (!w.bundle_path.empty()) {
    // Every start (restarts too) resolves the bundle again: a directory replaced by a symlink
    // after the worker was created must not redirect the mount.
    auto again = resolve_bundle(w.spec.bundle);
    if (!again || *again != w.bundle_path) {
      ++counters_.spawns_failed;
      const std::string why = again ? "now resolves to '" + *again + "'" : again.error().message;
      log::error("spawn failed", log::worker_fields(w.id, static_cast<long>(w.uid), -1,
                                                    {{"error", "bundle changed: " + why}}));
      return make_error("invalid_bundle",
                        "bundle '" + w.spec.bundle +
                            "' changed since the worker was created (it "
                            "was '" +
                            w.bundle_path + "', " + why + "); create the worker again",
                        "bundle");
    }
  }
  sandbox::WorkerSpec spec = w.spec;
  auto plan = sandbox::make_plan(spec, w.profile, cfg_, alloc);
  if (!plan) return plan.error();
  LaunchRequest req;
  req.plan = std::move(*plan);
  req.spec = spec;
  if (spec.network != sandbox::NetworkMode::Host && w.port_listener) {
    // The daemon serves this port itself for the worker's whole life (bridged into its
    // network namespace); each launch gets a duplicate, the reservation stays here.
    req.port_listener.reset(::fcntl(w.port_listener.get(), F_DUPFD_CLOEXEC, 3));
  } else {
    req.port_listener = std::move(w.port_listener);
  }
  req.stdin_data = w.stdin_data;
  req.run_workdir = w.run_workdir;
  req.remove_data_at_end = w.is_run && w.run_workdir && w.collect.empty();
  req.files = std::move(w.files);  // a run is launched once
  req.file_caps = runfiles::caps_from(cfg_.runs);
  auto launched = ops_.launch(std::move(req), *this);
  if (!launched) {
    ++counters_.spawns_failed;
    log::error("spawn failed", log::worker_fields(w.id, static_cast<long>(w.uid), -1,
                                                  {{"error", launched.error().message}}));
    Error e = launched.error();
    if (e.code.empty() || e.code == "io") e.code = "spawn_failed";
    return e;
  }
  this->launched(w, launched->first, launched->second);
  return {};
}

void Supervisor::launched(Worker& w, ProcId proc, pid_t bwrap_pid) {
  ++counters_.spawns_ok;
  w.proc = proc;
  w.cgroup = ops_.cgroup_of(proc);
  w.bwrap_pid = bwrap_pid;
  w.workload_pid.reset();
  w.launched_mono = sched_.now();
  w.last_activity = w.launched_mono;
  procs_[proc] = w.id;
}

bool Supervisor::launch_warm(Worker& w) {
  LaunchRequest req;
  req.spec = w.spec;
  req.stdin_data = w.stdin_data;
  req.run_workdir = true;
  req.remove_data_at_end = w.collect.empty();
  req.files = std::move(w.files);
  req.file_caps = runfiles::caps_from(cfg_.runs);
  auto started = ops_.launch_warm(req, *this);
  if (!started) {
    w.files = std::move(req.files);  // for the cold start
    if (started.error().code != "no_warm_sandbox") {
      log::warn("a warm start failed; the run starts cold",
                log::worker_fields(w.id, -1, -1, {{"error", started.error().message}}));
    }
    return false;
  }
  w.id = started->worker_id;
  w.uid = started->uid;
  w.holds_uid = true;
  ++counters_.warm_runs;
  launched(w, started->proc, started->pid);
  return true;
}

void Supervisor::on_started(ProcId proc, pid_t workload_pid) {
  Worker* w = by_proc(proc);
  if (w == nullptr) return;
  w->workload_pid = workload_pid;
  if (options_.on_spawn_latency && !std::exchange(w->adopted, false)) {
    options_.on_spawn_latency(
        std::chrono::duration<double>(sched_.now() - w->launched_mono).count());
  }
  if (!w->started_at) w->started_at = sched_.wall_now();
  if (w->state != State::Starting) return;  // e.g. stopping already
  transition(*w, State::Running, "workload started");
  if (w->port) {
    w->readiness_delay = options_.readiness_initial;
    const std::string id = w->id;
    w->readiness_deadline =
        sched_.after(std::chrono::seconds(cfg_.process.readiness_timeout_seconds), [this, id] {
          Worker* x = find(id);
          if (x == nullptr || x->state != State::Running) return;
          x->readiness_deadline = 0;
          (void)stop(id, 0s,
                     "not ready: nothing accepted connections on port " + std::to_string(*x->port) +
                         " within " + std::to_string(cfg_.process.readiness_timeout_seconds) +
                         " s");
          if (Worker* y = find(id)) y->stop_target = State::Failed;
        });
    schedule_readiness(*w, std::chrono::milliseconds(0));
  } else {
    transition(*w, State::Ready, "started (no port to probe)");
  }
}

void Supervisor::schedule_readiness(Worker& w, std::chrono::milliseconds delay) {
  const std::string id = w.id;
  const ProcId proc = *w.proc;
  w.readiness_timer = sched_.after(delay, [this, id, proc] {
    Worker* x = find(id);
    if (x == nullptr || x->proc != proc || x->state != State::Running) return;
    x->readiness_timer = 0;
    ops_.probe_port(*x->port, [this, id, proc](bool ok) {
      Worker* y = find(id);
      if (y == nullptr || y->proc != proc || y->state != State::Running) return;
      if (ok) {
        if (y->readiness_deadline != 0) sched_.cancel(y->readiness_deadline);
        y->readiness_deadline = 0;
        transition(*y, State::Ready, "accepting connections on port " + std::to_string(*y->port));
        return;
      }
      y->readiness_delay = std::min(y->readiness_delay * 2, options_.readiness_max);
      if (y->readiness_delay.count() == 0) y->readiness_delay = options_.readiness_initial;
      schedule_readiness(*y, y->readiness_delay);
    });
  });
}

void Supervisor::schedule_idle_check(Worker& w) {
  const auto idle = std::chrono::seconds(w.spec.idle_timeout_seconds);
  const auto every = std::min<std::chrono::milliseconds>(idle, std::chrono::milliseconds(5000));
  const std::string id = w.id;
  w.idle_timer = sched_.after(every, [this, id, idle] {
    Worker* x = find(id);
    if (x == nullptr || is_terminal(x->state)) return;
    x->idle_timer = 0;
    if (x->port && x->proc && ops_.port_has_connections(*x->port)) x->last_activity = sched_.now();
    if (x->state != State::Stopping && sched_.now() - x->last_activity >= idle) {
      (void)stop(id, std::nullopt,
                 "idle timeout: no output or connections for " +
                     std::to_string(x->spec.idle_timeout_seconds) + " s");
      return;
    }
    schedule_idle_check(*x);
  });
}

void Supervisor::on_output(ProcId proc, Stream stream, std::string_view bytes) {
  Worker* w = by_proc(proc);
  if (w == nullptr) return;
  w->last_activity = sched_.now();
  if (w->is_run) {
    auto& buf = w->out[static_cast<int>(stream)];
    const std::size_t room = w->output_cap > buf.size() ? w->output_cap - buf.size() : 0;
    if (bytes.size() > room) w->truncated[static_cast<int>(stream)] = true;
    buf.append(bytes.substr(0, room));
  }
  const auto before = w->ring.dropped_bytes();
  auto lines = w->ring.append(stream, sched_.wall_now(), bytes);
  counters_.dropped_log_bytes += w->ring.dropped_bytes() - before;
  trim_rings();
  if (!w->followers.empty()) {
    auto followers = w->followers;  // a follower may unsubscribe while called
    for (const auto& l : lines) {
      for (auto& [token, f] : followers) f.first(l);
    }
  }
}

namespace {

/// Sets the worker's exit code or signal from `status`; returns how it ended, for a reason.
std::string record_exit(Supervisor::Worker& w, ExitStatus status) {
  w.exit_code = status.signal == 0 ? std::optional<int>(status.exit_code) : std::nullopt;
  w.signal = status.signal != 0 ? std::optional<int>(status.signal) : std::nullopt;
  return status.signal != 0 ? "killed by signal " + std::to_string(status.signal)
                            : "exit code " + std::to_string(status.exit_code);
}

}  // namespace

void Supervisor::on_exited(ProcId proc, ExitStatus status) {
  Worker* w = by_proc(proc);
  procs_.erase(proc);
  if (w == nullptr) return;
  w->proc.reset();
  if (status.data_removed) w->data_dir_removed = true;
  handle_exit(*w, status);
}

void Supervisor::handle_exit(Worker& worker, ExitStatus status) {
  Worker* w = &worker;
  w->workload_pid.reset();
  const std::string how = record_exit(*w, status);
  w->exited_at = sched_.wall_now();
  const auto dropped_before = w->ring.dropped_bytes();
  auto tail = w->ring.flush(sched_.wall_now());
  counters_.dropped_log_bytes += w->ring.dropped_bytes() - dropped_before;
  trim_rings();
  for (const auto& l : tail) {
    for (auto& [token, f] : w->followers) f.first(l);
  }
  if (w->grace_timer != 0) sched_.cancel(w->grace_timer);
  if (w->readiness_timer != 0) sched_.cancel(w->readiness_timer);
  if (w->readiness_deadline != 0) sched_.cancel(w->readiness_deadline);
  w->grace_timer = w->readiness_timer = w->readiness_deadline = 0;

  const auto ran_for =
      std::chrono::duration_cast<std::chrono::milliseconds>(sched_.now() - w->launched_mono);

  if (w->state == State::Stopping) {
    if (w->relaunch_after_stop && !shutting_down_) {
      w->relaunch_after_stop = false;
      transition(*w, State::Starting, "restarting by request");
      relaunch(*w);
      return;
    }
    const std::string reason = w->stop_reason + " (" + how + ")";
    finish(*w, w->stop_target, reason, w->stop_target == State::Failed ? "failed" : "stopped");
    return;
  }
  if (w->is_run) {
    finish(*w, State::Exited, "exited: " + how, w->timed_out ? "timeout" : "exited");
    return;
  }
  const bool failed = status.signal != 0 || status.exit_code != 0;
  const bool restart =
      !shutting_down_ && (w->spec.restart == sandbox::RestartPolicy::Always ||
                          (w->spec.restart == sandbox::RestartPolicy::OnFailure && failed));
  if (!restart) {
    finish(*w, State::Exited, "exited: " + how, failed ? "failed_exit" : "exited");
    return;
  }
  if (!w->restarts.record_exit(sched_.now(), ran_for)) {
    const auto& s = w->restarts.settings();
    finish(*w, State::Failed,
           "start limit reached: " + std::to_string(s.limit_failures) + " exits within " +
               std::to_string(s.window.count() / 1000) + " s (last: " + how + ")",
           "start_limit");
    return;
  }
  ++counters_.restarts_total;
  const auto delay = w->restarts.next_delay(sched_.random_unit());
  transition(*w, State::Starting,
             "restart " + std::to_string(w->restarts.restarts()) + " in " +
                 std::to_string(delay.count()) + " ms after " + how);
  const std::string id = w->id;
  w->restart_timer = sched_.after(delay, [this, id] {
    Worker* x = find(id);
    if (x == nullptr || x->state != State::Starting || x->proc) return;
    x->restart_timer = 0;
    relaunch(*x);
  });
}

void Supervisor::relaunch(Worker& w) {
  if (auto r = launch(w); !r) {
    finish(w, State::Failed, "restart failed: " + r.error().message, "spawn_failed");
  }
}

void Supervisor::finish(Worker& w, State to, std::string reason, const std::string& exit_reason) {
  if (w.collecting) return;  // finishes when the collection is back
  if (w.is_run && !w.collect.empty() && !w.collected && w.holds_uid) {
    // Before the UID goes back and the directory is removed. Every process of the run has
    // ended here (the process layer reports an exit once the tree and its UID are empty).
    cancel_timers(w);
    w.collecting = true;
    CollectRequest req;
    req.worker_id = w.id;
    req.dir = cfg_.process.data_root + "/" + w.id;
    req.uid = w.uid;
    req.gid = cfg_.process.worker_gid;
    req.patterns = w.collect;
    req.caps = runfiles::caps_from(cfg_.runs);
    const std::string id = w.id;
    ops_.collect(std::move(req),
                 [this, id, to, reason, exit_reason](std::vector<runfiles::Collected> files) {
                   Worker* x = find(id);
                   if (x == nullptr) return;
                   x->collecting = false;
                   x->collected = true;
                   x->collected_files = std::move(files);
                   finish(*x, to, reason, exit_reason);
                 });
    return;
  }
  cancel_timers(w);
  transition(w, to, std::move(reason));
  ++counters_.exits_by_reason[exit_reason];
  release_resources(w);
  auto followers = std::move(w.followers);
  w.followers.clear();
  for (auto& [token, f] : followers) {
    if (f.second) f.second();
  }
  if (w.is_run) complete_run(w);
  finished_order_.push_back(w.id);
  forget_old();
  check_shutdown_done();
}

void Supervisor::release_resources(Worker& w) {
  if (w.holds_uid) uids_.give_back(w.uid);
  if (w.holds_port && w.port) ports_.give_back(*w.port);
  w.holds_uid = w.holds_port = false;
  w.port_listener.reset();
  w.ring.close_file();
  if ((!w.profile.data_mount.empty() || w.run_workdir) && !w.data_dir_removed) {
    w.data_dir_removed = true;
    ops_.remove_data_dir(cfg_.process.data_root + "/" + w.id);
  }
}

void Supervisor::cancel_timers(Worker& w) {
  for (auto* t : {&w.grace_timer, &w.restart_timer, &w.readiness_timer, &w.readiness_deadline,
                  &w.idle_timer, &w.lifetime_timer}) {
    if (*t != 0) sched_.cancel(*t);
    *t = 0;
  }
}

Result<WorkerSnapshot> Supervisor::stop(const std::string& id,
                                        std::optional<std::chrono::seconds> grace,
                                        std::string reason) {
  Worker* w = find(id);
  if (w == nullptr) return make_error("not_found", "no worker or run with id '" + id + "'", "id");
  if (is_terminal(w->state)) return snapshot(*w);
  if (w->state == State::Stopping) {
    // Already on its way down. A stop asked for during a restart wins over the restart: the
    // worker ends instead of being launched again.
    if (w->relaunch_after_stop) {
      w->relaunch_after_stop = false;
      w->stop_reason = std::move(reason);
    }
    return snapshot(*w);
  }
  const auto g = grace.value_or(std::chrono::seconds(cfg_.process.stop_grace_seconds));
  w->stop_reason = std::move(reason);
  w->stop_target = State::Exited;
  if (!w->proc) {
    // Between restarts: nothing runs, so the worker is down at once.
    finish(*w, State::Exited, w->stop_reason, "stopped");
    return snapshot(*w);
  }
  transition(*w, State::Stopping, w->stop_reason);
  if (w->readiness_timer != 0) sched_.cancel(w->readiness_timer);
  w->readiness_timer = 0;
  if (g.count() == 0) {
    ops_.kill_tree(*w->proc);
  } else {
    ops_.signal_workload(*w->proc, SIGTERM);
    const ProcId proc = *w->proc;
    w->grace_deadline = sched_.now() + g;
    w->grace_timer = sched_.after(g, [this, id, proc] {
      Worker* x = find(id);
      if (x == nullptr || x->proc != proc) return;
      x->grace_timer = 0;
      log::info("grace period over; killing the worker's process tree",
                log::worker_fields(id, static_cast<long>(x->uid), x->bwrap_pid));
      ops_.kill_tree(proc);
    });
  }
  return snapshot(*w);
}

Result<WorkerSnapshot> Supervisor::adopt(AdoptedWorker a) {
  if (workers_.count(a.id) != 0) {
    return make_error("invalid_request", "worker " + a.id + " is known already", "id");
  }
  auto w = std::make_unique<Worker>(cfg_.log.worker_log_ring_bytes, &log_budget_, options_.restart);
  w->id = a.id;
  w->is_run = a.id.rfind("r-", 0) == 0;
  w->run_workdir = w->is_run;
  w->spec = std::move(a.spec);
  if (w->spec.profile.empty()) w->spec.profile = cfg_.process.default_profile;
  if (auto profile = profiles_.get(w->spec.profile)) {
    w->profile = std::move(*profile);
  } else {
    log::warn("an adopted worker's profile is gone; it keeps running as it was started",
              {{"worker_id", w->id}, {"profile", w->spec.profile}});
  }
  if (auto limits = sandbox::resolve_limits(w->spec.limits, cfg_.limits)) w->limits = *limits;
  if (!w->spec.bundle.empty()) {
    if (auto resolved = resolve_bundle(w->spec.bundle)) w->bundle_path = *resolved;
  }
  w->uid = a.uid;
  // An ended worker handed over by an upgrade is listed only: its UID and port went back.
  const bool ended = a.carried && is_terminal(a.carried->state);
  w->holds_uid = !a.lost && !ended;
  w->port = a.port;
  w->holds_port = a.port.has_value() && !a.lost && !ended;
  if (a.port_listener && *a.port_listener) w->port_listener = std::move(*a.port_listener);
  w->created_at = a.started_at;
  w->started_at = a.started_at;
  w->cgroup = a.cgroup;
  w->bwrap_pid = a.bwrap_pid;
  w->launched_mono = sched_.now();
  w->last_activity = sched_.now();
  w->reason = "adopted";
  const AdoptedWorker::Carried* carried = a.carried ? &*a.carried : nullptr;
  if (carried != nullptr) {
    w->created_at = carried->created_at;
    w->reason = carried->reason;
    w->exit_code = carried->exit_code;
    w->signal = carried->signal;
    w->exited_at = carried->last_exited_at;
    w->restarts.resume(carried->restarts, carried->consecutive_failures);
  }
  Worker& ref = *w;
  open_log_file(ref, /*adopted=*/true, carried);
  workers_.emplace(ref.id, std::move(w));
  if (carried != nullptr) return take_over(ref, std::move(a));
  publish_created(ref, sched_.wall_now(), "adopted after a daemon restart");

  if (a.lost) {
    ref.exited_at = sched_.wall_now();
    finish(ref, State::Failed,
           "lost: paddockd and its spawner ended while it ran, and its processes with them",
           "lost");
    return snapshot(ref);
  }
  if (!a.proc) {
    ref.exited_at = a.exited_at.value_or(sched_.wall_now());
    const std::string how = record_exit(ref, a.exit);
    finish(ref, State::Exited, "exited while no daemon ran (" + how + ")", "exited");
    return snapshot(ref);
  }
  ref.proc = a.proc;
  ref.adopted = true;
  procs_[*a.proc] = ref.id;
  log::info("worker adopted", log::worker_fields(ref.id, static_cast<long>(ref.uid),
                                                 a.workload_pid.value_or(a.bwrap_pid), {}));
  if (a.workload_pid) on_started(*a.proc, *a.workload_pid);
  if (ref.is_run) {
    (void)stop(ref.id, 0s, "its caller went away with the daemon that started it");
    return snapshot(ref);
  }
  if (ref.spec.idle_timeout_seconds != 0) schedule_idle_check(ref);
  // Its wall_seconds and max_lifetime count from its creation, not from the adoption.
  schedule_lifetime(ref, std::chrono::duration_cast<std::chrono::milliseconds>(sched_.wall_now() -
                                                                               ref.created_at));
  return snapshot(ref);
}

Result<WorkerSnapshot> Supervisor::take_over(Worker& w, AdoptedWorker a) {
  const AdoptedWorker::Carried& c = *a.carried;
  if (is_terminal(c.state)) {
    // Ended before the hand-over: listed (and its log served) until it is forgotten.
    w.state = c.state;
    w.data_dir_removed = true;
    w.ring.close_file();
    finished_order_.push_back(w.id);
    forget_old();
    return snapshot(w);
  }
  // Its wall_seconds and max_lifetime count from its creation, not from the hand-over.
  schedule_lifetime(
      w, std::chrono::duration_cast<std::chrono::milliseconds>(sched_.wall_now() - w.created_at));
  // The state the image before showed, without a transition event: for a client nothing
  // happened to this worker.
  w.state = c.state;
  if (a.proc) {
    w.proc = a.proc;
    w.adopted = true;
    procs_[*a.proc] = w.id;
    w.workload_pid = a.workload_pid;
    if (!a.workload_pid) w.state = State::Starting;  // its `started` comes from the spawner
  }
  log::info("worker handed over", log::worker_fields(w.id, static_cast<long>(w.uid),
                                                     a.workload_pid.value_or(a.bwrap_pid), {}));
  if (c.state == State::Stopping) {
    w.stop_reason = c.stop_reason;
    w.stop_target = c.stop_target;
    w.relaunch_after_stop = c.relaunch_after_stop;
  }
  if (!a.proc && a.exited_at) {
    // Its tree ended during the hand-over: the exit is handled as if this image had seen it.
    const auto ran =
        std::chrono::duration_cast<std::chrono::milliseconds>(*a.exited_at - a.started_at);
    w.launched_mono = sched_.now() - std::max(ran, std::chrono::milliseconds(0));
    handle_exit(w, a.exit);
    return snapshot(w);
  }
  if (!a.proc) {
    // Between two runs of its tree at the hand-over: run it again now.
    w.state = State::Starting;
    relaunch(w);
    return snapshot(w);
  }
  if (w.is_run) {
    (void)stop(w.id, 0s, "its caller's connection ended with the upgrade of paddockd");
    return snapshot(w);
  }
  if (c.state == State::Stopping) {
    // The stop goes on with the grace it had left.
    w.state = State::Running;
    (void)stop(w.id,
               std::chrono::seconds((std::max<std::int64_t>(c.grace_left_ms, 0) + 999) / 1000),
               c.stop_reason);
    w.stop_target = c.stop_target;  // stop() set its own
    return snapshot(w);
  }
  if (w.state == State::Starting) {
    // Launched, its workload found only after the hand-over began (or not yet: then the
    // spawner's `started` follows).
    if (a.workload_pid) on_started(*a.proc, *a.workload_pid);
  } else if (w.state == State::Running && w.port) {
    // Not ready yet at the hand-over: probing goes on.
    w.readiness_delay = options_.readiness_initial;
    schedule_readiness(w, std::chrono::milliseconds(0));
  }
  if (w.spec.idle_timeout_seconds != 0) schedule_idle_check(w);
  return snapshot(w);
}

void Supervisor::expedite_restarts() {
  std::vector<std::string> due;
  for (const auto& [id, w] : workers_) {
    if (w->restart_timer != 0 && !w->proc && w->state == State::Starting) due.push_back(id);
  }
  for (const auto& id : due) {
    Worker* w = find(id);
    if (w == nullptr) continue;
    sched_.cancel(w->restart_timer);
    w->restart_timer = 0;
    relaunch(*w);
  }
}

std::size_t Supervisor::unsettled() const {
  std::size_t n = 0;
  for (const auto& [id, w] : workers_) {
    if (is_terminal(w->state)) {
      n += w->collecting ? 1 : 0;
      continue;
    }
    if (w->is_run || w->state == State::Starting || w->state == State::Stopping) ++n;
  }
  return n;
}

namespace {

/// A worker as the journal names it: id, spec, UID, port and when it started.
AdoptedWorker record_of(const Supervisor::Worker& w) {
  AdoptedWorker a;
  a.id = w.id;
  a.spec = w.spec;
  a.uid = w.uid;
  a.port = w.port;
  a.started_at = w.started_at.value_or(w.created_at);
  return a;
}

/// record_of() and what every handed-over worker carries, live or ended.
AdoptedWorker handoff_record(const Supervisor::Worker& w) {
  AdoptedWorker a = record_of(w);
  AdoptedWorker::Carried c;
  c.state = w.state;
  c.reason = w.reason;
  c.created_at = w.created_at;
  c.last_exited_at = w.exited_at;
  c.exit_code = w.exit_code;
  c.signal = w.signal;
  c.restarts = w.restarts.restarts();
  c.log_seq = w.ring.last_seq();
  c.ring = w.ring.ring_lines();
  a.carried = std::move(c);
  return a;
}

}  // namespace

std::vector<AdoptedWorker> Supervisor::handoff_records() const {
  std::vector<AdoptedWorker> out;
  for (const auto& [id, w] : workers_) {
    if (is_terminal(w->state)) continue;
    AdoptedWorker a = handoff_record(*w);
    AdoptedWorker::Carried& c = *a.carried;
    c.consecutive_failures = w->restarts.consecutive();
    c.partial_out = w->ring.partial(Stream::Stdout);
    c.partial_err = w->ring.partial(Stream::Stderr);
    c.stop_reason = w->stop_reason;
    c.stop_target = w->stop_target;
    c.relaunch_after_stop = w->relaunch_after_stop;
    if (w->grace_timer != 0) {
      c.grace_left_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(w->grace_deadline - sched_.now())
              .count();
    }
    c.between_runs = !w->proc;
    out.push_back(std::move(a));
  }
  // Ended ones too, oldest first, so that the next image lists (and forgets) them as this one.
  for (const auto& id : finished_order_) {
    const Worker* w = find(id);
    if (w != nullptr && is_terminal(w->state)) out.push_back(handoff_record(*w));
  }
  return out;
}

std::vector<AdoptedWorker> Supervisor::live_records() const {
  std::vector<AdoptedWorker> out;
  for (const auto& [id, w] : workers_) {
    if (!is_terminal(w->state)) out.push_back(record_of(*w));
  }
  return out;
}

Result<WorkerSnapshot> Supervisor::restart(const std::string& id) {
  Worker* w = find(id);
  if (w == nullptr || w->is_run)
    return make_error("not_found", "no worker with id '" + id + "'", "id");
  if (is_terminal(w->state)) {
    return make_error("not_running", "worker '" + id + "' has " + std::string(to_string(w->state)) +
                                         "; start a new one instead");
  }
  if (!w->proc) return snapshot(*w);  // already waiting to restart
  // A stop under way is not turned into a restart (nor is a restart repeated).
  if (w->state == State::Stopping) return snapshot(*w);
  w->relaunch_after_stop = true;
  return stop(id, std::nullopt, "restart requested");
}

Result<void> Supervisor::send_signal(const std::string& id, int sig) {
  Worker* w = find(id);
  if (w == nullptr) return make_error("not_found", "no worker or run with id '" + id + "'", "id");
  if (!w->proc) {
    return make_error("not_running", "worker '" + id + "' has no running process (" +
                                         std::string(to_string(w->state)) + ")");
  }
  ops_.signal_workload(*w->proc, sig);
  return {};
}

Result<WorkerSnapshot> Supervisor::start_run(RunSpec spec,
                                             std::function<void(const RunResult&)> done) {
  auto w = std::make_unique<Worker>(cfg_.log.worker_log_ring_bytes, &log_budget_, options_.restart);
  w->id = new_id("r-");
  w->is_run = true;
  w->stdin_data = std::move(spec.stdin_data);
  w->output_cap = spec.output_cap_bytes;
  w->run_done = std::move(done);
  // Every run starts in its own empty working directory (data_root/<id>, at /work or the
  // profile's data_mount), whether it brings files or not: the same for warm and cold starts.
  w->run_workdir = true;
  if (auto ok = runfiles::check_inputs(spec.files, runfiles::caps_from(cfg_.runs)); !ok) {
    return ok.error();
  }
  w->files = std::move(spec.files);
  w->collect = std::move(spec.collect);
  spec.spec.restart = sandbox::RestartPolicy::Never;
  Worker& ref = *w;
  auto created = create_impl(spec.spec, std::move(w));
  if (!created) return created;
  const std::string id = ref.id;
  const auto timeout = std::chrono::seconds(spec.timeout_seconds);
  ref.lifetime_timer = sched_.after(timeout, [this, id] {
    Worker* x = find(id);
    if (x == nullptr || is_terminal(x->state)) return;
    x->lifetime_timer = 0;
    x->timed_out = true;
    (void)stop(id, 0s, "timed out");
  });
  return created;
}

void Supervisor::complete_run(Worker& w) {
  w.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      w.exited_at.value_or(sched_.wall_now()) - w.created_at)
                      .count();
  if (w.run_done) {
    auto done = std::move(w.run_done);
    w.run_done = nullptr;
    if (auto r = get_run(w.id)) done(*r);
  }
}

std::optional<RunResult> Supervisor::get_run(const std::string& id) const {
  const Worker* w = find(id);
  if (w == nullptr || !w->is_run) return std::nullopt;
  RunResult r;
  r.worker = snapshot(*w);
  r.finished = is_terminal(w->state);
  r.stdout_data = w->out[0];
  r.stderr_data = w->out[1];
  r.stdout_truncated = w->truncated[0];
  r.stderr_truncated = w->truncated[1];
  r.timed_out = w->timed_out;
  r.duration_ms = w->duration_ms;
  r.files = w->collected_files;
  return r;
}

std::vector<IdEntry> Supervisor::lookup_entries(bool runs) const {
  std::vector<IdEntry> out;
  for (const auto& [id, w] : workers_) {
    if (w->is_run != runs) continue;
    out.push_back(IdEntry{id, w->spec.name, !is_terminal(w->state)});
  }
  return out;
}

std::optional<bool> Supervisor::names_run(const std::string& id) const {
  const Worker* w = find(id);
  return w == nullptr ? std::nullopt : std::optional<bool>(w->is_run);
}

std::optional<WorkerSnapshot> Supervisor::get(const std::string& id) const {
  const Worker* w = find(id);
  if (w == nullptr) return std::nullopt;
  return snapshot(*w);
}

std::optional<WorkerSnapshot> Supervisor::get_record(const std::string& id) const {
  const Worker* w = find(id);
  if (w == nullptr) return std::nullopt;
  return snapshot(*w, /*with_usage=*/false);
}

std::vector<const Supervisor::Worker*> Supervisor::listed(
    std::optional<State> state,
    const std::optional<std::pair<std::string, std::string>>& label) const {
  std::vector<const Worker*> ws;
  ws.reserve(workers_.size());
  for (const auto& [id, w] : workers_) {
    if (w->is_run) continue;
    if (state && w->state != *state) continue;
    if (label) {
      auto it = w->spec.labels.find(label->first);
      if (it == w->spec.labels.end() || it->second != label->second) continue;
    }
    ws.push_back(w.get());
  }
  std::sort(ws.begin(), ws.end(), [](const Worker* a, const Worker* b) {
    return a->created_at != b->created_at ? a->created_at < b->created_at : a->id < b->id;
  });
  return ws;
}

std::vector<WorkerSnapshot> Supervisor::list(
    std::optional<State> state, std::optional<std::pair<std::string, std::string>> label) const {
  const auto ws = listed(state, label);
  std::vector<WorkerSnapshot> out;
  out.reserve(ws.size());
  for (const Worker* w : ws) out.push_back(snapshot(*w));
  return out;
}

std::vector<ListedWorker> Supervisor::list_versions(
    std::optional<State> state, std::optional<std::pair<std::string, std::string>> label) const {
  const auto ws = listed(state, label);
  std::vector<ListedWorker> out;
  out.reserve(ws.size());
  for (const Worker* w : ws) {
    if (w->version == 0 || !still_shows(w->shown, *w)) {
      w->shown = shown_key(*w);
      w->version = ++versions_;
    }
    ListedWorker l;
    l.id = w->id;
    l.serial = w->serial;
    l.version = w->version;
    if (w->proc && w->cgroup) l.usage = ops_.usage(*w->proc);
    out.push_back(std::move(l));
  }
  return out;
}

// Every field filled here from state that changes after create must be in ShownKey.
WorkerSnapshot Supervisor::snapshot(const Worker& w, bool with_usage) const {
  WorkerSnapshot s;
  s.id = w.id;
  s.kind = w.is_run ? "run" : "worker";
  s.name = w.spec.name;
  s.bundle = w.spec.bundle;
  s.state = w.state;
  s.reason = w.reason;
  s.uid = w.uid;  // while live the UID it holds; afterwards the UID it ran under
  s.pid = w.workload_pid;
  s.port = w.port;
  s.profile = w.spec.profile;
  s.command = w.spec.command.empty() ? w.profile.command : w.spec.command;
  s.created_at = w.created_at;
  s.started_at = w.started_at;
  s.exited_at = w.exited_at;
  s.exit_code = w.exit_code;
  s.signal = w.signal;
  s.restarts = w.restarts.restarts();
  s.labels = w.spec.labels;
  s.limits = w.limits;
  s.restart = w.spec.restart;
  s.network = w.spec.network.value_or(sandbox::NetworkMode::Private);
  s.dropped_log_bytes = dropped_log_bytes(w);
  s.enforcement = enforcement(w);
  if (with_usage && w.proc && w.cgroup) s.usage = ops_.usage(*w.proc);
  return s;
}

void Supervisor::trim_rings() {
  const std::size_t cap = cfg_.log.max_ring_bytes_total;
  if (cap == 0 || log_budget_.bytes <= cap) return;
  // Down to 7/8 of the cap at once, so the next trim waits for that much new output.
  const std::size_t need = log_budget_.bytes - (cap - cap / 8);
  std::vector<std::size_t> sizes;
  sizes.reserve(workers_.size());
  for (const auto& [id, w] : workers_) sizes.push_back(w->ring.bytes());
  const std::size_t level = trim_level(std::move(sizes), need);
  std::uint64_t dropped = 0;
  for (auto& [id, w] : workers_) {
    if (w->ring.bytes() <= level) continue;
    const auto before = w->ring.dropped_bytes();
    w->ring.evict_to(level);
    dropped += w->ring.dropped_bytes() - before;
  }
  counters_.dropped_log_bytes += dropped;
}

const LogStore* Supervisor::logs(const std::string& id) const {
  const Worker* w = find(id);
  return w == nullptr ? nullptr : &w->ring;
}

std::uint64_t Supervisor::subscribe_logs(const std::string& id,
                                         std::function<void(const LogLine&)> on_line,
                                         std::function<void()> on_end) {
  Worker* w = find(id);
  if (w == nullptr) return 0;
  if (is_terminal(w->state)) {
    if (on_end) on_end();
    return 0;
  }
  const auto token = w->next_follower++;
  w->followers.emplace(token, std::make_pair(std::move(on_line), std::move(on_end)));
  return token;
}

void Supervisor::unsubscribe_logs(const std::string& id, std::uint64_t token) {
  if (Worker* w = find(id)) w->followers.erase(token);
}

void Supervisor::forget_old() {
  while (finished_order_.size() > options_.keep_finished) {
    const std::string id = std::move(finished_order_.front());
    finished_order_.pop_front();
    auto it = workers_.find(id);
    if (it != workers_.end() && is_terminal(it->second->state)) workers_.erase(it);
  }
}

void Supervisor::shutdown(std::chrono::milliseconds deadline, std::function<void()> done) {
  shutting_down_ = true;
  shutdown_done_ = std::move(done);
  std::vector<std::string> ids;
  for (const auto& [id, w] : workers_) {
    if (!is_terminal(w->state)) ids.push_back(id);
  }
  const auto grace = std::chrono::duration_cast<std::chrono::seconds>(deadline);
  for (const auto& id : ids)
    (void)stop(id, std::max(grace, std::chrono::seconds(0)), "daemon shutting down");
  if (live_count() > 0) {
    shutdown_timer_ = sched_.after(deadline + std::chrono::milliseconds(500), [this] {
      shutdown_timer_ = 0;
      for (auto& [id, w] : workers_) {
        if (w->proc) ops_.kill_tree(*w->proc);
      }
    });
  }
  check_shutdown_done();
}

void Supervisor::check_shutdown_done() {
  if (!shutting_down_ || !shutdown_done_ || live_count() > 0) return;
  if (shutdown_timer_ != 0) sched_.cancel(shutdown_timer_);
  shutdown_timer_ = 0;
  auto done = std::move(shutdown_done_);
  shutdown_done_ = nullptr;
  done();
}

SupervisorStats Supervisor::stats() const {
  SupervisorStats s = counters_;
  for (const auto& [id, w] : workers_) ++s.by_state[w->state];
  s.live = live_count();
  s.free_uids = uids_.capacity() - uids_.leased() - uids_.draining();
  const std::size_t port_capacity =
      cfg_.process.port_range_end >= cfg_.process.port_range_start
          ? cfg_.process.port_range_end - cfg_.process.port_range_start + 1
          : 0;
  s.free_ports = port_capacity - std::min(port_capacity, ports_.leased());
  return s;
}

}  // namespace paddock::supervisor
