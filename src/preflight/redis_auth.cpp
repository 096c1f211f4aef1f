#include <algorithm>

#include "paddock/preflight/checks.hpp"

namespace paddock::preflight {

std::string redact_url(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  const auto start = scheme + 3;
  const auto slash = url.find('/', start);
  const auto authority =
      url.substr(start, slash == std::string_view::npos ? url.npos : slash - start);
  const auto at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  return std::string(url.substr(0, start)) + std::string(url.substr(start + at + 1));
}

CheckResult evaluate_redis(const std::vector<RedisFinding>& findings) {
  CheckResult r;
  r.details = {{"servers", nlohmann::json::array()}};
  if (findings.empty()) {
    r.message = "no redis_urls configured; nothing to check";
    return r;
  }
  Severity sev = Severity::Ok;
  std::vector<std::string> messages;
  std::vector<std::string> remedies;
  auto add_remedy = [&](const std::string& s) {
    if (std::find(remedies.begin(), remedies.end(), s) == remedies.end()) remedies.push_back(s);
  };
  for (const auto& f : findings) {
    nlohmann::json d = {{"url", f.url}};
    Severity s = Severity::Ok;
    std::string what;
    if (!f.parsed) {
      s = Severity::Warning;
      what = f.parsed.error().message;
      add_remedy("fix the redis_urls entry: redis://[user:password@]host:port[/db]");
    } else if (f.parsed->tls) {
      s = Severity::Info;
      what = f.url + " uses TLS; a plain-TCP probe says nothing about its authentication";
      d["result"] = "tls";
    } else if (f.probe.connect.reach != Reach::Reachable) {
      s = Severity::Warning;
      what = f.url + " is not reachable from this host (" + f.probe.connect.detail +
             "), so its authentication was not checked";
      d["result"] = "unreachable";
      d["detail"] = f.probe.connect.detail;
      add_remedy(
          "check the address in redis_urls, or remove entries for servers this host "
          "does not use");
    } else {
      d["reply"] = f.probe.first_line;
      switch (classify_redis_reply(f.probe.first_line)) {
        case RedisAnswer::Pong:
          s = Severity::Error;
          what = f.url +
                 " answered PING without authentication: any process on the host network can "
                 "read and modify this Redis";
          d["result"] = "open";
          add_remedy(
              "require authentication: set requirepass (or ACL users with passwords and "
              "'user default off') in redis.conf and restart Redis; also bind it to the "
              "addresses its clients use");
          break;
        case RedisAnswer::NoAuth:
          s = Severity::Ok;
          what = f.url + " requires authentication (-NOAUTH)";
          d["result"] = "auth_required";
          break;
        case RedisAnswer::Other:
          s = Severity::Warning;
          what = f.url + " answered PING with '" + f.probe.first_line.substr(0, 80) + "'" +
                 (f.probe.error.empty() ? "" : " (" + f.probe.error + ")") +
                 "; cannot tell whether it requires authentication";
          d["result"] = "unknown";
          add_remedy(
              "check that redis_urls points at a Redis server and that it requires a "
              "password");
          break;
      }
    }
    d["severity"] = std::string(to_string(s));
    r.details["servers"].push_back(d);
    sev = worst(sev, s);
    messages.push_back(what);
  }
  r.severity = sev;
  for (const auto& m : messages) r.message += (r.message.empty() ? "" : "; ") + m;
  for (const auto& m : remedies) r.remedy += (r.remedy.empty() ? "" : "; ") + m;
  return r;
}

CheckResult check_redis_auth(const Context& ctx) {
  std::vector<RedisFinding> findings;
  const auto n =
      static_cast<std::int64_t>(std::max<std::size_t>(1, ctx.cfg.preflight.redis_urls.size()));
  const auto per_server =
      std::chrono::milliseconds(std::clamp<std::int64_t>(ctx.timeout.count() / n, 200, 3000));
  for (const auto& url : ctx.cfg.preflight.redis_urls) {
    RedisFinding f;
    f.url = redact_url(url);
    f.parsed = parse_redis_url(url);
    if (f.parsed && !f.parsed->tls) {
      f.probe = redis_ping(f.parsed->host, f.parsed->port, per_server);
    }
    findings.push_back(std::move(f));
  }
  return evaluate_redis(findings);
}

}  // namespace paddock::preflight
