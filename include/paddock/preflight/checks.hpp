#pragma once
/// The individual checks. Each has a pure evaluate_*() that turns facts into a CheckResult (unit
/// tested with fixtures and fakes) and a check_*() that gathers the facts from a Context.

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "paddock/config/config.hpp"
#include "paddock/config/loader.hpp"
#include "paddock/preflight/host_fs.hpp"
#include "paddock/preflight/net.hpp"
#include "paddock/preflight/result.hpp"
#include "paddock/preflight/sandbox_probe.hpp"

namespace paddock::preflight {

/// What every check may look at.
struct Context {
  Context(const config::Config& c, const HostFs& f) : cfg(c), fs(f) {}
  const config::Config& cfg;
  const HostFs& fs;
  /// nullptr: checks that need a sandbox report that they could not run one.
  SandboxProber* prober = nullptr;
  bool as_root = true;
  /// Names of the daemon's environment variables (sandbox_canary looks for them inside).
  std::vector<std::string> daemon_env_names;
  /// Worker UIDs the caller's own workers hold now (uid_range does not report them).
  std::set<uid_t> worker_uids_in_use;
  /// The per-check budget ([preflight] timeout_seconds).
  std::chrono::milliseconds timeout{10000};
};

// ---- bwrap_available --------------------------------------------------------------------------

/// "bubblewrap 0.8.0" -> {0, 8, 0}; nullopt when no version is in the text.
std::optional<std::array<int, 3>> parse_bwrap_version(std::string_view text);

struct BwrapFacts {
  std::string path;
  bool exists = false;
  bool executable = false;
  bool setuid_root = false;    ///< owned by root with the set-user-ID bit
  std::string version_output;  ///< stdout of `bwrap --version`
  std::string run_error;       ///< why `bwrap --version` could not be run ("" when it ran)
};

/// Missing, not executable, unrunnable or older than 0.8 -> error; setuid root -> warning
/// naming the options bwrap refuses in setuid mode; else ok with the version in details.
CheckResult evaluate_bwrap(const BwrapFacts& facts);
CheckResult check_bwrap_available(const Context& ctx);

// ---- user_namespaces --------------------------------------------------------------------------

struct UsernsFacts {
  std::optional<long> max_user_namespaces;        ///< /proc/sys/user/max_user_namespaces
  std::optional<long> unprivileged_userns_clone;  ///< Debian's kernel.unprivileged_userns_clone
  /// Ubuntu's kernel.apparmor_restrict_unprivileged_userns (absent elsewhere).
  std::optional<long> apparmor_restrict;
  /// A profile whose name starts with "paddock" is loaded (/sys/kernel/security/apparmor/profiles).
  bool apparmor_paddock_profile = false;
  /// The real start of a sandbox: ran = false when it was not attempted (not root / no prober).
  bool start_attempted = false;
  bool start_ok = false;
  std::string start_detail;  ///< what went wrong, or what the sandbox printed
};

/// Reads the sysctls and the AppArmor profile list through `fs`.
UsernsFacts gather_userns_host_facts(const HostFs& fs);
/// max_user_namespaces 0, unprivileged_userns_clone 0, or the AppArmor restriction without the
/// paddock profile -> error; a failed real start -> error; not attempted -> warning.
CheckResult evaluate_userns(const UsernsFacts& facts);
CheckResult check_user_namespaces(const Context& ctx);

// ---- seccomp_profile --------------------------------------------------------------------------

/// seccomp::validate_bpf_file on [process] seccomp_profile: error with its message, or ok with
/// sha256, size and instructions in details.
CheckResult check_seccomp_profile(const Context& ctx);

// ---- uid_range --------------------------------------------------------------------------------

/// A process on the host and its four UIDs (real, effective, saved, filesystem).
struct ProcessUids {
  pid_t pid = 0;
  std::array<uid_t, 4> uids{};
};

/// Reads every <fs>/proc/<pid>/status (Uid: line); vanished processes are skipped.
std::vector<ProcessUids> scan_processes(const HostFs& fs);

struct UidRangeFacts {
  uid_t first = 0;
  uid_t last = 0;
  gid_t gid = 0;
  std::vector<config::HostFacts::Account> accounts;  ///< /etc/passwd
  std::vector<ProcessUids> processes;
  std::set<uid_t> ignore_uids;  ///< UIDs held by the daemon's own workers
};

/// systemd's reserved ranges: 60001-60513 (systemd-homed), 61184-65519 (DynamicUser=).
struct ReservedRange {
  uid_t first;
  uid_t last;
  const char* owner;
};
const std::vector<ReservedRange>& systemd_reserved_ranges();

/// An account in the range or gid 0 -> error; a process under a range UID (other than
/// ignore_uids) or an overlap with a systemd range -> warning; else ok.
CheckResult evaluate_uid_range(const UidRangeFacts& facts);
CheckResult check_uid_range(const Context& ctx);

// ---- bwrap_host_uid_mapping -------------------------------------------------------------------

/// Not root -> info (workers cannot get their own UIDs; per-worker isolation then rests on
/// cgroup delegation); an observation whose Uid: fields are not all the allocated UID (or a
/// failure to observe) -> error; else ok.
CheckResult evaluate_uid_mapping(bool as_root, const Result<UidObservation>& observed);
CheckResult check_bwrap_host_uid_mapping(const Context& ctx);

// ---- cloud_metadata ---------------------------------------------------------------------------

/// The iptables and nftables rules that keep workers (group `gid`) from host:port (port 0: all
/// ports), one per line.
std::string firewall_rules(gid_t gid, const std::string& address, std::uint16_t port);

/// skip -> info; endpoint reachable from the daemon -> error with the rules; else ok.
CheckResult evaluate_cloud_metadata(const config::Config& cfg, bool skipped,
                                    const ConnectOutcome& outcome);
/// Connects to [preflight] metadata_endpoint from the daemon (at most 2 s).
CheckResult check_cloud_metadata(const Context& ctx);

// ---- redis_auth -------------------------------------------------------------------------------

/// One configured URL and what probing it found.
struct RedisFinding {
  std::string url;  ///< as configured, credentials removed
  Result<RedisUrl> parsed = RedisUrl{};
  RedisProbe probe;  ///< unused for rediss:// and unparsable URLs
};

/// Removes "user:pass@" from a URL for display.
std::string redact_url(std::string_view url);

/// Per URL: +PONG -> error, -NOAUTH -> ok, rediss:// -> info, unreachable -> warning, other
/// answers and unparsable URLs -> warning. The result is the worst of them; no URLs -> ok.
CheckResult evaluate_redis(const std::vector<RedisFinding>& findings);
CheckResult check_redis_auth(const Context& ctx);

// ---- cgroup_delegation ------------------------------------------------------------------------

struct CgroupFacts {
  std::optional<std::string> cgroup2_mount;  ///< where cgroup2 is mounted (nullopt: nowhere)
  bool v1_controllers_mounted = false;       ///< a cgroup v1 hierarchy with controllers is mounted
  std::string own_cgroup;                    ///< the "0::" path of /proc/self/cgroup ("" if none)
  std::vector<std::string> controllers;      ///< cgroup.controllers of the daemon's cgroup
  bool writable = false;                     ///< the daemon may create cgroups below its own
  bool delegated = false;              ///< systemd marked the cgroup delegated (trusted.delegate=1)
  bool iptables_cgroup_match = false;  ///< /proc/net/ip_tables_matches or an xt_cgroup module
};

/// Reads /proc/self/mounts, /proc/self/cgroup, cgroup.controllers, the delegate xattr,
/// /proc/net/ip_tables_matches and the xt_cgroup module through `fs`.
CgroupFacts gather_cgroup_facts(const HostFs& fs);

/// The workers' parent cgroup: <mount><own>/workers.
std::string workers_cgroup_path(const CgroupFacts& facts);

/// cgroup2 unified, delegated, writable, memory+cpu+pids available and the iptables cgroup
/// match present -> ok with the `iptables -m cgroup --path` recipe; no cgroup2, a hybrid
/// hierarchy, missing controllers, not delegated or not writable -> warning with what to do;
/// no iptables cgroup match -> info.
CheckResult evaluate_cgroup(const CgroupFacts& facts, gid_t worker_gid);
CheckResult check_cgroup_delegation(const Context& ctx);

// ---- worker_network ---------------------------------------------------------------------------

struct WorkerNetworkFacts {
  std::string default_network;                ///< [process] default_network
  std::string runs_default_network = "none";  ///< [runs] default_network
  bool allow_host_network = false;
  std::string slirp4netns_path;
  bool slirp4netns_runs = false;     ///< `slirp4netns --version` exited 0
  std::string slirp4netns_version;   ///< its first line
  std::string slirp4netns_error;     ///< why it could not be run
  std::optional<unsigned> tun_mode;  ///< st_mode & 07777 of /dev/net/tun; nullopt when absent
  bool userns_ok = true;             ///< the user_namespaces sysctls allow unprivileged ones
};

/// What network "private" needs (slirp4netns runnable, /dev/net/tun open to other UIDs: mode
/// o+rw, unprivileged user namespaces): each missing piece -> error when [process] or [runs]
/// default_network is "private", else warning, with the remedy. allow_host_network -> at least
/// a warning saying what a worker can then reach. Else ok.
CheckResult evaluate_worker_network(const WorkerNetworkFacts& facts);
CheckResult check_worker_network(const Context& ctx);

// ---- worker_egress ----------------------------------------------------------------------------

/// An endpoint a worker should not reach.
struct EgressTarget {
  std::string kind;   ///< "metadata", "redis", "vault", "database"
  std::string label;  ///< as configured (URL credentials removed)
  std::string host;   ///< host as configured
  std::uint16_t port = 0;
  std::string address;  ///< numeric address handed to the probe ("" when it did not resolve)
  std::string problem;  ///< why it is not probed ("" when it is)
};

/// The configured endpoints: metadata_endpoint, each redis_urls entry, vault_addr,
/// database_addr, each resolved to one numeric address. Nothing else is ever probed.
std::vector<EgressTarget> egress_targets(const config::Config& cfg);

/// "1.2.3.4:80" or "[::1]:80".
std::string probe_address(const std::string& numeric, std::uint16_t port);

/// Each probed target is reachable or not per the helper's "connect ADDR reachable|unreachable"
/// lines: metadata reachable -> error; another reachable -> warning with the rule to add; a
/// target the helper did not report, or a failed probe -> error; nothing to probe -> ok.
CheckResult evaluate_egress(const std::vector<EgressTarget>& targets, const Result<ProbeRun>& probe,
                            gid_t worker_gid);
CheckResult check_worker_egress(const Context& ctx);

// ---- sandbox_canary ---------------------------------------------------------------------------

/// Items the helper's "canary" mode reports and the verdict each must have.
const std::vector<std::pair<std::string, std::string>>& canary_expectations();

/// Every item with its expected verdict -> ok; any other verdict, a missing item or a failed
/// run -> error naming each surprise.
CheckResult evaluate_canary(const Result<ProbeRun>& probe);
CheckResult check_sandbox_canary(const Context& ctx);

}  // namespace paddock::preflight
