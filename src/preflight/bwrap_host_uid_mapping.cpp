#include <sstream>

#include "paddock/preflight/checks.hpp"

namespace paddock::preflight {

CheckResult evaluate_uid_mapping(bool as_root, const Result<UidObservation>& observed) {
  CheckResult r;
  if (!as_root) {
    r.severity = Severity::Info;
    r.message =
        "the daemon does not run as root, so workers cannot get UIDs of their own; they "
        "all share the daemon's UID and are told apart only by their cgroups";
    r.remedy =
        "run paddockd as root (the packaged unit does), or see cgroup_delegation for the "
        "per-worker cgroups a non-root deployment depends on";
    return r;
  }
  if (!observed) {
    r.severity = Severity::Error;
    r.message = "could not observe a probe worker from the host: " + observed.error().message;
    r.remedy =
        "check user_namespaces and bwrap_available first; this check needs a working "
        "sandbox";
    return r;
  }
  const auto& o = *observed;
  r.details = {{"allocated_uid", o.allocated},
               {"workload_pid", o.workload_pid},
               {"host_uid_line", o.uid_line},
               {"host_gid_line", o.gid_line}};
  std::istringstream in(o.uid_line);
  std::vector<long long> uids;
  long long u = 0;
  while (in >> u) uids.push_back(u);
  bool all_match = uids.size() == 4;
  for (long long x : uids) all_match = all_match && x == static_cast<long long>(o.allocated);
  if (!all_match) {
    r.severity = Severity::Error;
    r.message = "a worker allocated UID " + std::to_string(o.allocated) +
                " runs on the host as Uid '" + o.uid_line + "' (pid " +
                std::to_string(o.workload_pid) +
                "): per-worker UIDs, firewall rules by owner and RLIMIT_NPROC do not hold";
    r.remedy =
        "bwrap must run unprivileged (not setuid, no --uid mapping to another host UID); "
        "check bwrap_available and that no wrapper replaces " +
        std::string("[process] bwrap_path");
    return r;
  }
  r.message = "a probe worker with UID " + std::to_string(o.allocated) +
              " runs on the host as that UID (pid " + std::to_string(o.workload_pid) + ")";
  return r;
}

CheckResult check_bwrap_host_uid_mapping(const Context& ctx) {
  if (!ctx.as_root || ctx.prober == nullptr) {
    Result<UidObservation> none = make_error("no_prober", "no probe worker available");
    return evaluate_uid_mapping(ctx.as_root, none);
  }
  return evaluate_uid_mapping(true, ctx.prober->observe_uid(ctx.timeout));
}

}  // namespace paddock::preflight
