#include "paddock/supervisor/asio_process_ops.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <csignal>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include "paddock/log/log.hpp"
#include "paddock/net/port_bridge.hpp"
#include "paddock/net/relay.hpp"
#include "paddock/spawn/net_helper.hpp"
#include "paddock/spawn/reaper.hpp"
#include "paddock/spawn/spawn.hpp"
#include "paddock/spawn/status.hpp"

namespace paddock::supervisor {

namespace asio = boost::asio;
using asio::posix::stream_descriptor;

namespace {

int pidfd_open_(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int pidfd_send_signal_(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

}  // namespace

/// How old the cgroup usage in a worker object or on /metrics may be.
constexpr auto kUsageMaxAge = std::chrono::seconds(1);

/// Processes a worker with a network namespace of its own runs beside its sandbox: slirp4netns
/// and the port relay.
constexpr std::uint32_t kNetHelpers = 2;

/// Bytes read from a worker's stdout or stderr per read.
constexpr std::size_t kReadBufferBytes = 16 * 1024;

struct AsioProcessOps::Proc {
  ProcId id = 0;
  // The cgroup counters last read (four small files); worker lists and metric scrapes reuse
  // them for kUsageMaxAge instead of reading every leaf on every request.
  std::optional<cgroup::Usage> usage_cache;
  std::chrono::steady_clock::time_point usage_read_at;
  cgroup::Usage cached_usage(const cgroup::Manager& cgroups) {
    const auto now = std::chrono::steady_clock::now();
    if (!usage_cache || now - usage_read_at >= kUsageMaxAge) {
      usage_cache = cgroups.usage(worker_id);
      usage_read_at = now;
    }
    return *usage_cache;
  }
  ProcessSink* sink = nullptr;
  pid_t pid = -1;
  std::string worker_id;
  uid_t uid = 0;
  std::unique_ptr<stream_descriptor> pidfd;
  std::unique_ptr<stream_descriptor> out;
  std::unique_ptr<stream_descriptor> err;
  std::unique_ptr<stream_descriptor> status;
  std::unique_ptr<stream_descriptor> in;
  std::string stdin_data;
  spawn::StatusParser parser;
  std::optional<pid_t> init_pid;
  std::optional<pid_t> workload_pid;
  util::UniqueFd workload_pidfd;
  std::vector<int> pending_signals;
  asio::steady_timer find_timer;
  asio::steady_timer drain_timer;
  std::chrono::milliseconds find_delay{1};
  std::optional<int> status_exit_code;
  std::optional<cgroup::Controllers> cgroup;  // set when placed in <workers>/<worker_id>
  std::optional<std::uint16_t> port;
  // network "private"/"none": the port is served by the daemon once the netns exists.
  util::UniqueFd bridge_listener;
  std::unique_ptr<net::PortBridge> bridge;
  bool relay_to_sink = false;  // handover: the caller bridges the port with the relay's socket
  sandbox::NetworkMode network = sandbox::NetworkMode::Private;
  std::string slirp4netns_path;
  gid_t gid = 0;
  util::UniqueFd cgroup_dir;  // the leaf, where the network helpers are started too
  std::vector<std::unique_ptr<stream_descriptor>> helpers;  // pidfds of the network helpers
  std::unique_ptr<stream_descriptor> net_ready;             // slirp4netns --ready-fd
  std::unique_ptr<stream_descriptor> net_stderr;            // slirp4netns's stderr
  std::string net_stderr_text;
  bool net_up = false;
  std::array<char, 256> buf_net;
  bool reaped = false;
  /// The end came from the warm helper's report: bwrap and the sandbox are still running.
  bool ended_by_report = false;
  bool out_eof = false;
  bool err_eof = false;
  bool reported = false;
  ExitStatus exit;
  // Read buffers, left uninitialised on purpose: they are only read up to the byte count of a
  // completed read, and pages never written are never resident, so a quiet worker costs the
  // daemon next to nothing. 16 KiB per stream keeps a busy one at 32 KiB.
  std::array<char, kReadBufferBytes> buf_out;
  std::array<char, kReadBufferBytes> buf_err;
  std::array<char, 512> buf_status;
  explicit Proc(asio::io_context& ioc) : find_timer(ioc), drain_timer(ioc) {}
};

struct AsioProcessOps::Impl : std::enable_shared_from_this<Impl> {
  asio::io_context& ioc;
  std::string bpf;
  std::map<ProcId, std::shared_ptr<Proc>> procs;
  ProcId next = 1;
  std::shared_ptr<cgroup::Manager> cgroups;
  std::uint64_t oom_kills_closed = 0;  // from leaves already removed
  std::map<std::uint16_t, ProcId> bridged_ports;

  Impl(asio::io_context& i, std::string b) : ioc(i), bpf(std::move(b)) {}

  std::shared_ptr<Proc> get(ProcId id) {
    auto it = procs.find(id);
    return it == procs.end() ? nullptr : it->second;
  }

  void read_stream(const std::shared_ptr<Proc>& p, Stream which) {
    auto& sd = which == Stream::Stdout ? p->out : p->err;
    auto& buf = which == Stream::Stdout ? p->buf_out : p->buf_err;
    if (!sd) return;
    std::weak_ptr<Impl> self = shared_from_this();
    sd->async_read_some(asio::buffer(buf),
                        [self, p, which](boost::system::error_code ec, std::size_t n) {
                          auto impl = self.lock();
                          if (!impl || p->reported) return;
                          if (n > 0) {
                            auto& b = which == Stream::Stdout ? p->buf_out : p->buf_err;
                            p->sink->on_output(p->id, which, std::string_view(b.data(), n));
                          }
                          if (ec) {
                            (which == Stream::Stdout ? p->out_eof : p->err_eof) = true;
                            impl->maybe_report(p);
                            return;
                          }
                          impl->read_stream(p, which);
                        });
  }

  void read_status(const std::shared_ptr<Proc>& p) {
    if (!p->status) return;
    std::weak_ptr<Impl> self = shared_from_this();
    p->status->async_read_some(
        asio::buffer(p->buf_status), [self, p](boost::system::error_code ec, std::size_t n) {
          auto impl = self.lock();
          if (!impl || p->reported) return;
          if (n > 0) {
            auto events = p->parser.feed(std::string_view(p->buf_status.data(), n));
            if (events) {
              for (const auto& ev : *events) {
                if (ev.child_pid && !p->init_pid) {
                  p->init_pid = ev.child_pid;
                  impl->find_workload(p);
                }
                if (ev.exit_code) p->status_exit_code = ev.exit_code;
              }
            } else {
              log::warn("unreadable bwrap status stream",
                        {{"worker_id", p->worker_id}, {"error", events.error().message}});
            }
          }
          if (ec) return;
          impl->read_status(p);
        });
  }

  void find_workload(const std::shared_ptr<Proc>& p) {
    if (p->reported || p->reaped || !p->init_pid) return;
    auto found = spawn::find_workload_pid(*p->init_pid, std::chrono::milliseconds(0));
    if (found) {
      p->workload_pid = *found;
      p->workload_pidfd.reset(pidfd_open_(*found));
      for (int sig : p->pending_signals) deliver(p, sig);
      p->pending_signals.clear();
      start_network(p, *found);
      p->sink->on_started(p->id, *found);
      return;
    }
    if (found.error().code != "timeout") {
      log::debug("workload not found",
                 {{"worker_id", p->worker_id}, {"error", found.error().message}});
      return;
    }
    std::weak_ptr<Impl> self = shared_from_this();
    p->find_timer.expires_after(p->find_delay);
    p->find_delay = std::min(p->find_delay * 2, std::chrono::milliseconds(50));
    p->find_timer.async_wait([self, p](boost::system::error_code ec) {
      auto impl = self.lock();
      if (!ec && impl) impl->find_workload(p);
    });
  }

  /// network "private": egress through slirp4netns; "private"/"none" with a port: the host's
  /// 127.0.0.1:port bridged into the namespace. Both helpers run as the worker, in its leaf.
  void start_network(const std::shared_ptr<Proc>& p, pid_t workload) {
    if (p->network == sandbox::NetworkMode::Private) start_slirp(p, workload);
    if (p->bridge_listener || p->relay_to_sink) start_bridge(p, workload);
  }

  /// Whether the workload has exited already (its pidfd no longer takes signal 0).
  static bool workload_gone(const std::shared_ptr<Proc>& p) {
    return p->workload_pidfd.valid() && pidfd_send_signal_(p->workload_pidfd.get(), 0) != 0 &&
           errno == ESRCH;
  }

  spawn::NetHelper helper_for(const std::shared_ptr<Proc>& p, pid_t workload) const {
    spawn::NetHelper h;
    h.uid = p->uid;
    h.gid = p->gid;
    h.target = workload;
    h.cgroup_fd = p->cgroup_dir ? p->cgroup_dir.get() : -1;
    return h;
  }

  /// Reaps a helper when it exits (the daemon's orphan reaper may get there first; then
  /// waitid fails with ECHILD, which is fine).
  void watch_helper(const std::shared_ptr<Proc>& p, util::UniqueFd pidfd) {
    auto sd = std::make_unique<stream_descriptor>(ioc, pidfd.release());
    stream_descriptor* raw = sd.get();
    p->helpers.push_back(std::move(sd));
    raw->async_wait(stream_descriptor::wait_read, [p, raw](boost::system::error_code ec) {
      if (ec) return;
      siginfo_t info{};
      (void)::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(raw->native_handle()), &info,
                     WEXITED | WNOHANG);
      for (auto it = p->helpers.begin(); it != p->helpers.end(); ++it) {
        if (it->get() == raw) {
          p->helpers.erase(it);
          break;
        }
      }
    });
  }

  void start_slirp(const std::shared_ptr<Proc>& p, pid_t workload) {
    const auto fields = [&](log::Fields extra) {
      return log::worker_fields(p->worker_id, static_cast<long>(p->uid), workload,
                                std::move(extra));
    };
    int ready[2];
    int err[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) {
      log::error("cannot start the worker's network", fields({{"error", "pipe2 failed"}}));
      return;
    }
    util::UniqueFd ready_r(ready[0]);
    util::UniqueFd ready_w(ready[1]);
    if (::pipe2(err, O_CLOEXEC) != 0) {
      log::error("cannot start the worker's network", fields({{"error", "pipe2 failed"}}));
      return;
    }
    util::UniqueFd err_r(err[0]);
    util::UniqueFd err_w(err[1]);
    auto h = helper_for(p, workload);
    h.path = p->slirp4netns_path;
    h.argv = net::slirp4netns_argv(p->slirp4netns_path);
    h.ready_fd = std::move(ready_w);
    h.stderr_fd = std::move(err_w);
    auto started = spawn::spawn_net_helper(std::move(h));
    if (!started) {
      if (workload_gone(p)) return;  // a short run that has already ended needs no network
      log::error("cannot start the worker's network (slirp4netns); it has no egress",
                 fields({{"error", started.error().message}}));
      return;
    }
    watch_helper(p, std::move(started->pidfd));
    p->net_ready = std::make_unique<stream_descriptor>(ioc, ready_r.release());
    p->net_stderr = std::make_unique<stream_descriptor>(ioc, err_r.release());
    p->net_ready->async_read_some(
        asio::buffer(p->buf_net.data(), 1), [p](boost::system::error_code ec, std::size_t n) {
          if (ec || n == 0 || p->reported) return;
          p->net_up = true;
          log::debug("worker network up (slirp4netns)",
                     log::worker_fields(p->worker_id, static_cast<long>(p->uid), -1, {}));
        });
    read_slirp_stderr(p);
  }

  /// Keeps the first 4 KiB slirp4netns writes; when it ends while the worker still runs, says
  /// why in the log.
  void read_slirp_stderr(const std::shared_ptr<Proc>& p) {
    p->net_stderr->async_read_some(
        asio::buffer(p->buf_net.data() + 1, p->buf_net.size() - 1),
        [self = weak_from_this(), p](boost::system::error_code ec, std::size_t n) {
          auto impl = self.lock();
          if (!impl) return;
          if (n > 0 && p->net_stderr_text.size() < 4096) {
            p->net_stderr_text.append(p->buf_net.data() + 1, n);
          }
          if (!ec) {
            impl->read_slirp_stderr(p);
            return;
          }
          if (p->reported) return;
          const auto why = net::explain_slirp4netns_failure(p->net_stderr_text);
          log::error(
              p->net_up ? "slirp4netns exited; the worker has lost its egress"
                        : "slirp4netns failed; the worker has no egress",
              log::worker_fields(p->worker_id, static_cast<long>(p->uid), -1, {{"error", why}}));
        });
  }

  /// Serves the host's 127.0.0.1:port from inside the workload's network namespace, with
  /// sockets made there by a relay that runs as the worker.
  void start_bridge(const std::shared_ptr<Proc>& p, pid_t workload) {
    auto pair = net::relay_pair();
    if (!pair) {
      log::error("cannot bridge the worker's port",
                 log::worker_fields(p->worker_id, static_cast<long>(p->uid), workload,
                                    {{"error", pair.error().message}}));
      return;
    }
    auto h = helper_for(p, workload);
    h.relay = std::move(pair->second);
    auto started = spawn::spawn_net_helper(std::move(h));
    if (!started) {
      if (workload_gone(p)) return;
      log::error("cannot bridge the worker's port: its socket relay did not start",
                 log::worker_fields(p->worker_id, static_cast<long>(p->uid), workload,
                                    {{"error", started.error().message}}));
      return;
    }
    watch_helper(p, std::move(started->pidfd));
    if (p->relay_to_sink) {
      p->sink->on_relay(p->id, std::move(pair->first));
      return;
    }
    auto ctl = std::make_shared<util::UniqueFd>(std::move(pair->first));
    p->bridge = net::PortBridge::start(
        ioc, std::move(p->bridge_listener), [ctl] { return net::relay_socket(ctl->get()); },
        *p->port, p->worker_id, static_cast<long>(p->uid));
  }

  /// Removes a tree's cgroup leaf, retrying while the kernel still counts processes in it.
  void remove_leaf(const std::string& worker_id, int attempt) {
    if (!cgroups) return;
    for (const auto& [id, other] : procs) {
      if (other->worker_id == worker_id && other->cgroup) return;  // relaunched into it
    }
    auto r = cgroups->remove_leaf(worker_id);
    if (r) return;
    if (r.error().code != "busy" || attempt >= 8) {
      log::warn("cannot remove a worker's cgroup",
                log::worker_fields(worker_id, -1, -1, {{"error", r.error().message}}));
      return;
    }
    if (cgroups->has_kill()) (void)cgroups->kill(worker_id);
    auto timer =
        std::make_shared<asio::steady_timer>(ioc, std::chrono::milliseconds(10 << attempt));
    std::weak_ptr<Impl> self = shared_from_this();
    timer->async_wait([self, timer, worker_id, attempt](boost::system::error_code ec) {
      if (auto impl = self.lock(); impl && !ec) impl->remove_leaf(worker_id, attempt + 1);
    });
  }

  void deliver(const std::shared_ptr<Proc>& p, int sig) {
    if (p->workload_pidfd.valid()) {
      if (pidfd_send_signal_(p->workload_pidfd.get(), sig) != 0 && errno != ESRCH) {
        log::warn("pidfd_send_signal to the workload failed",
                  log::worker_fields(p->worker_id, static_cast<long>(p->uid), p->pid,
                                     {{"signal", sig}, {"errno", errno}}));
      }
    }
  }

  void wait_exit(const std::shared_ptr<Proc>& p) {
    std::weak_ptr<Impl> self = shared_from_this();
    p->pidfd->async_wait(stream_descriptor::wait_read, [self, p](boost::system::error_code ec) {
      auto impl = self.lock();
      if (!impl || ec) return;
      siginfo_t info{};
      if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(p->pidfd->native_handle()),
                   &info, WEXITED | WNOHANG) != 0 ||
          info.si_pid == 0) {
        impl->wait_exit(p);  // spurious wakeup
        return;
      }
      p->reaped = true;
      p->find_timer.cancel();
      if (info.si_code == CLD_EXITED) {
        p->exit = ExitStatus{info.si_status, 0};
      } else {
        p->exit = ExitStatus{-1, info.si_status};
      }
      // The sandbox's PID namespace dies with bwrap, so the pipes close right after; wait
      // for their EOF (bounded) so no output is lost.
      p->drain_timer.expires_after(std::chrono::seconds(2));
      p->drain_timer.async_wait([self, p](boost::system::error_code tec) {
        auto i2 = self.lock();
        if (tec || !i2) return;
        p->out_eof = p->err_eof = true;
        i2->maybe_report(p);
      });
      impl->maybe_report(p);
    });
  }

