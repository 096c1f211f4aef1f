#include "paddock/daemon/daemon.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <mutex>
#include <thread>

#include "paddock/api/audit.hpp"
#include "paddock/api/auth.hpp"
#include "paddock/api/bundle_routes.hpp"
#include "paddock/api/metrics.hpp"
#include "paddock/api/readiness.hpp"
#include "paddock/api/router.hpp"
#include "paddock/api/routes.hpp"
#include "paddock/api/server.hpp"
#include "paddock/bundles/store.hpp"
#include "paddock/cgroup/startup.hpp"
#include "paddock/daemon/journal.hpp"
#include "paddock/daemon/notify.hpp"
#include "paddock/daemon/reload.hpp"
#include "paddock/log/log.hpp"
#include "paddock/preflight/preflight.hpp"
#include "paddock/privsep/client.hpp"
#include "paddock/privsep/drop.hpp"
#include "paddock/sandbox/paths.hpp"
#include "paddock/seccomp/bpf_file.hpp"
#include "paddock/supervisor/scheduler.hpp"
#include "paddock/supervisor/supervisor.hpp"
#include "paddock/util/hostport.hpp"

namespace paddock::daemon {

namespace asio = boost::asio;

namespace {

/// How long an upgrade waits for requests, starts, stops, runs and bridged connections under
/// way before it hands over regardless.
constexpr std::chrono::seconds kUpgradeDrain{10};

/// How long a graceful stop waits for requests in flight before closing their connections.
constexpr std::chrono::seconds kShutdownGrace{5};

/// Loads the token file. A missing file leaves the TCP API closed to everyone (only /healthz and
/// /readyz answer) with a warning; a malformed file is an error.
Result<std::shared_ptr<const api::TokenStore>> load_tokens(const config::Config& cfg) {
  auto loaded = api::load_token_file(cfg.server.token_file);
  if (!loaded) {
    if (loaded.error().code == "io") {
      log::warn(loaded.error().message +
                "; every TCP request except /healthz and /readyz gets "
                "401 until the file exists (then send SIGHUP)");
      return std::make_shared<const api::TokenStore>();
    }
    return loaded.error();
  }
  for (const auto& w : loaded->warnings) log::warn(w);
  log::info("token file loaded",
            {{"path", cfg.server.token_file}, {"tokens", loaded->entries.size()}});
  return std::make_shared<const api::TokenStore>(std::move(loaded->entries));
}

/// Raises the soft RLIMIT_NOFILE to the hard limit: every connection costs a descriptor.
void raise_nofile(const config::Config& cfg) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  // TCP, the admin socket, the connections being refused, and some for everything else.
  const rlim_t wanted =
      static_cast<rlim_t>(cfg.server.max_connections) + cfg.server.max_admin_connections + 64 + 64;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < wanted) {
    log::warn(
        "RLIMIT_NOFILE is below server.max_connections + max_admin_connections + 128; "
        "connections beyond it fail at accept (raise LimitNOFILE= in the unit or lower "
        "max_connections)",
        {{"nofile", static_cast<std::uint64_t>(rl.rlim_cur)},
         {"max_connections", cfg.server.max_connections}});
  }
}

api::ServerOptions server_options(const config::Config& cfg) {
  api::ServerOptions opts;
  opts.max_body_bytes = cfg.server.max_body_bytes;
  opts.max_header_bytes = cfg.server.max_header_bytes;
  opts.max_connections = cfg.server.max_connections;
  opts.max_admin_connections = cfg.server.max_admin_connections;
  opts.max_connections_per_address = cfg.server.max_connections_per_address;
  opts.idle_connections_soft_limit = cfg.server.idle_connections_soft_limit;
  opts.max_stream_queue_bytes = cfg.server.stream_queue_bytes;
  opts.stream_max_seconds = cfg.server.stream_max_seconds;
  opts.header_timeout_seconds = cfg.server.header_timeout_seconds;
  opts.request_timeout_seconds = cfg.server.request_timeout_seconds;
  return opts;
}

/// Registers the HTTP server's connection and stream figures on /metrics.
void register_server_metrics(api::MetricsRegistry& m,
                             std::shared_ptr<const api::ServerStats> stats) {
  m.gauge_collector("paddock_stream_queued_bytes",
                    "Bytes queued for the clients of open streamed responses.", {}, [stats] {
                      return std::vector<api::CollectedSample>{
                          {{}, static_cast<double>(stats->stream_queued_bytes.load())}};
                    });
  m.gauge_collector("paddock_streams_open", "Streamed responses (logs, events, runs) open.", {},
                    [stats] {
                      return std::vector<api::CollectedSample>{
                          {{}, static_cast<double>(stats->streams_open.load())}};
                    });
  m.counter_collector(
      "paddock_streams_ended_total",
      "Streams the server ended itself, by reason (slow_reader, lifetime).", {"reason"}, [stats] {
        return std::vector<api::CollectedSample>{
            {{"slow_reader"}, static_cast<double>(stats->streams_cut_slow.load())},
            {{"lifetime"}, static_cast<double>(stats->streams_cut_lifetime.load())}};
      });
  m.gauge_collector("paddock_connections_open", "Open connections by listener (tcp, unix).",
                    {"listener"}, [stats] {
                      return std::vector<api::CollectedSample>{
                          {{"tcp"}, static_cast<double>(stats->open_tcp.load())},
                          {{"unix"}, static_cast<double>(stats->open_unix.load())}};
                    });
  m.counter_collector(
      "paddock_connections_refused_total",
      "Connections refused by listener and limit (max_connections, max_connections_per_address, "
      "max_admin_connections), and idle ones closed over the soft limit (idle_soft_limit).",
      {"listener", "limit"}, [stats] {
        return std::vector<api::CollectedSample>{
            {{"tcp", "max_connections"}, static_cast<double>(stats->refused_tcp.load())},
            {{"tcp", "max_connections_per_address"},
             static_cast<double>(stats->refused_tcp_address.load())},
            {{"tcp", "idle_soft_limit"}, static_cast<double>(stats->idle_closed.load())},
            {{"unix", "max_admin_connections"}, static_cast<double>(stats->refused_unix.load())}};
      });
}

