#include <algorithm>
#include <set>
#include <sstream>

#include "paddock/preflight/checks.hpp"
#include "paddock/util/strings.hpp"

namespace paddock::preflight {

namespace {

const std::set<std::string>& v1_controller_names() {
  static const std::set<std::string> names{"cpu",     "cpuacct", "cpuset", "memory",     "devices",
                                           "freezer", "net_cls", "blkio",  "perf_event", "net_prio",
                                           "hugetlb", "pids",    "rdma",   "misc"};
  return names;
}

const std::vector<std::string>& needed_controllers() {
  static const std::vector<std::string> v{"cpu", "memory", "pids"};
  return v;
}

/// The cgroup path relative to the cgroup2 root, for iptables -m cgroup --path.
std::string relative_workers(const std::string& own) {
  return (own == "/" || own.empty() ? std::string() : own) + "/workers";
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool has_xt_cgroup_module(const HostFs& fs) {
  if (auto modules = fs.read_file("/proc/modules")) {
    std::istringstream in(*modules);
    std::string line;
    while (std::getline(in, line)) {
      if (util::starts_with(line, "xt_cgroup ")) return true;
    }
  }
  auto release = fs.read_file("/proc/sys/kernel/osrelease");
  if (!release) return false;
  const std::string dir = "/lib/modules/" + trim(*release);
  for (const char* ext : {"", ".xz", ".zst", ".gz"}) {
    if (fs.exists(dir + "/kernel/net/netfilter/xt_cgroup.ko" + ext)) return true;
  }
  if (auto builtin = fs.read_file(dir + "/modules.builtin")) {
    if (builtin->find("xt_cgroup.ko") != std::string::npos) return true;
  }
  return false;
}

}  // namespace

CgroupFacts gather_cgroup_facts(const HostFs& fs) {
  CgroupFacts f;
  if (auto mounts = fs.read_file("/proc/self/mounts")) {
    std::istringstream in(*mounts);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string dev, point, type, opts;
      if (!(fields >> dev >> point >> type >> opts)) continue;
      if (type == "cgroup2" && !f.cgroup2_mount) f.cgroup2_mount = point;
      if (type == "cgroup") {
        for (const auto& o : util::split_trimmed(opts, ',')) {
          if (v1_controller_names().count(o) != 0) f.v1_controllers_mounted = true;
        }
      }
    }
  }
  if (auto self = fs.read_file("/proc/self/cgroup")) {
    std::istringstream in(*self);
    std::string line;
    while (std::getline(in, line)) {
      if (util::starts_with(line, "0::")) f.own_cgroup = line.substr(3);
    }
  }
  if (auto matches = fs.read_file("/proc/net/ip_tables_matches")) {
    std::istringstream in(*matches);
    std::string line;
    while (std::getline(in, line)) {
      if (trim(line) == "cgroup") f.iptables_cgroup_match = true;
    }
  }
  if (!f.iptables_cgroup_match) f.iptables_cgroup_match = has_xt_cgroup_module(fs);
  if (!f.cgroup2_mount || f.own_cgroup.empty()) return f;
  // A daemon that has set up its cgroup runs in <delegated>/daemon, next to <delegated>/workers
  // (cgroup v2 lets only leaves hold processes): the cgroup that matters is the parent.
  if (const auto cut = f.own_cgroup.rfind('/');
      f.own_cgroup.size() >= 7 && f.own_cgroup.compare(f.own_cgroup.size() - 7, 7, "/daemon") == 0 &&
      cut != std::string::npos) {
    const std::string parent = cut == 0 ? std::string("/") : f.own_cgroup.substr(0, cut);
    if (fs.exists(*f.cgroup2_mount + (parent == "/" ? std::string() : parent) + "/workers")) {
      f.own_cgroup = parent;
    }
  }
  const std::string dir = *f.cgroup2_mount + (f.own_cgroup == "/" ? std::string() : f.own_cgroup);
  if (auto controllers = fs.read_file(dir + "/cgroup.controllers")) {
    std::istringstream in(*controllers);
    std::string c;
    while (in >> c) f.controllers.push_back(c);
  }
  f.writable = fs.writable(dir) && fs.writable(dir + "/cgroup.procs");
  // systemd (>= 251) marks a delegated cgroup with trusted.delegate=1 (user.delegate for user
  // managers). The top of a cgroup namespace (a container's "/") is the container's to manage.
  auto marked = [&](const char* name) {
    auto v = fs.xattr(dir, name);
    return v && trim(*v) == "1";
  };
  f.delegated = f.own_cgroup == "/" || marked("trusted.delegate") || marked("user.delegate");
  return f;
}

std::string workers_cgroup_path(const CgroupFacts& f) {
  if (!f.cgroup2_mount) return {};
  return *f.cgroup2_mount + relative_workers(f.own_cgroup);
}

CheckResult evaluate_cgroup(const CgroupFacts& f, gid_t worker_gid) {
  CheckResult r;
  const std::string workers = workers_cgroup_path(f);
  const std::string rel = relative_workers(f.own_cgroup);
  r.details = {{"cgroup2_mount", f.cgroup2_mount ? nlohmann::json(*f.cgroup2_mount) : nullptr},
               {"hybrid", f.cgroup2_mount.has_value() && f.v1_controllers_mounted},
               {"own_cgroup", f.own_cgroup},
               {"controllers", f.controllers},
               {"writable", f.writable},
               {"delegated", f.delegated},
               {"workers_path", workers},
               {"iptables_cgroup_match", f.iptables_cgroup_match}};
  const std::string unified =
      "boot with the unified cgroup hierarchy: add systemd.unified_cgroup_hierarchy=1 to "
      "GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub and reboot (Debian 12 and Ubuntu "
      "24.04 use it by default unless it was turned off)";
  const std::string owner_rule =
      "until then, firewall workers by group instead:\niptables -A OUTPUT -m owner --gid-owner " +
      std::to_string(worker_gid) + " -d 169.254.169.254 -j REJECT";
  if (!f.cgroup2_mount) {
    r.severity = Severity::Warning;
    r.message =
        "cgroup v2 is not mounted: workers get no cgroup of their own (no memory, cpu or "
        "pids limit by cgroup) and firewall rules cannot match them by cgroup";
    r.remedy = unified + "; " + owner_rule;
    return r;
  }
  std::vector<std::string> missing;
  for (const auto& c : needed_controllers()) {
    if (std::find(f.controllers.begin(), f.controllers.end(), c) == f.controllers.end()) {
      missing.push_back(c);
    }
  }
  std::string missing_text;
  for (const auto& m : missing) missing_text += (missing_text.empty() ? "" : ", ") + m;
  if (f.v1_controllers_mounted && !missing.empty()) {
    r.severity = Severity::Warning;
    r.message = "hybrid cgroup hierarchy: cgroup2 at " + *f.cgroup2_mount + " carries no " +
                missing_text +
                " controller (they are bound to cgroup v1), so per-worker memory, cpu and pids "
                "limits by cgroup are unavailable" +
                std::string(f.iptables_cgroup_match
                                ? "; iptables -m cgroup --path still matches cgroup2 paths"
                                : "");
    r.remedy = unified + "; " + owner_rule;
    return r;
  }
  if (f.own_cgroup.empty()) {
    r.severity = Severity::Warning;
    r.message = "/proc/self/cgroup has no cgroup v2 entry (0::) for the daemon";
    r.remedy = unified;
    return r;
  }
  const std::string delegate =
      "run paddockd from its systemd unit with Delegate=yes in [Service] (systemctl edit "
      "paddock: [Service] Delegate=yes), then restart it";
  if (!f.delegated || !f.writable) {
    r.severity = Severity::Warning;
    r.message = "the daemon's cgroup " + f.own_cgroup + " is " +
                (!f.delegated ? std::string("not delegated to it (systemd may move or remove "
                                            "cgroups created below it)")
                              : std::string("not writable by the daemon")) +
                "; workers cannot get their own cgroups under " + workers;
    r.remedy = delegate;
    return r;
  }
  if (!missing.empty()) {
    r.severity = Severity::Warning;
    r.message = "the daemon's cgroup " + f.own_cgroup + " lacks the " + missing_text +
                " controller(s), so worker limits by cgroup are incomplete";
    r.remedy = delegate + " (Delegate=yes passes memory, cpu and pids down)";
    return r;
  }
  const std::string recipe =
      "one rule per address workers must not reach (--path matches the workers' cgroup and "
      "everything below it):\niptables -A OUTPUT -m cgroup --path " +
      rel + " -d 169.254.169.254 -j REJECT";
  if (!f.iptables_cgroup_match) {
    r.severity = Severity::Info;
    r.message = "cgroup v2 is delegated (" + f.own_cgroup + ", workers under " + workers +
                "), but the iptables cgroup match is not available";
    r.remedy =
        "modprobe xt_cgroup (and list it in /etc/modules-load.d/) to firewall workers by "
        "cgroup: " +
        recipe;
    return r;
  }
  r.message =
      "cgroup v2 is delegated to the daemon (" + f.own_cgroup + "); workers go under " + workers;
  r.remedy = "firewall workers by cgroup, " + recipe;
  return r;
}

CheckResult check_cgroup_delegation(const Context& ctx) {
  return evaluate_cgroup(gather_cgroup_facts(ctx.fs), ctx.cfg.process.worker_gid);
}

}  // namespace paddock::preflight