  /// Kills every process of the worker's UID (the UID is the worker's alone).
  static void kill_left(const std::shared_ptr<Proc>& p) {
    if (auto r = spawn::kill_uid(p->uid); !r) {
      log::warn("could not kill what is left of a worker",
                log::worker_fields(p->worker_id, static_cast<long>(p->uid), p->pid,
                                   {{"error", r.error().message}}));
    }
  }

  /// Whether a warm tree's leaf holds nothing but bwrap, the sandbox's init and the helper
  /// (which, having reported, waits for the kill): none of them forks or touches the run's
  /// files any more. A process the command left behind, a network helper, or no leaf to look
  /// in: false.
  bool only_sandbox_left(const std::shared_ptr<Proc>& p) const {
    if (!p->cgroup || !cgroups || !p->init_pid || !p->workload_pid) return false;
    auto pids = cgroups->procs(p->worker_id);
    if (!pids) return false;
    return std::all_of(pids->begin(), pids->end(), [&p](pid_t q) {
      return q == p->pid || q == *p->init_pid || q == *p->workload_pid;
    });
  }

  /// SIGKILL to every process in the tree's leaf (cgroup.kill); false where that cannot be done.
  bool kill_leaf(const std::shared_ptr<Proc>& p) const {
    return p->cgroup && cgroups && cgroups->has_kill() && cgroups->kill(p->worker_id).ok();
  }

