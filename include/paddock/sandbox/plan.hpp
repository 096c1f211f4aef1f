#pragma once
/// make_plan: the pure function that turns a request, a sandbox profile and the config into the
/// exact bwrap invocation. The argv is the security model; tests assert its properties.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "paddock/config/config.hpp"
#include "paddock/sandbox/profile.hpp"
#include "paddock/sandbox/worker_spec.hpp"
#include "paddock/util/result.hpp"

namespace paddock::sandbox {

/// What the daemon allocated for one worker before planning it.
struct Allocation {
  std::string worker_id;              ///< [A-Za-z0-9_-]{1,64}; names the per-worker data dir
  uid_t uid = 0;                      ///< from the UID pool; must be inside the configured range
  std::optional<std::uint16_t> port;  ///< from the port pool, when the spec asked for one
  /// The bundle after resolve_bundle_path() (symlinks resolved, re-checked); "" when none.
  std::string bundle_path;
  /// Descriptor numbers the child hands to bwrap (all >= 3 and distinct).
  int seccomp_fd = 3;
  int status_fd = 4;         ///< bwrap --json-status-fd
  int passwd_fd = 5;         ///< --ro-bind-data source for /etc/passwd (when the profile wants one)
  int group_fd = 6;          ///< --ro-bind-data source for /etc/group
  int args_fd = 7;           ///< --args: bwrap's options, NUL-separated, kept out of its argv
  int helper_fd = 8;         ///< --ro-bind-data source for helper_program
  int bundle_fd = 9;         ///< --ro-bind-fd source for the bundle
  int data_fd = 10;          ///< --bind-fd source for the data directory
  int warm_control_fd = 11;  ///< a warm sandbox's control socket (see warm.hpp)
  /// A program the daemon read itself (preflight's paddock-probe), placed in the sandbox at
  /// kHelperProgramPath, read-only and executable; "" when none. Copied, not bind-mounted, so
  /// the worker UID needs no permission on the helper's host path, and /tmp cannot hide it.
  std::string helper_program;
  /// A run with files or collect: its working directory is data_root/<worker_id>, mounted
  /// read-write at the profile's data_mount or, without one, at /work, and used as the cwd.
  bool run_workdir = false;
  /// A parked sandbox ([pool] warm): bwrap passes the helper one end of a socket pair at
  /// warm_control_fd, and the helper's own process counts against the limits.
  bool warm_control = false;
};

/// Where Allocation::helper_program appears inside the sandbox.
inline constexpr const char* kHelperProgramPath = "/run/paddock/helper";

/// Where a run's working directory (Allocation::run_workdir) appears when the profile has no
/// data_mount.
inline constexpr const char* kRunWorkdirMount = "/work";

/// One resource limit applied in the child before exec (values as for setrlimit).
struct Rlimit {
  int resource = 0;  ///< RLIMIT_*
  std::uint64_t soft = 0;
  std::uint64_t hard = 0;
  bool operator==(const Rlimit&) const = default;
};

/// What a descriptor handed to bwrap carries.
enum class FdRole {
  Seccomp,  ///< the compiled BPF program (the spawner fills it)
  Status,   ///< write end of a pipe for --json-status-fd (the daemon keeps the read end)
  Data,     ///< a file's contents given in `data` (e.g. /etc/passwd)
  /// A directory opened by the spawner just before the fork, O_PATH, with
  /// openat2(RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) on the host path in `data` (for
  /// --ro-bind-fd): a path that holds a symlink now fails the spawn.
  PathSource,
  /// One end of a fresh AF_UNIX socket pair, passed through bwrap to the workload (a warm
  /// sandbox's helper); the spawner keeps the other end.
  WarmControl,
};

struct PlannedFd {
  int target = -1;  ///< the number bwrap sees
  FdRole role = FdRole::Data;
  std::string data;  ///< contents for FdRole::Data
};

/// Everything the spawner needs; nothing in it depends on the daemon's own state.
struct SandboxPlan {
  std::string worker_id;
  std::string bwrap_path;
  /// What bwrap parses: argv[0] is bwrap_path; ends with "--" and the command. Properties of
  /// the sandbox are asserted on this list.
  std::vector<std::string> argv;
  /// What is executed: bwrap_path, "--args", the args_fd number, "--" and the command. The
  /// options (argv between argv[0] and "--", including every --setenv value) travel in a
  /// sealed memfd (an FdRole::Data entry at args_fd), so `ps` and /proc/PID/cmdline of bwrap
  /// and of the sandbox's pid 1 show none of them.
  std::vector<std::string> exec_argv;
  /// bwrap's own environment: only PATH and LANG (bwrap's environ is readable inside at
  /// /proc/1/environ, so nothing of the daemon's environment may reach it).
  std::vector<std::string> envp;
  std::vector<PlannedFd> fds;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<Rlimit> rlimits;
  std::string cwd;                                 ///< inside the sandbox (--chdir)
  std::map<std::string, std::string> sandbox_env;  ///< what the workload's environment holds
  std::vector<std::string> command;                ///< the workload's argv
  std::optional<std::uint16_t> port;
  /// "private" and "none": the sandbox has its own network namespace (--unshare-net); a port is
  /// then served by the daemon through a bridge into that namespace, and "private" gets egress
  /// through slirp4netns (slirp4netns_path) started as the worker.
  NetworkMode network = NetworkMode::Private;
  std::string slirp4netns_path;
  std::string bundle_path;  ///< host path mounted read-only ("" when none)
  std::string data_dir;     ///< host path of the per-worker writable dir ("" when none)
  Limits limits;
};

/// Host paths a plan must never mount (nor any parent or child of them), taken from the config:
/// the config file's directory, state_dir, the socket's directory, the token file, data_root
/// (other workers' dirs), the audit log's directory and worker_log_dir.
std::vector<std::string> sensitive_paths(const config::Config& cfg);

/// The network a worker gets: the requested one, else [process] default_network. "host" is an
/// error (code "invalid_request", field "network") unless allow_host_network is set. Pure.
Result<NetworkMode> resolve_network(const std::optional<NetworkMode>& requested,
                                    const config::ProcessConfig& pc);
/// The same for a run (POST /v1/runs): its default is [runs] default_network.
Result<NetworkMode> resolve_run_network(const std::optional<NetworkMode>& requested,
                                        const config::Config& cfg);

/// Builds the plan. Pure: no syscalls, no filesystem access. Fails (codes "invalid_request",
/// "env_not_allowed", "invalid_bundle", "limit_too_high", "invalid_profile") when the spec or
/// the profile would break a rule: env outside the allowlist, a bind of /, a bind touching a
/// sensitive path, a uid outside the range, and so on.
Result<SandboxPlan> make_plan(const WorkerSpec& spec, const SandboxProfile& profile,
                              const config::Config& cfg, const Allocation& alloc);

/// True for [A-Za-z0-9_-]{1,64}.
bool is_valid_worker_id(std::string_view id);

}  // namespace paddock::sandbox
