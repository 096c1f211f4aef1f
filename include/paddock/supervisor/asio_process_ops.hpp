#pragma once
/// The real ProcessOps: spawns bwrap through the spawn module and watches the pidfd, the output
/// pipes and bwrap's json-status stream on the io_context. Nothing here blocks the loop.

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "paddock/cgroup/manager.hpp"
#include "paddock/supervisor/process_ops.hpp"

namespace paddock::supervisor {

class AsioProcessOps final : public ProcessOps {
 public:
  /// `seccomp_bpf` is the compiled filter handed to every sandbox.
  AsioProcessOps(boost::asio::io_context& ioc, std::string seccomp_bpf);
  ~AsioProcessOps() override;

  Result<std::pair<ProcId, pid_t>> launch(LaunchRequest request, ProcessSink& sink) override;
  void signal_workload(ProcId proc, int sig) override;
  void kill_tree(ProcId proc) override;
  void probe_port(std::uint16_t port, std::function<void(bool)> done) override;
  bool port_has_connections(std::uint16_t port) override;

  /// The workload of `proc` has ended with `status`, as a warm sandbox's helper reported: the
  /// tree ends now (what is left of it is killed, as after bwrap's own exit) without waiting for
  /// bwrap to tear the sandbox down. Nothing when it has ended already.
  void end_reported(ProcId proc, ExitStatus status);

  /// Processes launched and not yet reported exited.
  std::size_t active() const;
  /// Whether `pid` is a bwrap this object waits for (orphan reaping must leave those alone).
  bool manages(pid_t pid) const;
  /// Replaces the seccomp filter for later launches (config reload).
  void set_seccomp(std::string bpf);

  /// Places every later launch in its own leaf <workers>/<worker id> of `cgroups` (created
  /// with the plan's limits before the child exists, removed after it exits) and stops trees
  /// with cgroup.kill where the kernel has it. nullptr: no cgroups (the default).
  void use_cgroups(std::shared_ptr<cgroup::Manager> cgroups);
  std::optional<cgroup::Controllers> cgroup_of(ProcId proc) const override;
  std::optional<cgroup::Usage> usage(ProcId proc) const override;
  /// The directory of `proc`'s cgroup leaf; empty when it has none.
  std::string cgroup_path(ProcId proc) const;
  void remove_data_dir(const std::string& path) override;

  /// Figures for /metrics.
  struct CgroupCounters {
    std::size_t leaves = 0;       ///< running trees placed in a cgroup leaf
    std::uint64_t oom_kills = 0;  ///< OOM kills counted in leaves since start
  };
  CgroupCounters cgroup_counters() const;

  struct Proc;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

/// Tries a TCP connect to 127.0.0.1:port (bounded by one second) and reports the outcome.
void probe_tcp_port(boost::asio::io_context& ioc, std::uint16_t port,
                    std::function<void(bool)> done);

/// Whether /proc/net/tcp or tcp6 has an ESTABLISHED socket with local port `port`.
bool loopback_port_has_connections(std::uint16_t port);

/// Parses /proc/net/tcp-format text: whether a socket with local port `port` is ESTABLISHED.
bool tcp_table_has_established(const std::string& table_text, std::uint16_t port);

}  // namespace paddock::supervisor
