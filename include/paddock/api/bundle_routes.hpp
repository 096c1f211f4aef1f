#pragma once
/// The bundle routes: POST /v1/bundles (the archive body streamed to the store's temporary
/// directory, never held in memory), GET /v1/bundles, GET and DELETE /v1/bundles/{id}.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "paddock/api/audit.hpp"
#include "paddock/api/http.hpp"
#include "paddock/api/router.hpp"
#include "paddock/api/server.hpp"
#include "paddock/bundles/store.hpp"

namespace paddock::api {

/// What the bundle routes need from the rest of the daemon.
struct BundleServices {
  /// The store; null makes the routes answer 501.
  bundles::Store* store = nullptr;
  /// Ids of the live workers and runs using bundle `id`; unset means none.
  std::function<std::vector<std::string>(const std::string& id)> users;
  /// Where upload and delete are recorded (may be null).
  std::shared_ptr<AuditLog> audit;
};

/// Registers POST/GET /v1/bundles and GET/DELETE /v1/bundles/{id}.
void register_bundle_routes(Router& router, const BundleServices& services);

/// The HTTP server's body route for POST /v1/bundles: the archive goes to a temporary file in
/// the store, bounded by [bundles] max_archive_bytes; nullopt for every other request.
std::optional<StreamedBody> bundle_body_route(const Request& request, bundles::Store* store);

/// The JSON of one bundle (with `users` when given).
nlohmann::json bundle_json(const bundles::BundleInfo& info,
                           const std::vector<std::string>* users = nullptr);

}  // namespace paddock::api
