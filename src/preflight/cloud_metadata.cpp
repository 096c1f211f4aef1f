#include <algorithm>

#include "paddock/preflight/checks.hpp"
#include "paddock/util/hostport.hpp"

namespace paddock::preflight {

std::string firewall_rules(gid_t gid, const std::string& address, std::uint16_t port) {
  const bool v6 = address.find(':') != std::string::npos;
  const std::string g = std::to_string(gid);
  const std::string tcp_port = port == 0 ? "" : " -p tcp --dport " + std::to_string(port);
  const std::string nft_port = port == 0 ? "" : " tcp dport " + std::to_string(port);
  std::string s = std::string(v6 ? "ip6tables" : "iptables") + " -A OUTPUT -m owner --gid-owner " +
                  g + " -d " + address + tcp_port + " -j REJECT\n";
  s += "nft add rule inet filter output meta skgid " + g + (v6 ? " ip6 daddr " : " ip daddr ") +
       address + nft_port + " reject";
  return s;
}

CheckResult evaluate_cloud_metadata(const config::Config& cfg, bool skipped,
                                    const ConnectOutcome& outcome) {
  CheckResult r;
  const std::string& ep = cfg.preflight.metadata_endpoint;
  r.details = {{"endpoint", ep}};
  if (skipped) {
    r.severity = Severity::Info;
    r.message = "skipped ([preflight] skip_metadata_check = true); worker_egress still probes " +
                ep + " from inside a worker";
    return r;
  }
  r.details["result"] = std::string(to_string(outcome.reach));
  r.details["detail"] = outcome.detail;
  r.details["address"] = outcome.address;
  if (outcome.reach == Reach::Reachable) {
    auto hp = util::parse_host_port(ep);
    const std::string addr = outcome.address.empty() ? (hp ? hp->host : ep) : outcome.address;
    r.severity = Severity::Error;
    r.message = "the metadata endpoint " + ep +
                " accepts connections from this host; unless a firewall rule keeps workers away "
                "from it, any worker can fetch the instance's credentials";
    r.remedy = "block it for the workers' group (worker_gid " +
               std::to_string(cfg.process.worker_gid) + "), persistently:\n" +
               firewall_rules(cfg.process.worker_gid, addr, 0) +
               "\nor for the whole host if nothing on it needs the metadata service: iptables -A "
               "OUTPUT -d " +
               addr +
               " -j REJECT. If the host itself needs it, add the worker rule, check that "
               "worker_egress reports the endpoint unreachable, then set [preflight] "
               "skip_metadata_check = true";
    return r;
  }
  r.message =
      "the metadata endpoint " + ep + " is not reachable from this host (" + outcome.detail + ")";
  return r;
}

CheckResult check_cloud_metadata(const Context& ctx) {
  const auto& f = ctx.cfg.preflight;
  if (f.skip_metadata_check) return evaluate_cloud_metadata(ctx.cfg, true, {});
  auto hp = util::parse_host_port(f.metadata_endpoint);
  if (!hp) {
    CheckResult r;
    r.severity = Severity::Error;
    r.message = "[preflight] metadata_endpoint: " + hp.error().message;
    r.remedy = "set metadata_endpoint to host:port, e.g. \"169.254.169.254:80\"";
    return r;
  }
  const auto timeout = std::min(ctx.timeout, std::chrono::milliseconds(2000));
  return evaluate_cloud_metadata(ctx.cfg, false, tcp_connect(hp->host, hp->port, timeout));
}

}  // namespace paddock::preflight