  void maybe_report(const std::shared_ptr<Proc>& p) {
    if (p->reported || !p->reaped || !p->out_eof || !p->err_eof) return;
    p->reported = true;
    // A warm sandbox is still running when its command's end is reported, and the spawner
    // removes the run's data directory as the end is told: no process of the run may be left
    // to touch it then. When the leaf holds only the sandbox's own processes, all waiting, the
    // kill comes after the report, as for a cold tree (a killed sandbox tears down on the CPUs
    // the end is told on: 1-3 ms here). Else every process in the leaf gets SIGKILL first
    // (cgroup.kill, one write), or, without it, everything under the UID.
    bool uid_killed = false;
    if (p->ended_by_report && !only_sandbox_left(p) && !kill_leaf(p)) {
      kill_left(p);
      uid_killed = true;
    }
    // The network helpers are killed with the rest of the UID. They are not waited for
    // here: a slirp4netns closing its tap device takes 10-15 ms to die (the kernel's network
    // teardown), which would hold up this loop and the worker's end. The orphan reaper (SIGCHLD)
    // reaps them; the UID drains until no process has it, and a restart's create_leaf waits
    // (bounded) for the old leaf to empty before it makes a new one.
    p->helpers.clear();
    p->drain_timer.cancel();
    p->find_timer.cancel();
    boost::system::error_code ec;
    for (auto* sd :
         {&p->out, &p->err, &p->status, &p->in, &p->pidfd, &p->net_ready, &p->net_stderr}) {
      if (*sd) (*sd)->close(ec);
    }
    if (p->bridge) {
      p->bridge->close();
      p->bridge.reset();
    }
    if (p->port) {
      auto it = bridged_ports.find(*p->port);
      if (it != bridged_ports.end() && it->second == p->id) bridged_ports.erase(it);
    }
    procs.erase(p->id);
    // The end is told first (the UID stays the worker's until it is given back, and then drains
    // until no process has it), then whatever is left is killed in the same turn of the loop:
    // bwrap is gone and its PID namespace with it, and nothing of this worker may outlive it (a
    // sandbox init that bwrap left behind while it was still starting, the network helpers).
    // The leaf's counters and its removal (which waits for the killed processes to leave it)
    // are bookkeeping that nobody waits for.
    p->sink->on_exited(p->id, p->exit);
    if (!uid_killed) kill_left(p);
    if (p->cgroup && cgroups) {
      oom_kills_closed += cgroups->oom_kills(p->worker_id).value_or(0);
      remove_leaf(p->worker_id, 0);
    }
  }
};

