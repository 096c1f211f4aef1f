#pragma once
/// Route wiring and the request pipeline of the API.
///
/// register_routes() adds every route to a Router, given the Services the routes call into;
/// ApiHandler runs one request through authentication, the router and the audit log. Both are
/// pure (no sockets), so the whole API is unit-testable; the HttpServer only moves bytes.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "paddock/api/audit.hpp"
#include "paddock/api/auth.hpp"
#include "paddock/api/bundle_routes.hpp"
#include "paddock/api/http.hpp"
#include "paddock/api/metrics.hpp"
#include "paddock/api/readiness.hpp"
#include "paddock/api/router.hpp"
#include "paddock/supervisor/events.hpp"
#include "paddock/supervisor/scheduler.hpp"
#include "paddock/supervisor/supervisor.hpp"

namespace paddock::api {

/// What the routes need from the rest of the daemon. Members left empty make their routes
/// answer 501 (not_implemented) until the module behind them exists.
struct Services {
  std::shared_ptr<const Readiness> readiness;
  std::shared_ptr<const MetricsRegistry> metrics;
  std::string version = PADDOCK_VERSION;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  /// Upgrades in place this daemon process has gone through (GET /v1/version).
  std::uint64_t generation = 0;
  /// POST /v1/admin/upgrade (admin socket only): checks the installed binary and hands over
  /// to it; empty: 501.
  std::function<Response(const Request&)> upgrade;
  /// POST /v1/preflight/run. Until the preflight module lands this is empty and the route
  /// answers 501; it is registered now so the contract (and write-scope checks) exist.
  std::function<Response(const Request&)> run_preflight;
  /// GET /v1/preflight: the last results.
  std::function<Response(const Request&)> get_preflight;
  /// The worker and run routes; when null they answer 501. All live on the io thread.
  supervisor::Supervisor* supervisor = nullptr;
  supervisor::EventBus* events = nullptr;
  supervisor::Scheduler* scheduler = nullptr;
  /// The bundle routes; with a null store they answer 501.
  BundleServices bundles;
};

/// Registers the worker, run, log and event routes (called by register_routes).
void register_worker_routes(Router& router, const Services& services);

/// The HTTP status for an error code from the supervisor or the request parsers.
unsigned status_for(const Error& error);

/// Registers every route implemented so far on `router`:
/// GET /healthz, GET /readyz, GET /v1/version, GET /metrics, GET /v1/openapi.json,
/// POST /v1/preflight/run.
void register_routes(Router& router, const Services& services);

/// The metric families the API itself maintains.
struct ApiMetrics {
  CounterFamily* requests = nullptr;  ///< http_requests_total{code}
};

/// Registers paddock_build_info{version} (= 1) and http_requests_total{code}.
ApiMetrics register_api_metrics(MetricsRegistry& registry, const std::string& version);

/// One request through auth -> router -> audit log.
class ApiHandler {
 public:
  /// `audit` may be null (no audit log).
  ApiHandler(std::shared_ptr<const Router> router, std::shared_ptr<const Authenticator> auth,
             std::shared_ptr<AuditLog> audit);

  /// The response to `request`. A refused request gets the 401/403 from the Authenticator;
  /// every mutating request (allowed or not) is written to the audit log with its status.
  Response handle(const Request& request) const;

  /// The decision on a request's headers, before its body is read: the 401/403 to send (also
  /// written to the audit log, rate-limited), or nullopt when the request may go on.
  std::optional<Response> check_headers(const Request& request) const;

 private:
  std::shared_ptr<const Router> router_;
  std::shared_ptr<const Authenticator> auth_;
  std::shared_ptr<AuditLog> audit_;
};

}  // namespace paddock::api
