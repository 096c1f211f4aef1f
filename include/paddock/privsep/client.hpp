#pragma once
/// The daemon's side of the spawner protocol: a ProcessOps (and UID/port allocators) that asks
/// the spawner for everything privileged and does the rest itself. Output pipes and stdin come
/// back as descriptors and are read and written here; a port of a worker with its own network
/// namespace is bridged here with the relay socket the spawner hands over; readiness probes and
/// cgroup usage (world-readable files) are read here too. Nothing here needs a privilege.

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "paddock/net/port_bridge.hpp"
#include "paddock/pool/port_pool.hpp"
#include "paddock/pool/uid_pool.hpp"
#include "paddock/preflight/result.hpp"
#include "paddock/supervisor/process_ops.hpp"
#include "paddock/supervisor/supervisor.hpp"
#include "paddock/util/fd.hpp"
#include "paddock/util/result.hpp"

namespace paddock::privsep {

/// A started spawner process: its pid and the daemon's end of the socket.
struct SpawnerProcess {
  pid_t pid = -1;
  util::UniqueFd sock;
};

/// Forks and execs `exe` (normally /proc/self/exe) as `paddockd spawner --fd 3 --config
/// <config_path>` with the socket on fd 3 and nothing else open. Call it while still root and
/// single-threaded.
Result<SpawnerProcess> start_spawner(const std::string& exe, const std::string& config_path);

/// Connects to a spawner whose daemon went away and that waits at `<state_dir>/spawner.sock`
/// for a new one to adopt its workers ([process] adopt_seconds). Only a spawner running as root
/// is taken (SO_PEERCRED); the pid is the spawner's. Error code "not_found" when none waits,
/// "forbidden" when the socket's owner is not root.
/// Call it while still root.
Result<SpawnerProcess> connect_spawner(const std::string& state_dir);

class Client final : public supervisor::ProcessOps {
 public:
  /// `sock`: the daemon's end. Call hello() before anything else.
  Client(boost::asio::io_context& ioc, util::UniqueFd sock);
  ~Client() override;

  /// Checks the protocol version and learns the UID range; starts reading events.
  Result<void> hello();
  /// Closes the socket: the spawner stops every worker still running and exits.
  void close();
  /// Tells the spawner this daemon ends on purpose: at close() it stops every worker instead of
  /// keeping them for a daemon that adopts them.
  void goodbye();
  /// Takes over what the spawner kept from a daemon that went away: every running tree (its
  /// output pipes, port listener and relay come across and are read and bridged here from now
  /// on; `sink` gets its events) and every tree that ended meanwhile. The UID and port leases
  /// become this daemon's. Call after hello(), before the io_context runs.
  /// `kept` (an upgrade): workers the daemon before knew between two runs of their tree; their
  /// UID and port leases stay theirs (else the spawner frees leases nobody runs under) and they
  /// come back at the end of the list with their port's listener.
  Result<std::vector<supervisor::AdoptedWorker>> adopt(
      supervisor::ProcessSink& sink, std::vector<supervisor::AdoptedWorker> kept = {});
  /// The listener of the port leased to `worker_id` (nullptr when it holds none).
  std::shared_ptr<util::UniqueFd> port_listener_of(const std::string& worker_id);
  /// Called once when the spawner's socket closes or fails (the spawner died).
  void on_lost(std::function<void()> fn);

  // An upgrade (daemon::Upgrade): this image hands the spawner's socket to a newer one.
  /// Stops accepting on bridged ports (new connections wait in the listeners' backlogs) and
  /// stops reading on bridged connections (see net::PortBridge::freeze).
  void freeze_bridges();
  /// Every bridged connection can change hands without losing a byte.
  bool bridges_quiet() const;
  /// A bridged connection handed over, with its port.
  using HandedConnection = std::pair<std::uint16_t, net::PortBridge::HandedConnection>;
  /// After handoff(): the connections taken out of the bridges (the caller owns them).
  std::vector<HandedConnection> handed_connections();
  /// The new image: bridges connections the image before handed over (after adopt()).
  void adopt_connections(const std::vector<HandedConnection>& conns);
  /// Requests sent to the spawner and not yet answered.
  std::size_t pending_requests() const;
  /// Tells the spawner to hold its events for the new image, then stops reading: output reads
  /// that completed are delivered the next time the io_context runs handlers, none starts again,
  /// and what the pipes hold is read by the new image. Trees that ended are reported (their
  /// pipes read to the end first). Bridges close; the spawner keeps each port's listener.
  Result<void> handoff();
  /// The socket to the spawner, for the new image; this Client does nothing more.
  util::UniqueFd release_socket();

  // supervisor::ProcessOps
  Result<std::pair<supervisor::ProcId, pid_t>> launch(supervisor::LaunchRequest request,
                                                      supervisor::ProcessSink& sink) override;
  Result<supervisor::WarmLaunch> launch_warm(supervisor::LaunchRequest& request,
                                             supervisor::ProcessSink& sink) override;
  void signal_workload(supervisor::ProcId proc, int sig) override;
  void kill_tree(supervisor::ProcId proc) override;
  void probe_port(std::uint16_t port, std::function<void(bool)> done) override;
  bool port_has_connections(std::uint16_t port) override;
  std::optional<cgroup::Controllers> cgroup_of(supervisor::ProcId proc) const override;
  std::optional<cgroup::Usage> usage(supervisor::ProcId proc) const override;
  void remove_data_dir(const std::string& path) override;
  void collect(supervisor::CollectRequest request,
               std::function<void(std::vector<runfiles::Collected>)> done) override;

  /// The allocators the supervisor takes UIDs and ports from (each lease is the spawner's).
  pool::UidAllocator& uids();
  pool::PortAllocator& ports();

  /// Runs preflight in the spawner and waits for the report (start-up, before serving).
  Result<preflight::Report> preflight_now(std::chrono::seconds timeout);
  /// Runs preflight in the spawner; `done` is called on the io thread.
  void preflight(std::function<void(Result<preflight::Report>)> done);
  /// Asks the spawner to re-read its config file (SIGHUP).
  void reload(std::function<void(Result<void>)> done);

  /// The spawner's parked sandboxes ([pool] warm), asked for now (0s when it does not answer).
  struct WarmPool {
    std::size_t ready = 0;
    std::size_t starting = 0;
  };
  WarmPool warm_pool() const;
  /// Process trees launched and not yet reported exited.
  std::size_t active() const;
  /// For /metrics: trees in a cgroup leaf, OOM kills seen in them.
  std::size_t cgroup_leaves() const;
  std::uint64_t oom_kills() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

/// The entries of a collect reply: its "files" list with the contents cut from the sealed
/// memfd in `fds` (offset/length of each file); an entry pointing outside it is an error.
Result<std::vector<runfiles::Collected>> collected_from_reply(
    const nlohmann::json& body, const std::vector<util::UniqueFd>& fds);

/// The Report in a preflight reply's "report" (the API's PreflightReport shape).
Result<preflight::Report> report_from_json(const nlohmann::json& j);

}  // namespace paddock::privsep