AsioProcessOps::AsioProcessOps(asio::io_context& ioc, std::string seccomp_bpf)
    : impl_(std::make_shared<Impl>(ioc, std::move(seccomp_bpf))) {}

AsioProcessOps::~AsioProcessOps() {
  // Anything still running dies with the daemon (PDEATHSIG, --die-with-parent).
  for (auto& [id, p] : impl_->procs) {
    if (p->pidfd) pidfd_send_signal_(p->pidfd->native_handle(), SIGKILL);
  }
}

void AsioProcessOps::set_seccomp(std::string bpf) { impl_->bpf = std::move(bpf); }

std::size_t AsioProcessOps::active() const { return impl_->procs.size(); }

bool AsioProcessOps::manages(pid_t pid) const {
  for (const auto& [id, p] : impl_->procs) {
    if (p->pid == pid && !p->reaped) return true;
  }
  return false;
}

Result<std::pair<ProcId, pid_t>> AsioProcessOps::launch(LaunchRequest request, ProcessSink& sink) {
  if (request.run_workdir) {
    const auto& p = request.plan;
    if (p.data_dir.empty())
      return make_error("internal", "a run's working directory is not planned");
    if (auto r = runfiles::write_inputs(p.data_dir, request.files, p.uid, p.gid, request.file_caps);
        !r) {
      return r.error();
    }
  }
  if (auto r = spawn::prepare_data_dir(request.plan); !r) return r.error();
  const auto& plan = request.plan;
  spawn::SpawnInputs inputs;
  inputs.seccomp_bpf = impl_->bpf;
  inputs.stdin_pipe = request.stdin_data.has_value();
  // network "private"/"none": the workload binds the port in its own namespace; the daemon
  // keeps the host's side and bridges it.
  util::UniqueFd bridge_listener;
  const bool relay_to_sink =
      request.handover != nullptr && plan.network != sandbox::NetworkMode::Host && plan.port;
  if (relay_to_sink) {
    request.port_listener.reset();  // the caller keeps the port's listener and bridges it
  } else if (plan.network != sandbox::NetworkMode::Host && plan.port && request.port_listener) {
    bridge_listener = std::move(request.port_listener);
  } else {
    inputs.port_listener = std::move(request.port_listener);
  }
  std::optional<cgroup::Leaf> leaf;
  if (impl_->cgroups) {
    // The network helpers (slirp4netns, the socket relay) live in the leaf too.
    auto leaf_limits = plan.limits;
    if (plan.network != sandbox::NetworkMode::Host) leaf_limits.pids += kNetHelpers;
    for (const auto& f : plan.fds) {
      if (f.role == sandbox::FdRole::WarmControl) leaf_limits.pids += 1;  // the warm helper
    }
    auto created = impl_->cgroups->create_leaf(plan.worker_id, leaf_limits);
    if (!created) {
      Error e = created.error();
      e.code = "spawn_failed";
      e.message = "cannot create the worker's cgroup: " + e.message;
      return e;
    }
    leaf = std::move(*created);
    inputs.cgroup_fd = leaf->dir.get();
  }
  auto spawned = spawn::spawn(plan, std::move(inputs));
  if (!spawned) {
    if (leaf) (void)impl_->cgroups->remove_leaf(plan.worker_id);
    return spawned.error();
  }

  auto p = std::make_shared<Proc>(impl_->ioc);
  p->id = impl_->next++;
  p->sink = &sink;
  p->pid = spawned->pid;
  p->worker_id = request.plan.worker_id;
  p->uid = request.plan.uid;
  p->port = plan.port;
  p->bridge_listener = std::move(bridge_listener);
  p->relay_to_sink = relay_to_sink;
  p->network = plan.network;
  p->slirp4netns_path = plan.slirp4netns_path;
  p->gid = plan.gid;
  if (leaf) p->cgroup_dir = std::move(leaf->dir);
  if (p->bridge_listener) impl_->bridged_ports[*p->port] = p->id;
  if (leaf) {
    p->cgroup = leaf->controllers;
    log::debug(
        "worker placed in its cgroup",
        log::worker_fields(p->worker_id, static_cast<long>(p->uid), p->pid,
                           {{"cgroup", leaf->path},
                            {"via", spawned->cgroup_placement == spawn::CgroupPlacement::Clone3
                                        ? "clone3"
                                        : "cgroup.procs"}}));
  }
  auto& ioc = impl_->ioc;
  p->pidfd = std::make_unique<stream_descriptor>(ioc, spawned->pidfd.release());
  if (spawned->status_fd)
    p->status = std::make_unique<stream_descriptor>(ioc, spawned->status_fd.release());
  impl_->procs.emplace(p->id, p);
  if (request.handover != nullptr) {
    request.handover->stdout_fd = std::move(spawned->stdout_fd);
    request.handover->stderr_fd = std::move(spawned->stderr_fd);
    request.handover->stdin_fd = std::move(spawned->stdin_fd);
    request.handover->control_fd = std::move(spawned->control_fd);
    p->out_eof = p->err_eof = true;  // the caller reads them
    impl_->read_status(p);
    impl_->wait_exit(p);
    return std::make_pair(p->id, p->pid);
  }
  p->out = std::make_unique<stream_descriptor>(ioc, spawned->stdout_fd.release());
  p->err = std::make_unique<stream_descriptor>(ioc, spawned->stderr_fd.release());

  if (spawned->stdin_fd) {
    p->in = std::make_unique<stream_descriptor>(ioc, spawned->stdin_fd.release());
    p->stdin_data = std::move(*request.stdin_data);
    asio::async_write(
        *p->in, asio::buffer(p->stdin_data), [p](boost::system::error_code, std::size_t) {
          boost::system::error_code ec;
          if (p->in) p->in->close(ec);  // EOF for the workload (EPIPE when it never read is fine)
        });
  }
  impl_->read_stream(p, Stream::Stdout);
  impl_->read_stream(p, Stream::Stderr);
  impl_->read_status(p);
  impl_->wait_exit(p);
  return std::make_pair(p->id, p->pid);
}

