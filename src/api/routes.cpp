#include "paddock/api/routes.hpp"

#include "paddock/api/openapi.hpp"
#include "paddock/log/log.hpp"

namespace paddock::api {

namespace {

Response not_implemented(const std::string& what) {
  return Response::error(501, "not_implemented",
                         what + " is not available in this build of paddockd yet");
}

}  // namespace

void register_routes(Router& router, const Services& services) {
  router.add("GET", "/healthz", [](const Request&, const PathParams&) {
    return Response::json(200, {{"status", "ok"}});
  });

  router.add("GET", "/readyz", [readiness = services.readiness](const Request&, const PathParams&) {
    if (readiness && readiness->ready()) return Response::json(200, {{"status", "ready"}});
    std::vector<std::string> reasons =
        readiness ? readiness->reasons() : std::vector<std::string>{"readiness is not tracked"};
    std::string message = "not ready: ";
    for (std::size_t i = 0; i < reasons.size(); ++i) message += (i ? "; " : "") + reasons[i];
    auto body = nlohmann::json{{"error", {{"code", "not_ready"}, {"message", message}}},
                               {"reasons", reasons}};
    auto r = Response::json(503, body);
    r.headers.emplace_back("Retry-After", "1");
    return r;
  });

  router.add("GET", "/v1/version",
             [version = services.version, started = services.started,
              generation = services.generation](const Request&, const PathParams&) {
               const auto up = std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::steady_clock::now() - started)
                                   .count();
               return Response::json(200, {{"version", version},
                                           {"api", "v1"},
                                           {"uptime_seconds", up},
                                           {"generation", generation}});
             });

  router.add("POST", "/v1/admin/upgrade",
             [upgrade = services.upgrade](const Request& req, const PathParams&) {
               if (!upgrade) return not_implemented("upgrades in place");
               if (!req.peer.is_unix) {
                 return Response::error(403, "admin_socket_only",
                                        "an upgrade is asked for on the admin socket (paddock "
                                        "upgrade, or systemctl reload paddockd), not over TCP");
               }
               return upgrade(req);
             });

  router.add("GET", "/metrics", [metrics = services.metrics](const Request&, const PathParams&) {
    Response r;
    r.status = 200;
    r.content_type = kMetricsContentType;
    r.body = metrics ? metrics->render() : std::string{};
    return r;
  });

  router.add("GET", "/v1/openapi.json", [](const Request&, const PathParams&) {
    Response r;
    r.status = 200;
    r.body = std::string(openapi_text());
    return r;
  });

  router.add("POST", "/v1/preflight/run",
             [run = services.run_preflight](const Request& req, const PathParams&) {
               if (!run) return not_implemented("running preflight checks");
               return run(req);
             });

  router.add("GET", "/v1/preflight",
             [get = services.get_preflight](const Request& req, const PathParams&) {
               if (!get) return not_implemented("preflight results");
               return get(req);
             });

  register_worker_routes(router, services);
  register_bundle_routes(router, services.bundles);
}

ApiMetrics register_api_metrics(MetricsRegistry& registry, const std::string& version) {
  registry
      .gauge("paddock_build_info", "Build information of the running paddockd; always 1.",
             {"version"})
      .set({version}, 1);
  ApiMetrics m;
  m.requests = &registry.counter("http_requests_total",
                                 "HTTP responses sent by the API, by status code.", {"code"});
  return m;
}

ApiHandler::ApiHandler(std::shared_ptr<const Router> router,
                       std::shared_ptr<const Authenticator> auth, std::shared_ptr<AuditLog> audit)
    : router_(std::move(router)), auth_(std::move(auth)), audit_(std::move(audit)) {}

std::optional<Response> ApiHandler::check_headers(const Request& request) const {
  AuthDecision decision = auth_->authenticate(request);
  if (decision.allowed()) return std::nullopt;
  log::info("request refused before its body", {{"who", decision.identity.who},
                                                {"method", request.method},
                                                {"path", request.path},
                                                {"status", decision.refusal->status},
                                                {"remote", request.peer.address}});
  if (audit_) {
    audit_->reject(decision.identity.who, request.method, request.path, decision.refusal->status,
                   decision.refusal->error_code(), request.peer.address);
  }
  return std::move(decision.refusal);
}

Response ApiHandler::handle(const Request& request) const {
  const AuthDecision decision = auth_->authenticate(request);
  Response response = decision.allowed() ? router_->handle(request) : *decision.refusal;
  if (!decision.allowed()) {
    // Only the identity is logged; the Authorization header never is.
    log::info("request refused", {{"who", decision.identity.who},
                                  {"method", request.method},
                                  {"path", request.path},
                                  {"status", response.status},
                                  {"remote", request.peer.address}});
  } else {
    log::debug("request", {{"who", decision.identity.who},
                           {"method", request.method},
                           {"path", request.path},
                           {"status", response.status}});
  }
  if (audit_ && AuditLog::is_mutating(request.method)) {
    audit_->request(decision.identity.who, request.method, request.path, response.status,
                    request.peer.address);
  }
  return response;
}

}  // namespace paddock::api
