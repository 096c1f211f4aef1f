#pragma once
/// The daemon's configuration: one immutable value built from TOML, environment overrides and
/// defaults. Section and key names are a contract operators write against (docs/configuration.md).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace paddock::config {

#ifndef PADDOCK_DATADIR
#define PADDOCK_DATADIR "/usr/share/paddock"
#endif

/// Where a value came from: "file:line:col", "env PADDOCK_X" or "" for a default.
struct SourcePos {
  std::string file;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  std::string to_string() const;
};

struct ServerConfig {
  std::vector<std::string> listen{"127.0.0.1:8080"};
  std::string socket = "/run/paddock/paddock.sock";
  std::uint32_t socket_mode = 0660;
  std::string socket_group = "paddock-admin";
  /// The system user the HTTP-facing daemon drops to after start (the spawner stays root).
  std::string user = "paddock";
  std::string token_file = "/etc/paddock/tokens";
  std::uint64_t max_body_bytes = 1024 * 1024;
  std::uint32_t max_header_bytes = 16 * 1024;
  /// Open TCP connections, all listeners together.
  std::uint32_t max_connections = 1024;
  /// Open connections on the admin socket (never taken by TCP).
  std::uint32_t max_admin_connections = 64;
  /// Open TCP connections from one source address; 0 means no such limit.
  std::uint32_t max_connections_per_address = 256;
  /// Above this many open TCP connections, idle ones that never had a request let through are
  /// closed, oldest first.
  std::uint32_t idle_connections_soft_limit = 768;
  /// Bytes queued for one streamed response (log follow, events, run answers) before the
  /// stream is ended for a slow reader.
  std::uint64_t stream_queue_bytes = 1024 * 1024;
  /// Maximum lifetime of a streamed response; 0 means none.
  std::uint32_t stream_max_seconds = 3600;
  std::uint32_t request_timeout_seconds = 30;
  /// The request line and headers must arrive within this time (slowloris); also the idle
  /// timeout of a keep-alive connection between requests.
  std::uint32_t header_timeout_seconds = 10;
  bool metrics_require_token = true;
};

struct ProcessConfig {
  std::string bwrap_path = "/usr/bin/bwrap";
  /// User-mode networking for network "private" workers (Debian package slirp4netns).
  std::string slirp4netns_path = "/usr/bin/slirp4netns";
  /// The network of a worker whose request names none: "private" | "none" | "host".
  std::string default_network = "private";
  /// Whether a worker may have network "host" (the host's loopback, its abstract unix sockets
  /// and every other worker's port are then reachable from it).
  bool allow_host_network = false;
  std::string seccomp_profile = PADDOCK_DATADIR "/seccomp/default.bpf";
  std::string sandbox_profiles_dir = PADDOCK_DATADIR "/sandbox";
  std::string default_profile = "shell";
  std::uint32_t worker_uid_range_start = 60000;
  std::uint32_t worker_uid_range_end = 60999;
  std::uint32_t worker_gid = 65534;
  std::uint32_t port_range_start = 20000;
  std::uint32_t port_range_end = 20999;
  std::vector<std::string> bundle_roots{"/srv/paddock/bundles"};
  std::uint32_t max_workers = 500;
  std::string state_dir = "/var/lib/paddock";
  std::string data_root = "/var/lib/paddock/data";
  std::uint32_t stop_grace_seconds = 10;
  std::uint32_t readiness_timeout_seconds = 60;
  /// When the daemon ends without saying goodbye (killed, crashed), the spawner keeps its
  /// workers this long for a new daemon to adopt; then it stops them. 0: stop them at once.
  std::uint32_t adopt_seconds = 60;
  /// "auto": place workers in cgroup v2 leaves under the daemon's own cgroup when it is
  /// writable (delegated); "off": never touch cgroups (limits are rlimits only).
  std::string cgroup = "auto";
};