void AsioProcessOps::signal_workload(ProcId proc, int sig) {
  auto p = impl_->get(proc);
  if (!p || p->reaped) return;
  if (!p->workload_pidfd.valid()) {
    p->pending_signals.push_back(sig);
    return;
  }
  impl_->deliver(p, sig);
}

void AsioProcessOps::end_reported(ProcId proc, ExitStatus status) {
  auto p = impl_->get(proc);
  if (!p || p->reaped) return;
  // bwrap is still running (and is killed with the rest of the UID in maybe_report); the orphan
  // reaper collects it once the tree is no longer managed here.
  p->reaped = true;
  p->ended_by_report = true;
  p->exit = status;
  p->find_timer.cancel();
  impl_->maybe_report(p);
}

void AsioProcessOps::kill_tree(ProcId proc) {
  auto p = impl_->get(proc);
  if (!p || p->reaped || !p->pidfd) return;
  if (p->cgroup && impl_->cgroups && impl_->cgroups->has_kill()) {
    // Every process in the leaf at once, whatever it forked or however it left the sandbox.
    auto killed = impl_->cgroups->kill(p->worker_id);
    if (killed) return;
    log::warn("cgroup.kill failed; killing bwrap instead",
              log::worker_fields(p->worker_id, static_cast<long>(p->uid), p->pid,
                                 {{"error", killed.error().message}}));
  }
  if (pidfd_send_signal_(p->pidfd->native_handle(), SIGKILL) != 0 && errno != ESRCH) {
    log::error(
        "pidfd_send_signal(SIGKILL) to bwrap failed",
        log::worker_fields(p->worker_id, static_cast<long>(p->uid), p->pid, {{"errno", errno}}));
  }
}

