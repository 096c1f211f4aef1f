#pragma once
/// ProcessOps: the supervisor's only way to touch processes. The real implementation spawns
/// bwrap through the spawn module and watches its descriptors on the io_context; unit tests use
/// a fake that records calls and delivers events by hand.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "paddock/cgroup/files.hpp"
#include "paddock/runfiles/runfiles.hpp"
#include "paddock/sandbox/plan.hpp"
#include "paddock/supervisor/log_ring.hpp"
#include "paddock/util/fd.hpp"
#include "paddock/util/result.hpp"

namespace paddock::supervisor {

/// Identifies one launched process tree (a worker has a new one per restart).
using ProcId = std::uint64_t;

/// How a process tree ended.
struct ExitStatus {
  int exit_code = -1;  ///< the workload's exit code as bwrap reports it; -1 when killed
  int signal = 0;      ///< the signal that ended it, 0 when it exited
  /// The process layer has removed the tree's data directory already
  /// (LaunchRequest::remove_data_at_end); the supervisor need not ask for it.
  bool data_removed = false;
};

/// What the supervisor hears back about a launched process tree.
class ProcessSink {
 public:
  virtual ~ProcessSink() = default;
  /// The workload inside the sandbox exists (its host pid is known).
  virtual void on_started(ProcId proc, pid_t workload_pid) = 0;
  virtual void on_output(ProcId proc, Stream stream, std::string_view bytes) = 0;
  /// bwrap was reaped and its output pipes are drained; nothing of this tree will be heard again.
  virtual void on_exited(ProcId proc, ExitStatus status) = 0;
  /// Only for launches that hand their output over (LaunchRequest::handover): the socket relay
  /// of a worker with its own network namespace and a port is up; `control` asks it for
  /// sockets made inside the namespace (net::relay_socket). The default closes it.
  virtual void on_relay(ProcId /*proc*/, util::UniqueFd /*control*/) {}
};

/// The descriptors a launch hands to its caller instead of reading them itself.
struct Handover {
  util::UniqueFd stdout_fd;
  util::UniqueFd stderr_fd;
  util::UniqueFd stdin_fd;    ///< empty unless stdin_data was set (the data itself is not written)
  util::UniqueFd control_fd;  ///< a warm sandbox's control socket (sandbox/warm.hpp)
};

struct LaunchRequest {
  /// The plan as the supervisor built it. A process layer in another process (the spawner)
  /// does not take it: it builds its own from `spec` and the worker id.
  sandbox::SandboxPlan plan;
  /// What the client asked for, with the profile and network filled in.
  sandbox::WorkerSpec spec;
  /// The port reservation to hand over (closed once the child exists); may be empty. For a
  /// plan with network "none" the process layer keeps it and serves the port itself, bridging
  /// each connection into the worker's network namespace.
  util::UniqueFd port_listener;
  /// Bytes written to the workload's stdin, which is then closed; nullopt: /dev/null.
  std::optional<std::string> stdin_data;
  /// Set: the output pipes and stdin go to *handover, nothing is read here, a bridged port is
  /// reported through ProcessSink::on_relay, and on_exited follows the reaping at once (the
  /// caller drains the pipes). The spawner launches this way for the daemon.
  Handover* handover = nullptr;
  /// A run with files or collect: plan.data_dir is its working directory (it must not exist
  /// yet), created by the process layer with `files` in it before the launch.
  bool run_workdir = false;
  /// A run that collects nothing: the process layer may remove data_root/<worker id> itself
  /// when the tree ends, before it reports the end (ExitStatus::data_removed says it did).
  bool remove_data_at_end = false;
  std::vector<runfiles::InputFile> files;
  runfiles::Caps file_caps;
};

/// What to collect from a run's working directory once every process of its UID is gone.
struct CollectRequest {
  std::string worker_id;
  std::string dir;  ///< data_root/<worker_id>
  uid_t uid = 0;    ///< the run's UID (still leased)
  gid_t gid = 0;
  std::vector<std::string> patterns;
  runfiles::Caps caps;
};

/// A run started in a sandbox parked ahead of it ([pool] warm).
struct WarmLaunch {
  std::string worker_id;  ///< the parked sandbox's id, the run's from now on
  uid_t uid = 0;          ///< its UID, leased to the run from now on
  ProcId proc = 0;
  pid_t pid = -1;  ///< bwrap's
};

class ProcessOps {
 public:
  virtual ~ProcessOps() = default;
  /// Starts the process tree; events arrive on `sink` later, on the io thread.
  /// Returns the id and bwrap's pid.
  virtual Result<std::pair<ProcId, pid_t>> launch(LaunchRequest request, ProcessSink& sink) = 0;
  /// Starts a run (`spec`, `stdin_data`, `files`; the plan is not used) in a sandbox parked
  /// ahead. Error code "no_warm_sandbox" when none fits: the caller starts it cold, with the
  /// request as it was (nothing of it is taken). Events arrive on `sink` as after launch().
  virtual Result<WarmLaunch> launch_warm(LaunchRequest& /*request*/, ProcessSink& /*sink*/) {
    return make_error("no_warm_sandbox", "this process layer parks no sandboxes");
  }
  /// Sends `sig` to the workload itself (bwrap does not forward signals); before its pid is
  /// known, remembers the signal and delivers it once it is.
  virtual void signal_workload(ProcId proc, int sig) = 0;
  /// Kills the whole tree at once (SIGKILL to bwrap: --die-with-parent and the PID namespace
  /// take everything inside with it).
  virtual void kill_tree(ProcId proc) = 0;
  /// Tries a TCP connect to 127.0.0.1:port and reports whether it succeeded.
  virtual void probe_port(std::uint16_t port, std::function<void(bool)> done) = 0;
  /// Whether any TCP connection to 127.0.0.1:port is established now (for idle timeouts).
  virtual bool port_has_connections(std::uint16_t port) = 0;
  /// The cgroup controllers limiting `proc`; nullopt when it was not placed in a cgroup (the
  /// default: no cgroups).
  virtual std::optional<cgroup::Controllers> cgroup_of(ProcId /*proc*/) const {
    return std::nullopt;
  }
  /// What `proc`'s cgroup reports now; nullopt when it has no cgroup or has exited.
  virtual std::optional<cgroup::Usage> usage(ProcId /*proc*/) const { return std::nullopt; }
  /// Deletes a worker's data directory (`data_root`/<id>) and everything in it, without
  /// following symlinks; called once, when the worker has finally ended (never on a restart).
  virtual void remove_data_dir(const std::string& path) = 0;
  /// Reads the files a run left in its working directory (runfiles::collect); `done` gets the
  /// entries, at once or later on the io thread. The default reads them in this process.
  virtual void collect(CollectRequest request,
                       std::function<void(std::vector<runfiles::Collected>)> done) {
    done(runfiles::collect(request.dir, request.patterns, request.uid, request.gid, request.caps));
  }
};

}  // namespace paddock::supervisor