struct PreflightConfig {
  bool enforce = true;
  std::string metadata_endpoint = "169.254.169.254:80";
  bool skip_metadata_check = false;
  std::vector<std::string> redis_urls;
  std::string vault_addr;
  std::string database_addr;
  std::uint32_t timeout_seconds = 10;
  /// The paddock-probe helper run inside probe workers; "" finds it next to paddockd, then in
  /// PADDOCK_LIBEXECDIR.
  std::string probe_path;
};

struct LogConfig {
  std::string level = "info";   ///< trace|debug|info|warn|error|critical|off
  std::string format = "auto";  ///< auto (text on a terminal, else json) | text | json
  std::string audit_log = "/var/log/paddock/audit.log";  ///< "" disables the audit log
  std::string worker_log_dir;  ///< "" keeps worker output in memory rings only
  std::uint64_t worker_log_max_bytes = 10 * 1024 * 1024;
  std::uint64_t worker_log_ring_bytes = 256 * 1024;
  /// Memory of all rings together; past it the oldest lines of the largest rings leave memory
  /// (served from the worker's log file when there is one). 0: no daemon-wide bound.
  std::uint64_t max_ring_bytes_total = 32 * 1024 * 1024;
};

/// Per-worker defaults; a request may lower them (and raise them up to these values).
struct LimitsConfig {
  std::uint32_t memory_mb = 512;
  double cpus = 1.0;
  std::uint32_t pids = 256;
  std::uint32_t nofile = 1024;
  std::uint32_t tmp_mb = 64;
  std::uint32_t wall_seconds = 0;  ///< 0: no wall-clock limit
};

/// The store of uploaded bundles (POST /v1/bundles) and the limits on one archive.
struct BundlesConfig {
  /// The store directory. It and every parent must be searchable (o+x) by the worker UIDs,
  /// because bwrap opens a bound bundle as the worker: keep it out of state_dir (0700).
  std::string dir = "/var/lib/paddock-bundles";
  std::uint64_t max_total_bytes = 8ULL << 30;      ///< extracted bytes of all bundles
  std::uint64_t max_archive_bytes = 256ULL << 20;  ///< one uploaded archive
  std::uint64_t max_extracted_bytes = 1ULL << 30;  ///< one archive's extracted files
  std::uint64_t max_entries = 100000;              ///< entries in one archive
  std::uint32_t max_path_length = 1024;            ///< bytes of one entry's path
  std::uint32_t max_depth = 64;                    ///< components of one entry's path
};

/// Bounds on a run's "files" and "collect" (POST /v1/runs).
struct RunsConfig {
  /// Network of a run whose request names none: "none" (its own namespace with only a loopback:
  /// no egress, no slirp4netns), "private" or "host", as [process] default_network for workers.
  std::string default_network = "none";
  std::uint64_t max_files = 1000;                   ///< entries in a run's "files"
  std::uint64_t max_files_bytes = 16ULL << 20;      ///< their contents together
  std::uint64_t collect_file_bytes = 8ULL << 20;    ///< one collected file (more is truncated)
  std::uint64_t collect_total_bytes = 32ULL << 20;  ///< all collected files of a run together
};

/// Sandboxes started ahead for runs (POST /v1/runs), per sandbox profile.
struct PoolConfig {
  /// Profile name -> how many parked sandboxes of it to keep ready ({} or 0: none, the default).
  /// Each holds a worker UID (and with network "private" a slirp4netns) while it waits.
  std::map<std::string, std::uint32_t> warm;
  /// The paddock-warm helper parked in each sandbox; "" looks next to paddockd, then in the
  /// libexec directory (as [preflight] probe_path does).
  std::string helper_path;
};

struct Config {
  ServerConfig server;
  ProcessConfig process;
  PreflightConfig preflight;
  LogConfig log;
  LimitsConfig limits;
  BundlesConfig bundles;
  RunsConfig runs;
  PoolConfig pool;
  /// The file the config was read from ("" when built from defaults only).
  std::string source_file;
  /// "section.key" -> where its value came from; absent keys kept their defaults.
  std::map<std::string, SourcePos> origins;
};

}  // namespace paddock::config