void AsioProcessOps::use_cgroups(std::shared_ptr<cgroup::Manager> cgroups) {
  impl_->cgroups = std::move(cgroups);
}

std::optional<cgroup::Controllers> AsioProcessOps::cgroup_of(ProcId proc) const {
  auto p = impl_->get(proc);
  return p ? p->cgroup : std::nullopt;
}

std::optional<cgroup::Usage> AsioProcessOps::usage(ProcId proc) const {
  auto p = impl_->get(proc);
  if (!p || !p->cgroup || !impl_->cgroups || p->reported) return std::nullopt;
  return p->cached_usage(*impl_->cgroups);
}

std::string AsioProcessOps::cgroup_path(ProcId proc) const {
  auto p = impl_->get(proc);
  if (!p || !p->cgroup || !impl_->cgroups) return "";
  return impl_->cgroups->leaf_path(p->worker_id);
}

AsioProcessOps::CgroupCounters AsioProcessOps::cgroup_counters() const {
  CgroupCounters c;
  c.oom_kills = impl_->oom_kills_closed;
  if (!impl_->cgroups) return c;
  for (const auto& [id, p] : impl_->procs) {
    if (!p->cgroup) continue;
    ++c.leaves;
    c.oom_kills += p->cached_usage(*impl_->cgroups).oom_kills.value_or(0);
  }
  return c;
}

