#include "paddock/preflight/sandbox_probe.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>

#include "children.hpp"
#include "paddock/pool/process_table.hpp"
#include "paddock/pool/uid_pool.hpp"
#include "paddock/sandbox/paths.hpp"
#include "paddock/sandbox/plan.hpp"
#include "paddock/sandbox/profile.hpp"
#include "paddock/seccomp/bpf_file.hpp"
#include "paddock/spawn/spawn.hpp"
#include "paddock/spawn/status.hpp"
#include "paddock/util/fd.hpp"

#ifndef PADDOCK_LIBEXECDIR
#define PADDOCK_LIBEXECDIR "/usr/libexec/paddock"
#endif

namespace paddock::preflight {

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kHelperName = "paddock-probe";

int remaining_ms(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

void kill_worker(const spawn::Spawned& s) {
  ::syscall(SYS_pidfd_send_signal, s.pidfd.get(), SIGKILL, nullptr, 0);
}

/// Waits for bwrap to exit (killing it at the deadline) and returns its status.
int reap(const spawn::Spawned& s, Clock::time_point deadline, bool& timed_out) {
  for (;;) {
    pollfd p{s.pidfd.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      timed_out = true;
      kill_worker(s);
    }
    break;
  }
  siginfo_t info{};
  while (::waitid(P_PIDFD, static_cast<id_t>(s.pidfd.get()), &info, WEXITED) != 0) {
    if (errno != EINTR) return -1;
  }
  return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
}

/// Reads stdout and stderr until both close or the deadline passes; `stop` ends early when it
/// returns true for what has been read so far.
template <typename Stop>
bool read_outputs(spawn::Spawned& s, Clock::time_point deadline, std::string& out, std::string& err,
                  Stop stop) {
  bool out_open = s.stdout_fd.valid();
  bool err_open = s.stderr_fd.valid();
  char buf[4096];
  while ((out_open || err_open) && !stop(out)) {
    const int wait = remaining_ms(deadline);
    if (wait == 0) return false;
    pollfd p[2] = {{out_open ? s.stdout_fd.get() : -1, POLLIN, 0},
                   {err_open ? s.stderr_fd.get() : -1, POLLIN, 0}};
    const int n = ::poll(p, 2, wait);
    if (n < 0 && errno != EINTR) return false;
    if (n <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (p[i].revents == 0) continue;
      const ssize_t got = ::read(p[i].fd, buf, sizeof buf);
      if (got > 0) {
        std::string& dst = i == 0 ? out : err;
        if (dst.size() < 1024 * 1024) dst.append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        (i == 0 ? out_open : err_open) = false;
      }
    }
  }
  return true;
}

// /proc files of a process that exits fail with ESRCH mid-read: an empty answer, never a throw.
std::string read_small(const std::string& path) { return util::read_small_file(path); }

std::string status_field(const std::string& status, const std::string& key) {
  std::istringstream in(status);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) {
      auto v = line.substr(key.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return {};
}

/// A started probe worker and the UID it holds (released on destruction, after the worker is
/// reaped by its owner).
struct ProbeWorker {
  UidSource* uids = nullptr;
  uid_t uid = 0;
  spawn::Spawned proc;
  ProbeWorker() = default;
  ProbeWorker(const ProbeWorker&) = delete;
  ProbeWorker& operator=(const ProbeWorker&) = delete;
  ~ProbeWorker() {
    if (proc.pid > 0) detail::untrack_child(proc.pid);
    if (uids != nullptr && uids->release) uids->release(uid);
  }
};

std::atomic<unsigned> g_counter{0};

Result<void> start_worker(const config::Config& cfg, UidSource& uids, const std::string& purpose,
                          const std::vector<std::string>& args, bool stdin_pipe,
                          ProbeWorker& worker) {
  auto helper = locate_probe_helper(cfg);
  if (!helper) return helper.error();
  auto profile =
      sandbox::load_profile(cfg.process.sandbox_profiles_dir, cfg.process.default_profile);
  if (!profile) {
    return make_error(profile.error().code,
                      "cannot load the default sandbox profile: " + profile.error().message);
  }
  // The probe needs nothing of the host but the helper: no writable data directory. The helper
  // is copied in (the daemon reads it without following symlinks), so it runs wherever it is
  // installed, e.g. under a 0700 home directory or under /tmp, which the sandbox's own /tmp
  // would hide.
  if (!profile->data_mount.empty()) {
    // HOME or the working directory inside the data mount would not exist without it.
    if (sandbox::path_is_within(profile->home, profile->data_mount)) profile->home = "/tmp";
    if (sandbox::path_is_within(profile->workdir, profile->data_mount)) profile->workdir.clear();
  }
  profile->data_mount.clear();
  constexpr std::size_t kHelperLimit = 64U << 20U;
  auto program = util::read_file_no_symlinks(*helper, kHelperLimit);
  if (!program) {
    return make_error("probe_missing",
                      "cannot read the paddock-probe helper: " + program.error().message);
  }

  auto bpf_ok = seccomp::validate_bpf_file(cfg.process.seccomp_profile);
  if (!bpf_ok) return bpf_ok.error();
  const std::string bpf = read_small(cfg.process.seccomp_profile);

  if (!uids.acquire) return make_error("internal", "no UID source for probe workers");
  auto uid = uids.acquire();
  if (!uid)
    return make_error(uid.error().code, "no worker UID for the probe: " + uid.error().message);
  worker.uids = &uids;
  worker.uid = *uid;

  sandbox::WorkerSpec spec;
  spec.name = "preflight " + purpose;
  spec.command = {sandbox::kHelperProgramPath};
  spec.command.insert(spec.command.end(), args.begin(), args.end());
  sandbox::Allocation alloc;
  alloc.helper_program = std::move(*program);
  alloc.worker_id = "preflight-" + purpose + "-" + std::to_string(::getpid()) + "-" +
                    std::to_string(g_counter.fetch_add(1));
  alloc.uid = *uid;
  // Probes keep the host's network namespace whatever default_network says: worker_egress then
  // connects from where slirp4netns makes a "private" worker's connections (the host's
  // namespace, the worker's UID/GID), so the operator's owner rules match it the same way.
  spec.network = sandbox::NetworkMode::Host;
  config::Config probe_cfg = cfg;
  probe_cfg.process.allow_host_network = true;
  auto plan = sandbox::make_plan(spec, *profile, probe_cfg, alloc);
  if (!plan) return make_error(plan.error().code, "make_plan: " + plan.error().message);
  spawn::SpawnInputs in;
  in.seccomp_bpf = bpf;
  in.stdin_pipe = stdin_pipe;
  auto s = spawn::spawn(*plan, std::move(in));
  if (!s) return s.error();
  worker.proc = std::move(s.value());
  detail::track_child(worker.proc.pid);
  return {};
}

}  // namespace

UidSource make_local_uid_source(const config::Config& cfg) {
  struct Shared {
    explicit Shared(const config::Config& c)
        : pool(c.process.worker_uid_range_start, c.process.worker_uid_range_end, table) {}
    pool::ProcProcessTable table;
    pool::UidPool pool;
    std::mutex m;
    bool adopted = false;
  };
  auto shared = std::make_shared<Shared>(cfg);
  UidSource src;
  src.acquire = [shared]() -> Result<uid_t> {
    std::lock_guard lock(shared->m);
    if (!shared->adopted) {
      auto r = shared->pool.adopt_host_state();
      if (!r) return r.error();
      shared->adopted = true;
    }
    return shared->pool.acquire();
  };
  src.release = [shared](uid_t uid) {
    std::lock_guard lock(shared->m);
    shared->pool.release(uid);
  };
  return src;
}

Result<std::string> locate_libexec_helper(const std::string& configured, const std::string& name,
                                          const std::string& key) {
  std::vector<std::string> tried;
  auto usable = [&](const std::string& p) {
    tried.push_back(p);
    return ::access(p.c_str(), X_OK) == 0;
  };
  if (!configured.empty()) {
    if (usable(configured)) return configured;
    return make_error("probe_missing",
                      "[" + key.substr(0, key.find('.')) + "] " + key.substr(key.find('.') + 1) +
                          " " + configured + " is missing or not executable; point it at the " +
                          name + " helper (installed in " PADDOCK_LIBEXECDIR ") or leave it empty",
                      key);
  }
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    std::string self(exe, static_cast<std::size_t>(n));
    const auto slash = self.rfind('/');
    if (slash != std::string::npos) {
      const std::string next_to = self.substr(0, slash + 1) + name;
      if (usable(next_to)) return next_to;
    }
  }
  const std::string installed = std::string(PADDOCK_LIBEXECDIR) + "/" + name;
  if (usable(installed)) return installed;
  std::string list;
  for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t;
  return make_error("probe_missing", "the " + name + " helper was not found (tried " + list +
                                         "); install paddock completely or set [" +
                                         key.substr(0, key.find('.')) + "] " +
                                         key.substr(key.find('.') + 1));
}

Result<std::string> locate_probe_helper(const config::Config& cfg) {
  return locate_libexec_helper(cfg.preflight.probe_path, kHelperName, "preflight.probe_path");
}

SpawnProber::SpawnProber(config::Config cfg, UidSource uids)
    : cfg_(std::move(cfg)), uids_(std::move(uids)) {}

Result<ProbeRun> SpawnProber::run(const std::string& purpose, const std::vector<std::string>& args,
                                  std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  ProbeWorker w;
  auto started = start_worker(cfg_, uids_, purpose, args, false, w);
  if (!started) return started.error();
  ProbeRun run;
  run.uid = w.uid;
  read_outputs(w.proc, deadline, run.out, run.err, [](const std::string&) { return false; });
  run.exit_status = reap(w.proc, deadline, run.timed_out);
  return run;
}

Result<UidObservation> SpawnProber::observe_uid(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout).count() + 1;
  ProbeWorker w;
  auto started = start_worker(cfg_, uids_, "uidmap", {"wait", std::to_string(seconds)}, true, w);
  if (!started) return started.error();
  UidObservation obs;
  obs.allocated = w.uid;
  std::string out;
  std::string err;
  auto fail = [&](const std::string& what) -> Result<UidObservation> {
    kill_worker(w.proc);
    bool timed_out = false;
    reap(w.proc, Clock::now() + std::chrono::seconds(5), timed_out);
    std::string msg = what;
    if (!err.empty()) msg += "; bwrap said: " + err.substr(0, 500);
    return make_error("probe_failed", msg);
  };
  auto pid = spawn::read_workload_pid(
      w.proc.status_fd.get(), std::chrono::milliseconds(std::max(1, remaining_ms(deadline))));
  if (!pid) {
    read_outputs(w.proc, std::min(deadline, Clock::now() + std::chrono::seconds(1)), out, err,
                 [](const std::string&) { return false; });
    return fail("the probe worker did not start: " + pid.error().message);
  }
  obs.workload_pid = *pid;
  // The helper prints "wait ready" once it runs; the pid then is the helper itself.
  read_outputs(w.proc, deadline, out, err,
               [](const std::string& o) { return o.find("wait ready\n") != std::string::npos; });
  if (out.find("wait ready\n") == std::string::npos) {
    return fail("the probe helper did not report that it runs (output: '" + out + "')");
  }
  const std::string status = read_small("/proc/" + std::to_string(*pid) + "/status");
  obs.uid_line = status_field(status, "Uid");
  obs.gid_line = status_field(status, "Gid");
  w.proc.stdin_fd.reset();  // EOF on stdin ends the helper
  read_outputs(w.proc, deadline, out, err, [](const std::string&) { return false; });
  bool timed_out = false;
  reap(w.proc, deadline, timed_out);
  if (obs.uid_line.empty()) {
    return make_error("probe_failed",
                      "cannot read /proc/" + std::to_string(*pid) + "/status of the probe worker");
  }
  return obs;
}

std::vector<std::pair<std::string, std::string>> parse_probe_output(const std::string& out) {
  std::vector<std::pair<std::string, std::string>> v;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    const auto sp = line.find(' ');
    if (sp == std::string::npos || sp == 0) continue;
    v.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  return v;
}

}  // namespace paddock::preflight
