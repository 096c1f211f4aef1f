#include <charconv>
#include <sstream>

#include "paddock/preflight/checks.hpp"
#include "paddock/util/strings.hpp"

namespace paddock::preflight {

namespace {

std::optional<long> read_long(const HostFs& fs, const std::string& path) {
  auto text = fs.read_file(path);
  if (!text) return std::nullopt;
  std::string t = *text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  long v = 0;
  const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc{} || ptr != t.data() + t.size()) return std::nullopt;
  return v;
}

}  // namespace

UsernsFacts gather_userns_host_facts(const HostFs& fs) {
  UsernsFacts f;
  f.max_user_namespaces = read_long(fs, "/proc/sys/user/max_user_namespaces");
  f.unprivileged_userns_clone = read_long(fs, "/proc/sys/kernel/unprivileged_userns_clone");
  f.apparmor_restrict = read_long(fs, "/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
  if (auto profiles = fs.read_file("/sys/kernel/security/apparmor/profiles")) {
    std::istringstream in(*profiles);
    std::string line;
    while (std::getline(in, line)) {
      if (util::starts_with(line, "paddock")) f.apparmor_paddock_profile = true;
    }
  }
  return f;
}

CheckResult evaluate_userns(const UsernsFacts& f) {
  CheckResult r;
  auto opt = [](const std::optional<long>& v) -> nlohmann::json {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  r.details = {{"max_user_namespaces", opt(f.max_user_namespaces)},
               {"unprivileged_userns_clone", opt(f.unprivileged_userns_clone)},
               {"apparmor_restrict_unprivileged_userns", opt(f.apparmor_restrict)},
               {"apparmor_paddock_profile", f.apparmor_paddock_profile},
               {"sandbox_started", f.start_attempted ? nlohmann::json(f.start_ok) : nullptr}};
  if (!f.max_user_namespaces) {
    r.severity = Severity::Error;
    r.message = "/proc/sys/user/max_user_namespaces is missing: the kernel has no user namespaces";
    r.remedy =
        "run paddock on a kernel built with CONFIG_USER_NS (Debian 12 and Ubuntu 24.04 "
        "kernels are)";
    return r;
  }
  if (*f.max_user_namespaces <= 0) {
    r.severity = Severity::Error;
    r.message = "user.max_user_namespaces is 0: bwrap cannot create the workers' user namespaces";
    r.remedy = "sysctl -w user.max_user_namespaces=15000 and persist it in /etc/sysctl.d/";
    return r;
  }
  if (f.unprivileged_userns_clone && *f.unprivileged_userns_clone == 0) {
    r.severity = Severity::Error;
    r.message =
        "kernel.unprivileged_userns_clone is 0: bwrap running as a worker UID cannot "
        "create a user namespace";
    r.remedy = "sysctl -w kernel.unprivileged_userns_clone=1 and persist it in /etc/sysctl.d/";
    return r;
  }
  if (f.apparmor_restrict && *f.apparmor_restrict != 0 && !f.apparmor_paddock_profile) {
    r.severity = Severity::Error;
    r.message =
        "kernel.apparmor_restrict_unprivileged_userns = 1 and no paddock AppArmor "
        "profile is loaded: AppArmor denies bwrap the workers' user namespaces";
    r.remedy = "paddock install-apparmor";
    return r;
  }
  if (!f.start_attempted) {
    r.severity = Severity::Warning;
    r.message =
        "user namespaces are enabled, but no sandbox was started to prove it: " + f.start_detail;
    r.remedy = "run the daemon (or paddockd preflight) as root so a probe worker can start";
    return r;
  }
  if (!f.start_ok) {
    r.severity = Severity::Error;
    r.message = "a probe worker could not be started: " + f.start_detail;
    r.remedy =
        "check bwrap_available and the message above; try the same as a worker UID: "
        "setpriv --reuid 60000 --regid 65534 --clear-groups bwrap --unshare-user "
        "--ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink "
        "usr/lib64 /lib64 true";
    return r;
  }
  r.message = "user namespaces are enabled and a probe worker started (max_user_namespaces " +
              std::to_string(*f.max_user_namespaces) + ")";
  return r;
}

CheckResult check_user_namespaces(const Context& ctx) {
  UsernsFacts f = gather_userns_host_facts(ctx.fs);
  if (!ctx.as_root) {
    f.start_detail = "the daemon does not run as root, so it cannot switch to worker UIDs";
  } else if (ctx.prober == nullptr) {
    f.start_detail = "no probe worker available";
  } else {
    f.start_attempted = true;
    auto run = ctx.prober->run("userns", {"hello"}, ctx.timeout);
    if (!run) {
      f.start_detail = run.error().message;
    } else {
      const std::string want = "hello ok uid=" + std::to_string(run->uid) + " ";
      f.start_ok = run->out.find(want) != std::string::npos;
      if (f.start_ok) {
        f.start_detail = run->out;
      } else if (run->timed_out) {
        f.start_detail = "the probe worker did not finish in time";
      } else {
        f.start_detail = "exit status " + std::to_string(run->exit_status) + ", stdout '" +
                         run->out.substr(0, 300) + "', stderr '" + run->err.substr(0, 500) + "'";
      }
    }
  }
  return evaluate_userns(f);
}

}  // namespace paddock::preflight