void AsioProcessOps::probe_port(std::uint16_t port, std::function<void(bool)> done) {
  if (auto it = impl_->bridged_ports.find(port); it != impl_->bridged_ports.end()) {
    // network "none": only a connect inside the worker's namespace tells (the host's side of
    // the port is the daemon's own listener, which accepts into its backlog regardless).
    auto p = impl_->get(it->second);
    if (p && p->bridge) {
      p->bridge->probe(std::move(done));
    } else {
      asio::post(impl_->ioc, [done = std::move(done)] { done(false); });
    }
    return;
  }
  probe_tcp_port(impl_->ioc, port, std::move(done));
}

void probe_tcp_port(asio::io_context& ioc, std::uint16_t port, std::function<void(bool)> done) {
  auto sock = std::make_shared<asio::ip::tcp::socket>(ioc);
  auto timer = std::make_shared<asio::steady_timer>(ioc, std::chrono::seconds(1));
  auto finished = std::make_shared<bool>(false);
  auto cb = std::make_shared<std::function<void(bool)>>(std::move(done));
  timer->async_wait([sock, finished](boost::system::error_code ec) {
    if (!ec && !*finished) {
      boost::system::error_code ignored;
      sock->close(ignored);
    }
  });
  sock->async_connect(asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), port),
                      [sock, timer, finished, cb](boost::system::error_code ec) {
                        *finished = true;
                        timer->cancel();
                        boost::system::error_code ignored;
                        sock->close(ignored);
                        (*cb)(!ec);
                      });
}

bool tcp_table_has_established(const std::string& table_text, std::uint16_t port) {
  std::istringstream in(table_text);
  std::string line;
  std::getline(in, line);  // header
  char want[8];
  std::snprintf(want, sizeof want, ":%04X", port);
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    if (!(fields >> slot >> local >> remote >> state)) continue;
    if (state == "01" && local.size() >= 5 && local.compare(local.size() - 5, 5, want) == 0)
      return true;
  }
  return false;
}

bool AsioProcessOps::port_has_connections(std::uint16_t port) {
  return loopback_port_has_connections(port);
}

bool loopback_port_has_connections(std::uint16_t port) {
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    if (tcp_table_has_established(util::read_small_file(path), port)) return true;
  }
  return false;
}

void AsioProcessOps::remove_data_dir(const std::string& path) {
  if (auto r = spawn::remove_data_dir(path); !r) {
    log::warn("cannot remove a worker's data directory",
              {{"path", path}, {"error", r.error().message}});
  }
}

}  // namespace paddock::supervisor