/// Registers the supervisor's figures on /metrics (read at scrape time).
void register_supervisor_metrics(api::MetricsRegistry& m, const supervisor::Supervisor& sup,
                                 const std::string& bpf_sha256, const std::string& bpf_path) {
  m.gauge("paddock_seccomp_profile_info", "The seccomp filter every worker runs with; always 1.",
          {"path", "sha256"})
      .set({bpf_path, bpf_sha256}, 1);
  m.gauge_collector(
      "paddock_workers", "Workers and runs the daemon knows, by state.", {"state"}, [&sup] {
        std::vector<api::CollectedSample> out;
        const auto st = sup.stats();
        for (auto s :
             {supervisor::State::Starting, supervisor::State::Running, supervisor::State::Ready,
              supervisor::State::Stopping, supervisor::State::Exited, supervisor::State::Failed}) {
          auto it = st.by_state.find(s);
          out.push_back({{std::string(supervisor::to_string(s))},
                         static_cast<double>(it == st.by_state.end() ? 0 : it->second)});
        }
        return out;
      });
  m.gauge_collector("paddock_free_uids", "Worker UIDs that can be handed out now.", {}, [&sup] {
    return std::vector<api::CollectedSample>{{{}, static_cast<double>(sup.stats().free_uids)}};
  });
  m.gauge_collector("paddock_free_ports", "Worker ports that can be handed out now.", {}, [&sup] {
    return std::vector<api::CollectedSample>{{{}, static_cast<double>(sup.stats().free_ports)}};
  });
  m.counter_collector("paddock_spawns_total", "Sandbox launches, by result.", {"result"}, [&sup] {
    const auto st = sup.stats();
    return std::vector<api::CollectedSample>{{{"ok"}, static_cast<double>(st.spawns_ok)},
                                             {{"error"}, static_cast<double>(st.spawns_failed)}};
  });
  m.counter_collector(
      "paddock_warm_runs_total",
      "Runs started in a sandbox parked ahead ([pool] warm) instead of cold.", {}, [&sup] {
        return std::vector<api::CollectedSample>{{{}, static_cast<double>(sup.stats().warm_runs)}};
      });
  m.counter_collector("paddock_restarts_total", "Automatic restarts of workers.", {}, [&sup] {
    return std::vector<api::CollectedSample>{{{}, static_cast<double>(sup.stats().restarts_total)}};
  });
  m.counter_collector("paddock_exits_total", "Workers and runs that ended, by reason.", {"reason"},
                      [&sup] {
                        std::vector<api::CollectedSample> out;
                        for (const auto& [r, n] : sup.stats().exits_by_reason) {
                          out.push_back({{r}, static_cast<double>(n)});
                        }
                        return out;
                      });
  m.gauge_collector(
      "paddock_log_ring_bytes",
      "Memory held by all workers' log rings (bounded by [log] max_ring_bytes_total).", {}, [&sup] {
        return std::vector<api::CollectedSample>{{{}, static_cast<double>(sup.log_ring_bytes())}};
      });
  m.counter_collector("paddock_dropped_log_bytes_total",
                      "Worker output lost: out of memory and not in the worker's log file.", {},
                      [&sup] {
                        return std::vector<api::CollectedSample>{
                            {{}, static_cast<double>(sup.stats().dropped_log_bytes)}};
                      });
}

/// Registers the cgroup figures of the process layer on /metrics.
void register_cgroup_metrics(api::MetricsRegistry& m, const privsep::Client& ops) {
  m.gauge_collector(
      "paddock_worker_cgroups", "Running workers placed in a cgroup v2 leaf.", {}, [&ops] {
        return std::vector<api::CollectedSample>{{{}, static_cast<double>(ops.cgroup_leaves())}};
      });
  m.counter_collector(
      "paddock_oom_kills_total",
      "Processes the kernel killed at a worker's memory.max (memory.events "
      "oom_kill of the workers' cgroups).",
      {}, [&ops] {
        return std::vector<api::CollectedSample>{{{}, static_cast<double>(ops.oom_kills())}};
      });
  m.gauge_collector("paddock_warm_sandboxes",
                    "Sandboxes parked ahead for runs ([pool] warm): ready, or still starting.",
                    {"state"}, [&ops] {
                      const auto w = ops.warm_pool();
                      return std::vector<api::CollectedSample>{
                          {{"ready"}, static_cast<double>(w.ready)},
                          {{"starting"}, static_cast<double>(w.starting)}};
                    });
}

