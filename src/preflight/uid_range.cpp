#include <algorithm>
#include <charconv>
#include <sstream>

#include "paddock/preflight/checks.hpp"

namespace paddock::preflight {

namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::array<uid_t, 4>> parse_uid_line(const std::string& status) {
  std::istringstream in(status);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Uid:", 0) != 0) continue;
    std::istringstream fields(line.substr(4));
    std::array<uid_t, 4> uids{};
    for (auto& u : uids) {
      if (!(fields >> u)) return std::nullopt;
    }
    return uids;
  }
  return std::nullopt;
}

}  // namespace

std::vector<ProcessUids> scan_processes(const HostFs& fs) {
  std::vector<ProcessUids> out;
  for (const auto& name : fs.list_dir("/proc")) {
    if (!all_digits(name)) continue;
    auto status = fs.read_file("/proc/" + name + "/status");
    if (!status) continue;  // gone since the listing
    auto uids = parse_uid_line(*status);
    if (!uids) continue;
    ProcessUids p;
    std::from_chars(name.data(), name.data() + name.size(), p.pid);
    p.uids = *uids;
    out.push_back(p);
  }
  std::sort(out.begin(), out.end(),
            [](const ProcessUids& a, const ProcessUids& b) { return a.pid < b.pid; });
  return out;
}

const std::vector<ReservedRange>& systemd_reserved_ranges() {
  static const std::vector<ReservedRange> ranges{
      {60001, 60513, "systemd-homed (home directories)"},
      {61184, 65519, "systemd DynamicUser= services"},
  };
  return ranges;
}

CheckResult evaluate_uid_range(const UidRangeFacts& f) {
  CheckResult r;
  const std::string range = std::to_string(f.first) + "-" + std::to_string(f.last);
  r.details = {{"range", range}, {"gid", f.gid}};
  auto in_range = [&](uid_t u) { return u >= f.first && u <= f.last; };

  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  std::vector<std::string> remedies;

  nlohmann::json accounts = nlohmann::json::array();
  for (const auto& a : f.accounts) {
    if (in_range(a.uid)) accounts.push_back({{"name", a.name}, {"uid", a.uid}});
  }
  r.details["accounts_in_range"] = accounts;
  if (!accounts.empty()) {
    std::string names;
    for (const auto& a : accounts) {
      names += (names.empty() ? "" : ", ") + a["name"].get<std::string>() + " (uid " +
               std::to_string(a["uid"].get<uid_t>()) + ")";
    }
    errors.push_back("/etc/passwd has accounts inside the worker UID range " + range + ": " +
                     names + "; workers would own their files and processes");
    remedies.push_back(
        "choose a worker_uid_range_start/_end in [process] that no /etc/passwd account uses "
        "(getent passwd lists them), or move those accounts");
  }
  if (f.gid == 0) {
    errors.push_back("worker_gid is 0: workers would run in root's group");
    remedies.push_back("set [process] worker_gid to an unprivileged group such as 65534 (nogroup)");
  }

  nlohmann::json procs = nlohmann::json::array();
  for (const auto& p : f.processes) {
    for (uid_t u : p.uids) {
      if (in_range(u) && f.ignore_uids.count(u) == 0) {
        procs.push_back({{"pid", p.pid}, {"uid", u}});
        break;
      }
    }
  }
  r.details["processes_in_range"] = procs;
  if (!procs.empty()) {
    std::string list;
    std::size_t shown = 0;
    for (const auto& p : procs) {
      if (++shown > 10) {
        list += ", …";
        break;
      }
      list += (list.empty() ? "" : ", ") + std::string("pid ") +
              std::to_string(p["pid"].get<pid_t>()) + " (uid " +
              std::to_string(p["uid"].get<uid_t>()) + ")";
    }
    warnings.push_back(std::to_string(procs.size()) + " process(es) run under worker UIDs now: " +
                       list + "; the daemon will not hand those UIDs out until they are gone");
    remedies.push_back(
        "find what started them (ps -o pid,uid,cmd -p PID) and stop it; leftovers "
        "of an earlier daemon run end when their sandboxes do");
  }

  nlohmann::json overlaps = nlohmann::json::array();
  for (const auto& rr : systemd_reserved_ranges()) {
    if (f.first <= rr.last && rr.first <= f.last) {
      overlaps.push_back({{"range", std::to_string(rr.first) + "-" + std::to_string(rr.last)},
                          {"owner", rr.owner}});
      warnings.push_back("the worker range " + range + " overlaps " + std::to_string(rr.first) +
                         "-" + std::to_string(rr.last) + ", reserved for " + rr.owner);
    }
  }
  r.details["systemd_overlaps"] = overlaps;
  if (!overlaps.empty()) {
    remedies.push_back(
        "if the host uses that systemd feature, move the worker range outside "
        "60001-60513 and 61184-65519 (e.g. 200000-200999 with worker_gid 65534)");
  }

  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : "; ") + x;
    return s;
  };
  if (!errors.empty()) {
    r.severity = Severity::Error;
    std::vector<std::string> all = errors;
    all.insert(all.end(), warnings.begin(), warnings.end());
    r.message = join(all);
  } else if (!warnings.empty()) {
    r.severity = Severity::Warning;
    r.message = join(warnings);
  } else {
    r.message = "no account or process uses the worker UIDs " + range + "; worker_gid " +
                std::to_string(f.gid);
  }
  r.remedy = join(remedies);
  return r;
}

CheckResult check_uid_range(const Context& ctx) {
  UidRangeFacts f;
  f.first = ctx.cfg.process.worker_uid_range_start;
  f.last = ctx.cfg.process.worker_uid_range_end;
  f.gid = ctx.cfg.process.worker_gid;
  f.ignore_uids = ctx.worker_uids_in_use;
  if (auto passwd = ctx.fs.read_file("/etc/passwd")) {
    f.accounts = config::parse_passwd(*passwd);
  } else {
    CheckResult r;
    r.severity = Severity::Error;
    r.message = "cannot read /etc/passwd to look for accounts in the worker UID range";
    r.remedy = "make /etc/passwd readable by the daemon";
    return r;
  }
  f.processes = scan_processes(ctx.fs);
  return evaluate_uid_range(f);
}

}  // namespace paddock::preflight
