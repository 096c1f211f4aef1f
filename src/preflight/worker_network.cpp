#include <sys/stat.h>
#include <unistd.h>

#include "command.hpp"
#include "paddock/preflight/checks.hpp"

namespace paddock::preflight {

CheckResult evaluate_worker_network(const WorkerNetworkFacts& f) {
  CheckResult r;
  r.name = "worker_network";
  r.details["default_network"] = f.default_network;
  r.details["runs_default_network"] = f.runs_default_network;
  r.details["allow_host_network"] = f.allow_host_network;
  r.details["slirp4netns_path"] = f.slirp4netns_path;
  if (f.tun_mode) r.details["tun_mode"] = *f.tun_mode;
  std::vector<std::string> errors;
  std::vector<std::string> remedies;
  if (!f.slirp4netns_runs) {
    errors.push_back("slirp4netns (" + f.slirp4netns_path + ") cannot be run" +
                     (f.slirp4netns_error.empty() ? "" : ": " + f.slirp4netns_error) +
                     "; network \"private\" workers would have no egress");
    remedies.push_back("apt-get install slirp4netns, or set [process] slirp4netns_path");
  } else {
    r.details["slirp4netns_version"] = f.slirp4netns_version;
  }
  if (!f.tun_mode) {
    errors.push_back(
        "/dev/net/tun does not exist here (under systemd: PrivateDevices=yes hides "
        "it); slirp4netns needs it");
    remedies.push_back(
        "load the tun module (modprobe tun); under systemd add DeviceAllow=/dev/net/tun rw and "
        "BindPaths=/dev/net/tun to the unit");
  } else if ((*f.tun_mode & 0006) != 0006) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", *f.tun_mode & 0777);
    errors.push_back(std::string("/dev/net/tun is mode ") + mode +
                     ": slirp4netns runs as the worker's UID and cannot open it");
    remedies.push_back(
        "restore the Debian/Ubuntu default: chmod 0666 /dev/net/tun (persist it with a udev rule "
        "KERNEL==\"tun\", MODE=\"0666\"); the device only creates interfaces in namespaces the "
        "opener already administers");
  }
  if (!f.userns_ok) {
    errors.push_back("unprivileged user namespaces are off; slirp4netns joins the sandbox's");
    remedies.push_back("see user_namespaces");
  }
  const bool private_needed = f.default_network == "private" || f.runs_default_network == "private";
  if (!errors.empty()) {
    r.severity = private_needed ? Severity::Error : Severity::Warning;
    for (std::size_t i = 0; i < errors.size(); ++i) {
      r.message += (i ? "; " : "") + errors[i];
      r.remedy += (i ? "; " : "") + remedies[i];
    }
    if (!private_needed) {
      r.message += " (default_network is \"" + f.default_network + "\", [runs] default_network \"" +
                   f.runs_default_network + "\"; requests for \"private\" would have no egress)";
    }
  }
  if (f.allow_host_network) {
    if (r.severity == Severity::Ok || r.severity == Severity::Info) r.severity = Severity::Warning;
    r.message += std::string(r.message.empty() ? "" : "; ") +
                 "allow_host_network is true: a worker that asks for network \"host\" can reach "
                 "every service on the host's loopback (this daemon's API, Redis, databases), the "
                 "host's abstract unix sockets and other workers' ports, and can bind ports of the "
                 "worker range";
    r.remedy += std::string(r.remedy.empty() ? "" : "; ") +
                "set [process] allow_host_network = false unless a workload truly needs the "
                "host's network";
  }
  if (r.message.empty()) {
    r.message = "network \"private\" is usable: " + f.slirp4netns_version + ", /dev/net/tun " +
                "open to worker UIDs, user namespaces on";
  }
  return r;
}

CheckResult check_worker_network(const Context& ctx) {
  WorkerNetworkFacts f;
  f.default_network = ctx.cfg.process.default_network;
  f.runs_default_network = ctx.cfg.runs.default_network;
  f.allow_host_network = ctx.cfg.process.allow_host_network;
  f.slirp4netns_path = ctx.cfg.process.slirp4netns_path;
  if (::access(f.slirp4netns_path.c_str(), X_OK) != 0) {
    f.slirp4netns_error = "not found or not executable";
  } else if (auto out = detail::run_command({f.slirp4netns_path, "--version"}, ctx.timeout); !out) {
    f.slirp4netns_error = out.error().message;
  } else if (out->exit_status != 0) {
    f.slirp4netns_error = "exit status " + std::to_string(out->exit_status);
  } else {
    f.slirp4netns_runs = true;
    f.slirp4netns_version = out->out.substr(0, out->out.find('\n'));
  }
  struct stat st {};
  if (::stat("/dev/net/tun", &st) == 0 && S_ISCHR(st.st_mode)) f.tun_mode = st.st_mode & 07777;
  const auto facts = gather_userns_host_facts(ctx.fs);
  f.userns_ok = facts.max_user_namespaces.value_or(1) != 0 &&
                facts.unprivileged_userns_clone.value_or(1) != 0;
  return evaluate_worker_network(f);
}

}  // namespace paddock::preflight
