#include <algorithm>
#include <map>

#include "paddock/preflight/checks.hpp"
#include "paddock/util/hostport.hpp"

namespace paddock::preflight {

namespace {

void resolve_into(EgressTarget& t) {
  auto addrs = resolve_host(t.host);
  if (!addrs) {
    t.problem = addrs.error().message;
    return;
  }
  t.address = addrs->front();
}

}  // namespace

std::string probe_address(const std::string& numeric, std::uint16_t port) {
  const bool v6 = numeric.find(':') != std::string::npos;
  return (v6 ? "[" + numeric + "]" : numeric) + ":" + std::to_string(port);
}

std::vector<EgressTarget> egress_targets(const config::Config& cfg) {
  std::vector<EgressTarget> out;
  const auto& f = cfg.preflight;
  auto add_host_port = [&](const std::string& kind, const std::string& text) {
    if (text.empty()) return;
    EgressTarget t;
    t.kind = kind;
    t.label = text;
    auto hp = util::parse_host_port(text);
    if (!hp) {
      t.problem = hp.error().message;
    } else {
      t.host = hp->host;
      t.port = hp->port;
      resolve_into(t);
    }
    out.push_back(std::move(t));
  };
  add_host_port("metadata", f.metadata_endpoint);
  for (const auto& url : f.redis_urls) {
    EgressTarget t;
    t.kind = "redis";
    t.label = redact_url(url);
    auto parsed = parse_redis_url(url);
    if (!parsed) {
      t.problem = parsed.error().message;
    } else {
      t.host = parsed->host;
      t.port = parsed->port;
      resolve_into(t);
    }
    out.push_back(std::move(t));
  }
  add_host_port("vault", f.vault_addr);
  add_host_port("database", f.database_addr);
  return out;
}

CheckResult evaluate_egress(const std::vector<EgressTarget>& targets, const Result<ProbeRun>& probe,
                            gid_t worker_gid) {
  CheckResult r;
  r.details = {{"targets", nlohmann::json::array()}};
  const bool any_probed = std::any_of(targets.begin(), targets.end(),
                                      [](const EgressTarget& t) { return !t.address.empty(); });
  std::map<std::string, std::string> seen;  // "addr:port" -> verdict and detail
  if (any_probed) {
    if (!probe) {
      r.severity = Severity::Error;
      r.message = "could not run the egress probe worker: " + probe.error().message;
      r.remedy = "check user_namespaces, seccomp_profile and [preflight] probe_path";
      return r;
    }
    r.details["uid"] = probe->uid;
    for (const auto& [name, rest] : parse_probe_output(probe->out)) {
      if (name != "connect") continue;
      const auto sp = rest.find(' ');
      if (sp != std::string::npos) seen[rest.substr(0, sp)] = rest.substr(sp + 1);
    }
  }
  Severity sev = Severity::Ok;
  std::vector<std::string> bad;
  std::vector<std::string> fine;
  std::vector<std::string> remedies;
  for (const auto& t : targets) {
    nlohmann::json d = {{"kind", t.kind}, {"endpoint", t.label}};
    if (!t.problem.empty() || t.address.empty()) {
      d["result"] = "not_probed";
      d["detail"] = t.problem;
      sev = worst(sev, Severity::Warning);
      bad.push_back(t.kind + " " + t.label + " was not probed: " + t.problem);
      r.details["targets"].push_back(d);
      continue;
    }
    const std::string addr = probe_address(t.address, t.port);
    d["address"] = addr;
    auto it = seen.find(addr);
    if (it == seen.end()) {
      d["result"] = "missing";
      sev = Severity::Error;
      bad.push_back("the probe did not report " + t.kind + " " + t.label + " (" + addr + ")" +
                    (probe && probe->timed_out ? "; it ran out of time" : "") +
                    (probe && !probe->err.empty() ? "; stderr: " + probe->err.substr(0, 300) : ""));
    } else if (it->second == "reachable") {
      d["result"] = "reachable";
      const bool metadata = t.kind == "metadata";
      sev = worst(sev, metadata ? Severity::Error : Severity::Warning);
      bad.push_back("a worker can reach " + t.kind + " " + t.label + " (" + addr + ")" +
                    (metadata ? ": it can fetch the instance's credentials"
                              : ": internal services should not be reachable from workers"));
      remedies.push_back(firewall_rules(worker_gid, t.address, t.port));
    } else {
      d["result"] = "unreachable";
      d["detail"] = it->second;
      fine.push_back(t.kind + " " + addr + " " + it->second);
    }
    r.details["targets"].push_back(d);
  }
  r.severity = sev;
  if (targets.empty()) {
    r.message = "no endpoints configured; nothing to probe";
  } else if (bad.empty()) {
    r.message = "a worker reaches none of the configured endpoints";
    for (const auto& x : fine) r.message += (&x == &fine.front() ? ": " : "; ") + x;
  } else {
    for (const auto& x : bad) r.message += (r.message.empty() ? "" : "; ") + x;
  }
  if (!remedies.empty()) {
    r.remedy =
        "add these rules (and persist them, e.g. with iptables-persistent or in "
        "/etc/nftables.conf):";
    for (const auto& x : remedies) r.remedy += "\n" + x;
  } else if (sev != Severity::Ok) {
    r.remedy = "fix the addresses in [preflight] (host:port, resolvable from this host)";
  }
  return r;
}

CheckResult check_worker_egress(const Context& ctx) {
  auto targets = egress_targets(ctx.cfg);
  std::vector<std::string> addrs;
  for (const auto& t : targets) {
    if (t.address.empty()) continue;
    const auto a = probe_address(t.address, t.port);
    if (std::find(addrs.begin(), addrs.end(), a) == addrs.end()) addrs.push_back(a);
  }
  if (addrs.empty()) return evaluate_egress(targets, ProbeRun{}, ctx.cfg.process.worker_gid);
  if (!ctx.as_root || ctx.prober == nullptr) {
    CheckResult r;
    r.severity = Severity::Info;
    r.message =
        "not probed: the daemon does not run as root, so it cannot start a worker under "
        "a worker UID";
    r.remedy = "run paddockd preflight as root to probe egress from a worker";
    return r;
  }
  const auto per_connect = std::clamp<std::int64_t>(
      ctx.timeout.count() / static_cast<std::int64_t>(2 * addrs.size()), 200, 2000);
  std::vector<std::string> args{"connect", std::to_string(per_connect)};
  args.insert(args.end(), addrs.begin(), addrs.end());
  return evaluate_egress(targets, ctx.prober->run("egress", args, ctx.timeout),
                         ctx.cfg.process.worker_gid);
}

}  // namespace paddock::preflight