/// Creates a directory (and parents) with `mode` when missing.
Result<void> ensure_dir(const std::string& path, std::filesystem::perms mode) {
  if (path.empty()) return {};
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    std::filesystem::create_directories(path, ec);
    if (ec) {
      return make_error("io", "cannot create " + path + ": " + ec.message());
    }
    std::filesystem::permissions(path, mode, ec);
  }
  return {};
}

}  // namespace

int run(const config::Config& start_config, const std::string& config_path,
        std::optional<HandoffState> handoff) {
  const bool handed = handoff.has_value();
  // What an upgrade execs, opened now (possibly still root): see InstalledBinary.
  Result<InstalledBinary> binary = make_error("io", "not opened");
  if (handed && handoff->binary_dir_fd >= 0) {
    InstalledBinary b;
    b.dir.reset(handoff->binary_dir_fd);
    ::fcntl(b.dir.get(), F_SETFD, FD_CLOEXEC);
    b.name = handoff->binary_name;
    b.shown = handoff->binary_shown;
    binary = std::move(b);
  } else {
    binary = open_installed_binary();
  }
  // The daemon's one mutable config: SIGHUP assigns reloaded live keys to it, and everything
  // that reads per-worker settings (the supervisor, sandbox planning) refers to it.
  config::Config live = start_config;
  const config::Config& cfg = live;
  // Workers never run without their seccomp filter: a configured profile that is missing or
  // not a compiled filter stops the daemon here rather than being skipped later.
  auto bpf_info = seccomp::validate_bpf_file(cfg.process.seccomp_profile);
  if (!bpf_info) {
    log::critical(
        "refusing to start: [process] seccomp_profile is not usable",
        {{"seccomp_profile", cfg.process.seccomp_profile}, {"error", bpf_info.error().message}});
    return 1;
  }
  log::info("seccomp profile", {{"path", cfg.process.seccomp_profile},
                                {"instructions", bpf_info->instructions},
                                {"sha256", bpf_info->sha256}});

  supervisor::DirProfileSource profiles(cfg.process.sandbox_profiles_dir);
  if (auto r = profiles.reload(); !r) {
    log::critical("refusing to start: sandbox profiles cannot be loaded",
                  {{"dir", cfg.process.sandbox_profiles_dir}, {"error", r.error().message}});
    return 1;
  }
  if (auto p = profiles.get(cfg.process.default_profile); !p) {
    log::critical("refusing to start: [process] default_profile does not exist",
                  {{"default_profile", cfg.process.default_profile}, {"error", p.error().message}});
    return 1;
  }
  namespace fs = std::filesystem;
  for (const auto& [dir, mode] :
       {std::pair{cfg.process.state_dir, fs::perms::owner_all},
        // Worker UIDs must traverse data_root to reach their own directory (mode 0700 each).
        std::pair{cfg.process.data_root,
                  fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec},
        std::pair{cfg.log.worker_log_dir,
                  fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec}}) {
    if (auto r = ensure_dir(dir, mode); !r) {
      log::critical("refusing to start: " + r.error().message);
      return 1;
    }
  }
  // The HTTP-facing daemon runs as [server] user once its listeners are bound; what it writes
  // (worker logs, the audit log, the bundle store) is handed to that user now, while root.
  std::optional<privsep::DaemonUser> daemon_user;
  if (handed) {
    log::info("taking over from the previous image of this process",
              {{"generation", static_cast<std::int64_t>(handoff->generation)},
               {"workers", handoff->workers.size()},
               {"uid", static_cast<long>(::geteuid())}});
  } else if (::geteuid() == 0) {
    auto u = privsep::lookup_daemon_user(cfg);
    if (!u) {
      log::critical("refusing to start: " + u.error().message);
      return 1;
    }
    if (auto r = privsep::prepare_daemon_files(cfg, *u); !r) {
      log::critical("refusing to start: " + r.error().message);
      return 1;
    }
    daemon_user = *u;
    // Bundles (and a staging .tmp) left by a version that ran the daemon as root.
    auto handed_over = privsep::hand_over_tree(cfg.bundles.dir, *u);
    if (!handed_over) {
      log::critical("refusing to start: " + handed_over.error().message);
      return 1;
    }
    if (*handed_over > 0) {
      log::info("bundle store entries handed over to the daemon's user",
                {{"dir", cfg.bundles.dir}, {"entries", static_cast<long>(*handed_over)}});
    }
  } else {
    log::warn("not started as root: no privilege separation (workers cannot be started either)");
  }

  // The spawner: the privileged half (worker UIDs, ports, plans, sandboxes, preflight probes).
  // Started before anything else runs a thread; it gets nothing from us but a socket.
  std::error_code path_ec;
  const std::string abs_config = std::filesystem::absolute(config_path, path_ec).string();
  // A spawner whose daemon died may still wait with its workers: adopt them (see below).
  auto spawner = handed ? Result<privsep::SpawnerProcess>(privsep::SpawnerProcess{
                              handoff->spawner_pid, util::UniqueFd(handoff->spawner_fd)})
                        : privsep::connect_spawner(cfg.process.state_dir);
  const bool adopting = static_cast<bool>(spawner) && !handed;
  if (handed) {
    // The spawner is still our child; its socket came across the exec.
  } else if (adopting) {
    log::info("a spawner left by the previous paddockd is waiting; adopting its workers",
              {{"spawner_pid", static_cast<long>(spawner->pid)}});
  } else {
    if (spawner.error().code != "not_found") {
      log::warn("cannot reach a waiting spawner; starting a new one",
                {{"error", spawner.error().message}});
    }
    spawner = privsep::start_spawner("/proc/self/exe", abs_config);
  }
  if (!spawner) {
    log::critical("refusing to start: cannot start the spawner",
                  {{"error", spawner.error().message}});
    return 1;
  }
  const pid_t spawner_pid = spawner->pid;

  asio::io_context ioc{1};
  privsep::Client ops(ioc, std::move(spawner->sock));
  if (auto r = ops.hello(); !r) {
    log::critical("refusing to start: the spawner did not come up", {{"error", r.error().message}});
    ::waitpid(spawner_pid, nullptr, 0);
    return 1;
  }
  // systemd: READY/STATUS/RELOADING/STOPPING/WATCHDOG
  Notifier notifier(ioc, handed ? handoff->notify_fd : -1);
  std::vector<std::string> bound;  // what the STATUS line reports
  raise_nofile(cfg);

  auto readiness = std::make_shared<api::Readiness>();
  readiness->require("listeners", "the API listeners are not bound yet");
  // The listeners are bound while still root (a port below 1024, the socket's group); requests
  // are read only once the loop runs, long after the drop below. The handler comes later.
  std::shared_ptr<api::ApiHandler> handler;
  api::HttpServer server(ioc, server_options(cfg),
                         [&handler](const api::Request& r) { return handler->handle(r); });
  if (handed) {
    // The previous image's listening sockets: connections made during the exec waited in
    // their backlogs. A changed [server] listen or socket takes effect at the next restart.
    for (const auto& l : handoff->listeners) {
      if (auto r = server.adopt_listener(l); !r) {
        log::critical(r.error().message);
        return 1;
      }
      log::info("listening (handed over)", {{"listener", l.name}});
      bound.push_back(l.name);
    }
  }
  for (const auto& l : handed ? std::vector<std::string>{} : cfg.server.listen) {
    auto hp = util::parse_host_port(l);
    if (!hp) {
      log::critical("invalid listen address", {{"listen", l}, {"error", hp.error().message}});
      return 1;
    }
    auto port = server.listen_tcp(*hp);
    if (!port) {
      log::critical(port.error().message);
      return 1;
    }
    log::info("listening", {{"address", hp->host}, {"port", *port}});
    bound.push_back(util::to_string(util::HostPort{hp->host, static_cast<std::uint16_t>(*port)}));
  }
  if (!handed && !cfg.server.socket.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(cfg.server.socket).parent_path(), ec);
    auto r = server.listen_unix(cfg.server.socket, cfg.server.socket_mode, cfg.server.socket_group);
    if (!r) {
      log::critical(r.error().message);
      return 1;
    }
    log::info("listening", {{"socket", cfg.server.socket}});
    bound.push_back(cfg.server.socket);
  }
  readiness->set("listeners", true);

  // From here on this process holds no privilege: the spawner does everything that needs one.
  // Tokens and requests are read only after the drop.
  if (daemon_user) {
    if (auto r = privsep::drop_privileges(*daemon_user); !r) {
      log::critical("refusing to start: cannot drop privileges: " + r.error().message);
      return 1;
    }
    if (auto r = privsep::install_daemon_seccomp(); !r) {
      log::critical("refusing to start: cannot install the daemon's seccomp filter: " +
                    r.error().message);
      return 1;
    }
    log::info("privileges dropped", {{"user", daemon_user->name},
                                     {"uid", static_cast<long>(daemon_user->uid)},
                                     {"spawner_pid", static_cast<long>(spawner_pid)}});
  }
  bundles::StoreConfig store_cfg;
  store_cfg.dir = cfg.bundles.dir;
  store_cfg.max_total_bytes = cfg.bundles.max_total_bytes;
  store_cfg.limits.max_compressed_bytes = cfg.bundles.max_archive_bytes;
  store_cfg.limits.max_extracted_bytes = cfg.bundles.max_extracted_bytes;
  store_cfg.limits.max_entries = cfg.bundles.max_entries;
  store_cfg.limits.max_path_length = cfg.bundles.max_path_length;
  store_cfg.limits.max_depth = cfg.bundles.max_depth;
  auto bundle_store = bundles::Store::open(store_cfg);
  if (!bundle_store) {
    log::critical("refusing to start: the bundle store cannot be used: " +
                  bundle_store.error().message);
    return 1;
  }
  bundles::Store& store = **bundle_store;

  auto metrics = std::make_shared<api::MetricsRegistry>();
  const auto api_metrics = api::register_api_metrics(*metrics, PADDOCK_VERSION);

  api::AuthOptions auth_opts;
  auth_opts.worker_uid_start = cfg.process.worker_uid_range_start;
  auth_opts.worker_uid_end = cfg.process.worker_uid_range_end;
  auth_opts.admin_group = cfg.server.socket_group;
  auth_opts.metrics_require_token = cfg.server.metrics_require_token;
  auto auth = std::make_shared<api::Authenticator>(
      auth_opts, std::make_shared<const api::TokenStore>(), api::system_group_directory());
  auto audit = std::make_shared<api::AuditLog>(cfg.log.audit_log);

  // The supervisor and what it stands on: every UID, port and process comes from the spawner.
  supervisor::AsioScheduler scheduler(ioc);
  supervisor::EventBus events(1024);
  if (handed) events.resume_after(handoff->last_event_id);
  sandbox::RealFileSystem filesystem;
  supervisor::SupervisorOptions sup_options;
  auto& spawn_latency = metrics->histogram(
      "paddock_spawn_latency_seconds", "Time from launching bwrap to the workload running.",
      {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});
  sup_options.on_spawn_latency = [&spawn_latency](double s) { spawn_latency.observe(s); };
  sup_options.uploaded_bundle_path = [&store](const std::string& id) {
    return store.content_path(id);
  };
  supervisor::Supervisor sup(cfg, ops, scheduler, ops.uids(), ops.ports(), profiles, filesystem,
                             events, sup_options);
  register_supervisor_metrics(*metrics, sup, bpf_info->sha256, cfg.process.seccomp_profile);
  std::shared_ptr<preflight::Report> last_report_for_metrics;  // set below, read at scrape time
  metrics->gauge_collector(
      "paddock_preflight_check",
      "Last preflight result per check: 0 ok, 1 info, 2 warning, 3 error.", {"check"},
      [&last_report_for_metrics] {
        std::vector<api::CollectedSample> out;
        if (!last_report_for_metrics) return out;
        for (const auto& r : last_report_for_metrics->results) {
          out.push_back({{r.name}, static_cast<double>(static_cast<int>(r.severity))});
        }
        return out;
      });
  // The audit log gets every spawn and every end of a worker or run.
  events.subscribe([&audit, &sup](const supervisor::Event& e) {
    const bool created =
        e.from == supervisor::State::Starting && e.to == supervisor::State::Starting;
    if (!created && !supervisor::is_terminal(e.to)) return;
    nlohmann::json entry{{"event", created ? "spawn" : "exit"},
                         {"worker_id", e.worker_id},
                         {"kind", e.kind},
                         {"state", std::string(supervisor::to_string(e.to))},
                         {"reason", e.reason}};
    if (auto w = sup.get_record(e.worker_id)) {
      entry["uid"] = w->uid ? nlohmann::json(*w->uid) : nlohmann::json(nullptr);
      entry["command"] = w->command;
      if (!created) {
        entry["exit_code"] = w->exit_code ? nlohmann::json(*w->exit_code) : nlohmann::json(nullptr);
        entry["signal"] = w->signal ? nlohmann::json(*w->signal) : nlohmann::json(nullptr);
      }
    }
    audit->record(std::move(entry));
  });
  register_cgroup_metrics(*metrics, ops);

  if (handed) {
    // Every worker the previous image had: the spawner hands over the trees (and those that
    // ended during the exec); the state carried in the handoff completes each.
    std::map<std::string, supervisor::AdoptedWorker> had_trees;  // until the spawner names them
    std::vector<supervisor::AdoptedWorker> between_runs;         // Client::adopt keeps these
    for (auto& w : handoff->workers) {
      if (supervisor::is_terminal(w.carried->state)) {
        (void)sup.adopt(std::move(w));  // ended before the hand-over: listed as it was
      } else if (w.carried->between_runs) {
        between_runs.push_back(std::move(w));
      } else {
        const std::string id = w.id;
        had_trees.emplace(id, std::move(w));
      }
    }
    auto adopted = ops.adopt(sup, std::move(between_runs));
    if (!adopted) {
      log::critical("cannot take over the previous image's workers",
                    {{"error", adopted.error().message}});
      return 1;
    }
    for (auto& a : *adopted) {
      const std::string id = a.id;
      if (auto it = had_trees.find(id); it != had_trees.end()) {
        a.carried = std::move(it->second.carried);
        had_trees.erase(it);
      }
      if (auto r = sup.adopt(std::move(a)); !r) {
        log::error("could not take over a worker",
                   {{"worker_id", id}, {"error", r.error().message}});
      }
    }
    for (auto& [id, w] : had_trees) {
      // Neither running nor ended in the spawner's view (its end was told to the image before
      // and not handled there): its status is unknown.
      w.carried.reset();
      w.lost = true;
      (void)sup.adopt(std::move(w));
    }
    ops.adopt_connections(handoff->connections);
    // The spawner re-reads the file too (its live keys, as on SIGHUP); the keys it applies only
    // at its start (UID, GID and port ranges, cgroup, seccomp_profile, ...) keep their values.
    ops.reload([](Result<void> r) {
      if (!r) log::error("the spawner kept its config", {{"error", r.error().message}});
    });
    log::info("took over the previous image's workers",
              {{"workers", static_cast<long>(sup.live_count())},
               {"bridged_connections", handoff->connections.size()}});
  }
  if (adopting) {
    auto adopted = ops.adopt(sup);
    if (!adopted) {
      log::critical("refusing to start: cannot adopt the previous daemon's workers",
                    {{"error", adopted.error().message}});
      return 1;
    }
    std::size_t running = 0;
    for (auto& a : *adopted) {
      if (a.proc) ++running;
      const std::string id = a.id;
      if (auto r = sup.adopt(std::move(a)); !r) {
        log::error("could not adopt a worker", {{"worker_id", id}, {"error", r.error().message}});
      }
    }
    log::info("adopted the previous daemon's workers",
              {{"running", static_cast<long>(running)},
               {"ended_meanwhile", static_cast<long>(adopted->size() - running)}});
  }
  // The journal names every worker the previous daemon had; those not adopted were lost with
  // its spawner and are listed as failed. From now on it names this daemon's.
  const std::string journal_path = cfg.process.state_dir + "/workers.json";
  if (auto previous = read_journal(journal_path); !previous) {
    log::warn("cannot read the worker journal; the previous daemon's workers are not listed",
              {{"path", journal_path}, {"error", previous.error().message}});
  } else {
    long lost = 0;
    for (auto& a : *previous) {
      if (sup.get(a.id)) continue;
      a.lost = true;
      if (sup.adopt(std::move(a))) ++lost;
    }
    if (lost > 0) {
      log::warn("workers of the previous paddockd were lost with its spawner",
                {{"workers", lost}, {"journal", journal_path}});
    }
  }
  JournalWriter journal(ioc, journal_path, [&sup] { return sup.live_records(); });
  journal.write_now();
  events.subscribe([&journal](const supervisor::Event&) { journal.changed(); });

  // The spawner is our only child. If it dies, its workers die with it (PDEATHSIG) and this
  // daemon can start nothing: exit so the service manager restarts the pair.
  int exit_code = 0;
  auto spawner_lost = [&] {
    log::critical("the spawner exited; stopping (the service manager restarts paddockd)");
    exit_code = 1;
    ioc.stop();
  };
  ops.on_lost(spawner_lost);
  asio::signal_set chld(ioc, SIGCHLD);
  std::function<void()> wait_chld = [&] {
    chld.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      if (::waitpid(spawner_pid, nullptr, WNOHANG) == spawner_pid) {
        spawner_lost();
        return;
      }
      wait_chld();
    });
  };
  wait_chld();

  // Preflight runs in the spawner (its probes need worker UIDs); the first run happens once the
  // listeners are bound, before anything is served.
  auto last_report = std::make_shared<preflight::Report>();
  auto apply_report = [&cfg, readiness](const preflight::Report& report) {
    if (!report.has_error) {
      readiness->set("preflight", true);
      return;
    }
    std::string failed;
    for (const auto& r : report.results) {
      if (r.severity == preflight::Severity::Error) failed += (failed.empty() ? "" : ", ") + r.name;
    }
    readiness->set("preflight", false,
                   "degraded: preflight errors in " + failed +
                       (cfg.preflight.enforce ? "" : " ([preflight] enforce = false)"));
  };
  readiness->require("preflight", "preflight has not run yet");

  // POST /v1/preflight/run: the spawner runs the checks again; the answer comes when it is done.
  bool preflight_running = false;
  auto rerun_preflight = [&](std::function<void(const preflight::Report&)> done) {
    preflight_running = true;
    ops.preflight(
        [&last_report, &preflight_running, apply_report, done](Result<preflight::Report> r) {
          preflight_running = false;
          if (!r) {
            log::error("preflight did not run", {{"error", r.error().message}});
            preflight::CheckResult failed;
            failed.name = "spawner";
            failed.severity = preflight::Severity::Error;
            failed.message = "the spawner could not run the checks: " + r.error().message;
            failed.remedy = "see the daemon's log";
            r = preflight::make_report({failed});
          }
          preflight::log_report(*r);
          *last_report = *r;
          apply_report(*r);
          if (done) done(*r);
        });
  };

  api::Services services;
  services.get_preflight = [&last_report](const api::Request&) {
    return api::Response::json(200, last_report->to_json());
  };
  services.run_preflight = [&](const api::Request&) {
    if (preflight_running) {
      return api::Response::error(409, "preflight_running", "preflight checks are already running");
    }
    auto waiting = std::make_shared<std::shared_ptr<api::StreamSink>>();
    auto result = std::make_shared<std::optional<nlohmann::json>>();
    rerun_preflight([waiting, result](const preflight::Report& r) {
      *result = r.to_json();
      if (*waiting) {
        (*waiting)->write((*result)->dump() + "\n");
        (*waiting)->finish();
      }
    });
    api::Response res;
    res.status = 200;
    res.stream = [waiting, result](std::shared_ptr<api::StreamSink> sink) {
      if (result->has_value()) {
        sink->write((*result)->dump() + "\n");
        sink->finish();
        return;
      }
      *waiting = std::move(sink);
    };
    return res;
  };
  services.readiness = readiness;
  services.generation = handed ? handoff->generation : 0;
  // Uptime counts from the first image of this process; an upgrade carries when that started.
  const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  const std::int64_t started_at_ms = handed ? handoff->started_at_ms : now_ms;
  services.started -= std::chrono::milliseconds(now_ms - started_at_ms);
  // ---- Upgrade in place (SIGUSR2, POST /v1/admin/upgrade, `systemctl reload`) ----
  // 1. The installed binary must run and accept the config (check-config), else nothing
  //    changes and the caller is told why. 2. Drain: new requests get 503 + Retry-After, new
  //    connections wait in the listeners' backlogs (API and bridged ports alike), restarts
  //    waiting for their delay happen now; the drain waits (bounded) for requests, starts,
  //    stops, runs and bridged connections under way. 3. The spawner holds its events; output
  //    read so far is handled; everything is written into the handoff state; exec.
  enum class Upgrade { Idle, Checking, Draining, Ready };
  Upgrade upgrade = Upgrade::Idle;
  std::vector<api::HttpServer::Listening> handed_listeners;
  bool server_drained = false;
  asio::steady_timer drain_poll(ioc);
  std::chrono::steady_clock::time_point drain_deadline{};
  std::function<void()> poll_drain = [&] {
    if (upgrade != Upgrade::Draining) return;  // called off by a stop signal
    const bool settled = server_drained && server.active_connections() == 0 &&
                         sup.unsettled() == 0 && ops.bridges_quiet() && ops.pending_requests() == 0;
    const bool late = std::chrono::steady_clock::now() >= drain_deadline;
    if (settled || (late && ops.pending_requests() == 0)) {
      if (!settled) {
        log::warn("upgrade: handing over with work still under way",
                  {{"unsettled_workers", sup.unsettled()},
                   {"bridges_quiet", ops.bridges_quiet()},
                   {"server_drained", server_drained}});
      }
      if (auto r = ops.handoff(); !r) {
        // The spawner cannot be told: exit without goodbye, it keeps the workers for the
        // daemon the service manager starts next (crash adoption).
        log::critical("upgrade: the spawner did not take the hand-over; exiting",
                      {{"error", r.error().message}});
        exit_code = 1;
        ioc.stop();
        return;
      }
      upgrade = Upgrade::Ready;
      ioc.stop();
      return;
    }
    drain_poll.expires_after(std::chrono::milliseconds(20));
    drain_poll.async_wait([&](boost::system::error_code ec) {
      if (!ec) poll_drain();
    });
  };
  auto start_drain = [&] {
    if (upgrade != Upgrade::Checking || sup.shutting_down()) return;
    upgrade = Upgrade::Draining;
    log::info("upgrade: draining", {{"live_workers", sup.live_count()}});
    notifier.reloading("upgrading: handing over to the installed binary");
    readiness->set("upgrade", false, "paddockd is handing over to its new binary");
    handed_listeners = server.hand_over_listeners();
    server.shutdown(kShutdownGrace, [&] { server_drained = true; });
    sup.expedite_restarts();
    ops.freeze_bridges();
    drain_deadline = std::chrono::steady_clock::now() + kUpgradeDrain;
    poll_drain();
  };
  // The check runs while the caller waits (check-config of the new binary: tens of
  // milliseconds, at most 10 s); on success the drain starts right after the answer.
  auto begin_upgrade = [&]() -> Result<std::uint64_t> {
    if (upgrade != Upgrade::Idle) {
      return make_error("upgrade_in_progress", "an upgrade is already under way");
    }
    if (sup.shutting_down()) return make_error("shutting_down", "paddockd is shutting down");
    if (!binary) {
      return make_error("upgrade_failed", "the installed binary could not be opened at start: " +
                                              binary.error().message);
    }
    log::info("upgrade: checking the installed binary", {{"binary", binary->shown}});
    if (auto checked = check_next_image(*binary, config_path); !checked) {
      log::error("upgrade refused; this image keeps running", {{"error", checked.error().message}});
      // Whatever went wrong, the binary was refused.
      return make_error("upgrade_failed", checked.error().message);
    }
    upgrade = Upgrade::Checking;
    asio::post(ioc, [&start_drain] { start_drain(); });
    return services.generation + 1;
  };
  services.upgrade = [&](const api::Request&) {
    auto r = begin_upgrade();
    if (!r) {
      return api::Response::error(api::status_for(r.error()), r.error().code, r.error().message);
    }
    return api::Response::json(202, {{"status", "upgrading"}, {"generation", *r}});
  };
  asio::signal_set usr2(ioc, SIGUSR2);
  std::function<void()> wait_usr2 = [&] {
    usr2.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      (void)begin_upgrade();  // what happened is logged
      wait_usr2();
    });
  };
  wait_usr2();
  services.metrics = metrics;
  services.supervisor = &sup;
  services.events = &events;
  services.scheduler = &scheduler;
  services.bundles = {&store, [&sup](const std::string& id) { return sup.bundle_users(id); },
                      audit};
  auto router = std::make_shared<api::Router>();
  api::register_routes(*router, services);
  metrics->gauge_collector(
      "paddock_bundle_store_bytes", "Extracted bytes of the bundles in the bundle store.", {},
      [&store] {
        return std::vector<api::CollectedSample>{{{}, static_cast<double>(store.total_bytes())}};
      });
  metrics->gauge_collector("paddock_bundles", "Bundles in the bundle store.", {}, [&store] {
    return std::vector<api::CollectedSample>{{{}, static_cast<double>(store.list().size())}};
  });
  handler = std::make_shared<api::ApiHandler>(router, auth, audit);
  server.on_response([requests = api_metrics.requests](unsigned status) {
    requests->inc({std::to_string(status)});
  });
  server.on_headers([handler](const api::Request& r) { return handler->check_headers(r); });
  server.on_body_route(
      [&store](const api::Request& r) { return api::bundle_body_route(r, &store); },
      cfg.bundles.max_archive_bytes);
  server.on_reject([audit](const api::Request& r, unsigned status, const std::string& code) {
    audit->reject("anonymous", r.method, r.path.empty() ? r.target : r.path, status, code,
                  r.peer.address);
  });
  register_server_metrics(*metrics, server.stats());

  auto tokens = load_tokens(cfg);
  if (!tokens) {
    log::critical(tokens.error().message + "; fix the token file and restart");
    return 1;
  }
  auth->set_tokens(*tokens);

  // Preflight: prove the host is safe before anything is served. After an upgrade the report
  // of the image before stands (the host did not change); POST /v1/preflight/run runs it anew.
  auto first_report =
      handed ? privsep::report_from_json(handoff->preflight)
             : ops.preflight_now(std::chrono::seconds(2 * cfg.preflight.timeout_seconds + 30));
  if (!first_report) {
    log::critical("refusing to start: preflight did not run",
                  {{"error", first_report.error().message}});
    return 1;
  }
  *last_report = std::move(*first_report);
  preflight::log_report(*last_report);
  apply_report(*last_report);
  last_report_for_metrics = last_report;
  if (last_report->has_error) {
    if (cfg.preflight.enforce) {
      log::critical(
          "refusing to start: preflight found errors (see above); fix them, or set [preflight] "
          "enforce = false to start anyway (not for production)");
      return 1;
    }
    log::error(
        "PREFLIGHT FOUND ERRORS and [preflight] enforce = false: starting anyway; this host is "
        "not safe for untrusted workers until they are fixed");
  }

  // SIGTERM/SIGINT: stop accepting, stop every worker gracefully in parallel (SIGTERM to each
  // workload, SIGKILL after stop_grace_seconds), then exit 0.
  asio::signal_set stop_signals(ioc, SIGTERM, SIGINT);
  int pending_shutdowns = 2;
  auto one_done = [&] {
    if (--pending_shutdowns == 0) ioc.stop();
  };
  stop_signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    log::info("shutting down", {{"signal", sig}, {"live_workers", sup.live_count()}});
    notifier.stopping("stopping (signal " + std::to_string(sig) +
                      "): " + std::to_string(sup.live_count()) + " workers to stop");
    notifier.stop_watchdog();
    readiness->set("shutdown", false, "paddockd is shutting down");
    sup.shutdown(std::chrono::seconds(cfg.process.stop_grace_seconds), one_done);
    if (upgrade == Upgrade::Draining) {
      // The hand-over is called off; the server is draining already (its connections close
      // as they finish).
      upgrade = Upgrade::Idle;
      drain_poll.cancel();
      one_done();
    } else {
      upgrade = Upgrade::Idle;
      server.shutdown(kShutdownGrace, one_done);
    }
    // A second signal during shutdown kills what is left at once.
    stop_signals.async_wait([&](boost::system::error_code ec2, int) {
      if (ec2) return;
      log::warn("second stop signal: exiting now; remaining workers die with the daemon");
      ioc.stop();
    });
  });

  // SIGHUP: reload the token file (keeping the old tokens if the new file is malformed) and
  // reopen the audit log (after rotation).
  asio::signal_set hup(ioc, SIGHUP);
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      auto reloaded = load_tokens(cfg);
      if (reloaded) {
        auth->set_tokens(*reloaded);
      } else {
        log::error(reloaded.error().message + "; keeping the tokens loaded before");
      }
      audit->reopen();
      // The spawner re-reads the config file itself (it takes no config from us).
      ops.reload([](Result<void> r) {
        if (!r) log::error("the spawner kept its config", {{"error", r.error().message}});
      });
      wait_hup();
    });
  };
  wait_hup();

  // SIGHUP also reloads the config: valid live keys apply to new workers, an invalid file changes
  // nothing. READY=1 goes out only now: preflight passed and every listener is bound.
  const std::string serving = serving_status(bound);
  SighupReloader reloader(
      ioc, config_path, [&live]() -> const config::Config& { return live; },
      [&live](config::Config next) {
        live = std::move(next);
        log::init(live.log.level, live.log.format);
      },
      &notifier, serving);
  notifier.ready(serving);
  notifier.start_watchdog();

  log::info("paddockd started", {{"version", PADDOCK_VERSION}, {"config", config_path}});
  ioc.run();
  if (upgrade == Upgrade::Ready) {
    // Output reads that completed before the hand-over are delivered now (and what a tree that
    // ended left in its pipes); nothing new is read. Bounded: handlers that keep re-arming
    // (none should) cannot hold the exec back.
    ioc.restart();
    for (int i = 0; i < 1000 && ioc.poll() > 0; ++i) {
    }
    HandoffState state;
    state.generation = services.generation + 1;
    state.started_at_ms = started_at_ms;
    state.spawner_pid = spawner_pid;
    util::UniqueFd spawner_sock = ops.release_socket();
    state.spawner_fd = spawner_sock.get();
    state.notify_fd = notifier.fd();
    state.last_event_id = events.last_id();
    state.listeners = std::move(handed_listeners);
    state.connections = ops.handed_connections();
    state.workers = sup.handoff_records();
    state.preflight = last_report->to_json();
    journal.write_now();
    state.binary_dir_fd = binary->dir.get();
    state.binary_name = binary->name;
    state.binary_shown = binary->shown;
    log::info("upgrade: exec'ing the installed binary",
              {{"binary", binary->shown},
               {"generation", static_cast<std::int64_t>(state.generation)},
               {"workers", state.workers.size()}});
    Error failed = exec_next_image(*binary, config_path, state);
    // Still here: the exec failed. Exit without goodbye; the spawner keeps the workers for the
    // paddockd the service manager starts next ([process] adopt_seconds).
    log::critical("upgrade: exec failed; exiting so the service manager starts paddockd again",
                  {{"error", failed.message}});
    return 1;
  }
  // The admin socket's directory is root's: the spawner removes the socket when it exits.
  // Closing the socket stops the spawner (and whatever still runs under it); wait for it, bounded.
  journal.write_now();
  ops.goodbye();
  ops.close();
  for (int i = 0; i < 500; ++i) {
    if (::waitpid(spawner_pid, nullptr, WNOHANG) != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  log::info("paddockd stopped");
  return exit_code;
}

}  // namespace paddock::daemon
