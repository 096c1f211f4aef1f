#include "paddock/sandbox/plan.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <set>

#include "paddock/config/loader.hpp"
#include "paddock/sandbox/env.hpp"
#include "paddock/sandbox/paths.hpp"

namespace paddock::sandbox {

namespace {

constexpr std::uint64_t kMiB = 1024ULL * 1024ULL;
/// bwrap itself and its init process in the new pid namespace count against RLIMIT_NPROC.
constexpr std::uint32_t kBwrapProcesses = 2;
/// A warm sandbox's helper, which waits for the run's command beside it (warm.hpp).
constexpr std::uint32_t kWarmHelperProcesses = 1;
/// slirp4netns and the port relay (network "private" / "none").
constexpr std::uint32_t kNetHelperProcesses = 2;
constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

Error internal(const std::string& message) { return make_error("internal", message); }

std::string to_octal_perms(unsigned mode) {
  std::string s = "0000";
  for (int i = 3; i >= 1; --i) {
    s[static_cast<std::size_t>(i)] = static_cast<char>('0' + (mode & 7U));
    mode >>= 3U;
  }
  return s;
}

std::string passwd_text(uid_t uid, gid_t gid, const std::string& home) {
  std::string s = "worker:x:" + std::to_string(uid) + ":" + std::to_string(gid) +
                  ":paddock worker:" + home + ":/bin/sh\n";
  s += "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
  return s;
}

std::string group_text(gid_t gid) {
  std::string s;
  if (gid != 65534) s += "worker:x:" + std::to_string(gid) + ":\n";
  s += "nogroup:x:65534:\n";
  return s;
}

/// Rejects a host path that is, contains or lies inside a sensitive path.
Result<void> check_source(const std::string& source, const std::vector<std::string>& sensitive,
                          const std::string& what) {
  if (!is_normal_absolute_path(source)) {
    return make_error("invalid_profile", what + " '" + source + "' is not a clean absolute path");
  }
  if (source == "/") {
    return make_error("invalid_profile",
                      what + " is the host root '/'; the host root is never mounted");
  }
  for (const auto& s : sensitive) {
    if (path_is_within(source, s) || path_is_within(s, source)) {
      return make_error("invalid_profile",
                        what + " '" + source + "' would expose '" + s +
                            "', which belongs to the daemon or another worker; mount a narrower "
                            "directory");
    }
  }
  return {};
}

}  // namespace

bool is_valid_worker_id(std::string_view id) { return is_plain_name(id); }

std::vector<std::string> sensitive_paths(const config::Config& cfg) {
  std::set<std::string> out;
  auto add = [&](const std::string& p) {
    if (is_normal_absolute_path(p) && p != "/") out.insert(p);
  };
  add(parent_dir(config::kDefaultConfigPath));
  if (!cfg.source_file.empty()) {
    add(cfg.source_file);
    add(parent_dir(cfg.source_file));
  }
  add(cfg.process.state_dir);
  add(cfg.process.data_root);
  if (!cfg.server.socket.empty()) {
    add(cfg.server.socket);
    add(parent_dir(cfg.server.socket));
  }
  add(cfg.server.token_file);
  if (!cfg.log.audit_log.empty()) {
    add(cfg.log.audit_log);
    add(parent_dir(cfg.log.audit_log));
  }
  if (!cfg.log.worker_log_dir.empty()) add(cfg.log.worker_log_dir);
  return {out.begin(), out.end()};
}

namespace {

Result<NetworkMode> resolve_network(const std::optional<NetworkMode>& requested,
                                    const std::string& default_network,
                                    const config::ProcessConfig& pc) {
  NetworkMode mode = NetworkMode::Private;
  if (requested) {
    mode = *requested;
  } else if (auto d = parse_network_mode(default_network); d) {
    mode = *d;
  } else {
    return d.error();
  }
  if (mode == NetworkMode::Host && !pc.allow_host_network) {
    return make_error("invalid_request",
                      "network \"host\" is disabled on this daemon (it would let the worker reach "
                      "the host's loopback services and other workers' ports); use \"private\" "
                      "(egress) or \"none\", or ask the operator to set [process] "
                      "allow_host_network",
                      "network");
  }
  return mode;
}

}  // namespace

Result<NetworkMode> resolve_network(const std::optional<NetworkMode>& requested,
                                    const config::ProcessConfig& pc) {
  return resolve_network(requested, pc.default_network, pc);
}

Result<NetworkMode> resolve_run_network(const std::optional<NetworkMode>& requested,
                                        const config::Config& cfg) {
  return resolve_network(requested, cfg.runs.default_network, cfg.process);
}

Result<SandboxPlan> make_plan(const WorkerSpec& spec, const SandboxProfile& profile,
                              const config::Config& cfg, const Allocation& alloc) {
  const auto& pc = cfg.process;
  SandboxPlan plan;
  plan.worker_id = alloc.worker_id;
  plan.bwrap_path = pc.bwrap_path;
  plan.uid = alloc.uid;
  plan.gid = pc.worker_gid;
  plan.port = alloc.port;
  auto network = resolve_network(spec.network, pc);
  if (!network) return network.error();
  plan.network = *network;
  plan.slirp4netns_path = pc.slirp4netns_path;

  if (!is_valid_worker_id(alloc.worker_id)) {
    return internal("worker id '" + alloc.worker_id + "' must be 1-64 of [A-Za-z0-9_-]");
  }
  if (alloc.uid < pc.worker_uid_range_start || alloc.uid > pc.worker_uid_range_end) {
    return internal("uid " + std::to_string(alloc.uid) + " is outside the worker range " +
                    std::to_string(pc.worker_uid_range_start) + "-" +
                    std::to_string(pc.worker_uid_range_end));
  }
  if (plan.gid == 0) return internal("worker_gid 0 (root's group) is refused");
  {
    const std::set<int> numbers{alloc.seccomp_fd, alloc.status_fd, alloc.passwd_fd,
                                alloc.group_fd,   alloc.args_fd,   alloc.helper_fd,
                                alloc.bundle_fd,  alloc.data_fd,   alloc.warm_control_fd};
    if (numbers.size() != 9 || *numbers.begin() < 3) {
      return internal("the fd numbers for bwrap must be distinct and >= 3");
    }
  }
  if (spec.port != alloc.port.has_value()) {
    return internal(spec.port ? "the spec asks for a port but none was allocated"
                              : "a port was allocated for a spec that asked for none");
  }
  const std::string data_mount =
      profile.data_mount.empty() && alloc.run_workdir ? kRunWorkdirMount : profile.data_mount;
  if (!data_mount.empty() && !is_normal_absolute_path(pc.data_root)) {
    return make_error("invalid_config", "[process] data_root must be an absolute path",
                      "process.data_root");
  }

  auto limits = resolve_limits(spec.limits, cfg.limits);
  if (!limits) return limits.error();
  plan.limits = *limits;

  auto env_ok = check_request_env(spec.env, profile.env_allow, profile.name);
  if (!env_ok) return env_ok.error();

  // The command.
  plan.command = spec.command.empty() ? profile.command : spec.command;
  if (plan.command.empty() || plan.command[0].empty()) {
    return make_error("invalid_request", "command is empty and the profile has no default",
                      "command");
  }
  if (plan.command.size() > 4096) {
    return make_error("invalid_request", "command has more than 4096 arguments", "command");
  }
  for (const auto& arg : plan.command) {
    if (arg.find('\0') != std::string::npos) {
      return make_error("invalid_request", "a command argument contains a NUL byte", "command");
    }
  }

  // What gets mounted from the host, each source checked against the sensitive paths.
  const auto sensitive = sensitive_paths(cfg);
  for (const auto& p : profile.ro_paths) {
    auto r = check_source(p, sensitive, "ro_paths entry");
    if (!r) return r.error();
  }
  for (const auto& p : profile.ro_paths_try) {
    auto r = check_source(p, sensitive, "ro_paths_try entry");
    if (!r) return r.error();
  }
  if (!spec.bundle.empty()) {
    if (spec.bundle.front() == '/') {
      // A host path; anything else is an uploaded bundle's id, resolved by the store.
      auto lexical = check_bundle_path_lexical(spec.bundle, pc.bundle_roots);
      if (!lexical) return lexical.error();
    }
    if (alloc.bundle_path.empty()) {
      return internal("the bundle was not resolved (call resolve_bundle_path first)");
    }
    auto r = check_source(alloc.bundle_path, sensitive, "bundle");
    if (!r) {
      Error e = r.error();
      e.code = "invalid_bundle";
      e.field = "bundle";
      return e;
    }
    plan.bundle_path = alloc.bundle_path;
  } else if (!alloc.bundle_path.empty()) {
    return internal("a bundle path was allocated for a spec without a bundle");
  }
  if (!data_mount.empty()) {
    plan.data_dir = pc.data_root + "/" + alloc.worker_id;
  }

  // The workload's environment: profile, then request, then what the daemon sets.
  plan.sandbox_env = profile.env;
  if (plan.sandbox_env.count("PATH") == 0) plan.sandbox_env["PATH"] = kDefaultPath;
  for (const auto& [k, v] : spec.env) plan.sandbox_env[k] = v;
  plan.sandbox_env["HOME"] = profile.home;
  if (alloc.port) plan.sandbox_env["PORT"] = std::to_string(*alloc.port);

  if (alloc.run_workdir) {
    plan.cwd = data_mount;
  } else if (!profile.workdir.empty()) {
    plan.cwd = profile.workdir;
  } else {
    plan.cwd = plan.bundle_path.empty() ? profile.home : profile.bundle_mount;
  }

  // bwrap's own environment.
  plan.envp = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"};

  auto& a = plan.argv;
  a = {pc.bwrap_path,   "--unshare-user", "--unshare-pid",
       "--unshare-ipc", "--unshare-uts",  "--unshare-cgroup-try"};
  if (plan.network != NetworkMode::Host) a.push_back("--unshare-net");
  a.insert(a.end(), {"--disable-userns", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
                     "--hostname", profile.hostname, "--clearenv"});
  for (const auto& [k, v] : plan.sandbox_env) a.insert(a.end(), {"--setenv", k, v});
  for (const auto& p : profile.ro_paths) a.insert(a.end(), {"--ro-bind", p, p});
  for (const auto& p : profile.ro_paths_try) a.insert(a.end(), {"--ro-bind-try", p, p});
  for (const auto& [target, link] : profile.symlinks)
    a.insert(a.end(), {"--symlink", target, link});
  // /dev/shm and /tmp are the sandbox's only writable tmpfs mounts, each capped at tmp_mb; /dev
  // itself (bwrap's tmpfs holding the device nodes) and / are remounted read-only below.
  const std::string tmp_bytes = std::to_string(std::uint64_t{plan.limits.tmp_mb} * kMiB);
  a.insert(a.end(), {"--proc", "/proc", "--dev", "/dev", "--size", tmp_bytes, "--tmpfs", "/dev/shm",
                     "--remount-ro", "/dev", "--size", tmp_bytes, "--tmpfs", "/tmp"});
  if (profile.passwd) {
    plan.fds.push_back(
        {alloc.passwd_fd, FdRole::Data, passwd_text(plan.uid, plan.gid, profile.home)});
    plan.fds.push_back({alloc.group_fd, FdRole::Data, group_text(plan.gid)});
    a.insert(a.end(),
             {"--perms", to_octal_perms(0444), "--ro-bind-data", std::to_string(alloc.passwd_fd),
              "/etc/passwd", "--perms", to_octal_perms(0444), "--ro-bind-data",
              std::to_string(alloc.group_fd), "/etc/group"});
  }
  if (!alloc.helper_program.empty()) {
    plan.fds.push_back({alloc.helper_fd, FdRole::Data, alloc.helper_program});
    a.insert(a.end(), {"--perms", to_octal_perms(0555), "--ro-bind-data",
                       std::to_string(alloc.helper_fd), kHelperProgramPath});
  }
  if (!plan.bundle_path.empty()) {
    // By descriptor: bwrap 0.8 turns it back into the directory's current path, which follows
    // the directory through renames and exchanges after the spawner opened it.
    plan.fds.push_back({alloc.bundle_fd, FdRole::PathSource, plan.bundle_path});
    a.insert(a.end(), {"--ro-bind-fd", std::to_string(alloc.bundle_fd), profile.bundle_mount});
  }
  if (!plan.data_dir.empty()) {
    plan.fds.push_back({alloc.data_fd, FdRole::PathSource, plan.data_dir});
    a.insert(a.end(), {"--bind-fd", std::to_string(alloc.data_fd), data_mount});
  }
  // Every mount point exists now: the root tmpfs (with /etc/passwd, the symlinks and the mount
  // points) becomes read-only, so nothing but /tmp, /dev/shm and the data mount takes writes.
  a.insert(a.end(), {"--remount-ro", "/", "--chdir", plan.cwd});
  plan.fds.push_back({alloc.seccomp_fd, FdRole::Seccomp, {}});
  plan.fds.push_back({alloc.status_fd, FdRole::Status, {}});
  if (alloc.warm_control) plan.fds.push_back({alloc.warm_control_fd, FdRole::WarmControl, {}});
  a.insert(a.end(), {"--seccomp", std::to_string(alloc.seccomp_fd), "--json-status-fd",
                     std::to_string(alloc.status_fd), "--"});
  // Where the options end: an option value (an env value, say) may itself be "--".
  const auto options_end = static_cast<std::ptrdiff_t>(a.size()) - 1;
  a.insert(a.end(), plan.command.begin(), plan.command.end());

  // The options go to bwrap through --args (it reads and closes the descriptor); only the
  // command stays on its command line, where bwrap needs it.
  std::string options;
  const auto dashdash = a.begin() + options_end;
  for (auto it = a.begin() + 1; it != dashdash; ++it) {
    options += *it;
    options += '\0';
  }
  plan.fds.push_back({alloc.args_fd, FdRole::Data, std::move(options)});
  plan.exec_argv = {pc.bwrap_path, "--args", std::to_string(alloc.args_fd)};
  plan.exec_argv.insert(plan.exec_argv.end(), dashdash, a.end());

  // Resource limits applied by the spawner before exec.
  // RLIMIT_NPROC counts every process of the uid: the network helpers run as the worker too.
  const std::uint64_t nproc = std::uint64_t{plan.limits.pids} + kBwrapProcesses +
                              (alloc.warm_control ? kWarmHelperProcesses : 0) +
                              (plan.network == NetworkMode::Host ? 0 : kNetHelperProcesses);
  plan.rlimits = {
      {RLIMIT_NPROC, nproc, nproc},
      {RLIMIT_NOFILE, plan.limits.nofile, plan.limits.nofile},
      {RLIMIT_CORE, 0, 0},
      {RLIMIT_FSIZE, std::uint64_t{plan.limits.tmp_mb} * kMiB,
       std::uint64_t{plan.limits.tmp_mb} * kMiB},
  };
  if (profile.rlimit_as_mb) {
    plan.rlimits.push_back({RLIMIT_AS, *profile.rlimit_as_mb * kMiB, *profile.rlimit_as_mb * kMiB});
  }
  if (profile.rlimit_cpu_seconds) {
    plan.rlimits.push_back({RLIMIT_CPU, *profile.rlimit_cpu_seconds, *profile.rlimit_cpu_seconds});
  }
  return plan;
}

}  // namespace paddock::sandbox
