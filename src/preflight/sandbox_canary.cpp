#include <algorithm>
#include <map>

#include "paddock/preflight/checks.hpp"
#include "paddock/sandbox/env.hpp"

namespace paddock::preflight {

const std::vector<std::pair<std::string, std::string>>& canary_expectations() {
  static const std::vector<std::pair<std::string, std::string>> v{{"keyctl", "blocked"},
                                                                  {"io_uring_setup", "blocked"},
                                                                  {"unshare_newuser", "blocked"},
                                                                  {"mount", "blocked"},
                                                                  {"unknown_syscall", "enosys"},
                                                                  {"socket_tipc", "blocked"},
                                                                  {"tiocsetd", "blocked"},
                                                                  {"root_readonly", "ok"},
                                                                  {"threads", "ok"},
                                                                  {"environ", "ok"},
                                                                  {"fds", "ok"}};
  return v;
}

CheckResult evaluate_canary(const Result<ProbeRun>& probe) {
  CheckResult r;
  const std::string remedy =
      "do not start workers until this is understood: check that [process] seccomp_profile is "
      "the shipped default.bpf (or stricter), that bwrap_path is the real bwrap 0.8+, and that "
      "the spawner's argv is unchanged (docs/security-model.md)";
  if (!probe) {
    r.severity = Severity::Error;
    r.message = "could not run the canary worker: " + probe.error().message;
    r.remedy = "check user_namespaces, seccomp_profile and [preflight] probe_path";
    return r;
  }
  std::map<std::string, std::string> got;
  for (const auto& [name, rest] : parse_probe_output(probe->out)) got[name] = rest;
  r.details = {{"uid", probe->uid}, {"exit_status", probe->exit_status}, {"items", got}};
  std::vector<std::string> surprises;
  for (const auto& [item, want] : canary_expectations()) {
    auto it = got.find(item);
    if (it == got.end()) {
      surprises.push_back(item + ": not reported");
      continue;
    }
    const std::string& rest = it->second;
    const std::string verdict = rest.substr(0, rest.find(' '));
    if (verdict != want) surprises.push_back(item + ": " + rest);
  }
  if (probe->timed_out) surprises.push_back("the canary did not finish in time");
  if (!surprises.empty()) {
    r.severity = Severity::Error;
    r.message = "the sandbox is not what paddock promises: ";
    for (const auto& s : surprises) r.message += (&s == &surprises.front() ? "" : "; ") + s;
    if (!probe->err.empty()) r.message += " (stderr: " + probe->err.substr(0, 300) + ")";
    r.remedy = remedy;
    return r;
  }
  r.message =
      "inside a worker keyctl, io_uring_setup, unshare(CLONE_NEWUSER), mount, "
      "socket(AF_TIPC) and ioctl(TIOCSETD) fail, system call 1000 gets ENOSYS, / and /etc are "
      "read-only, threads work, /proc/1/environ holds none of the daemon's variables and only fds "
      "0-2 are open";
  return r;
}

CheckResult check_sandbox_canary(const Context& ctx) {
  if (!ctx.as_root || ctx.prober == nullptr) {
    CheckResult r;
    r.severity = Severity::Warning;
    r.message =
        "not run: the daemon does not run as root, so it cannot start a worker under a "
        "worker UID";
    r.remedy = "run paddockd preflight as root";
    return r;
  }
  // bwrap's own environment (PATH and LANG, set by the plan) is what /proc/1/environ holds by
  // design; every other name of the daemon's environment must be absent.
  std::vector<std::string> args{"canary"};
  for (const auto& n : ctx.daemon_env_names) {
    if (n == "PATH" || n == "LANG" || !sandbox::is_valid_env_name(n)) continue;
    if (std::find(args.begin(), args.end(), n) == args.end()) args.push_back(n);
  }
  return evaluate_canary(ctx.prober->run("canary", args, ctx.timeout));
}

}  // namespace paddock::preflight
