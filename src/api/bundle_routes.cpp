#include "paddock/api/bundle_routes.hpp"

#include "paddock/api/routes.hpp"
#include "paddock/log/log.hpp"

namespace paddock::api {
namespace {

/// Receives an uploaded archive into a temporary file of the store, hashing it on the way.
class UploadConsumer final : public BodyConsumer {
 public:
  explicit UploadConsumer(bundles::Upload upload) : upload_(std::move(upload)) {}
  std::optional<Response> write(std::string_view piece) override {
    auto r = upload_.write(piece);
    if (r) return std::nullopt;
    return Response::error(status_for(r.error()), r.error().code, r.error().message, "body");
  }
  bundles::Upload& upload() { return upload_; }

 private:
  bundles::Upload upload_;
};

Response not_available() {
  return Response::error(501, "not_implemented", "the bundle store is not available");
}

Response error_response(const Error& e) {
  return Response::error(status_for(e), e.code, e.message, e.field);
}

}  // namespace

nlohmann::json bundle_json(const bundles::BundleInfo& b, const std::vector<std::string>* users) {
  nlohmann::json j{{"id", b.id},
                   {"sha256", b.sha256},
                   {"size_bytes", b.size_bytes},
                   {"extracted_bytes", b.extracted_bytes},
                   {"files", b.files},
                   {"created_at", b.created_at}};
  if (users) j["workers"] = *users;
  return j;
}

std::optional<StreamedBody> bundle_body_route(const Request& request, bundles::Store* store) {
  if (store == nullptr || request.method != "POST" || request.path != "/v1/bundles") {
    return std::nullopt;
  }
  StreamedBody sb;
  sb.max_bytes = store->config().limits.max_compressed_bytes;
  sb.open = [store]() -> std::shared_ptr<BodyConsumer> {
    auto up = store->begin_upload();
    if (!up) {
      log::error("cannot receive a bundle upload", {{"error", up.error().message}});
      return nullptr;
    }
    return std::make_shared<UploadConsumer>(std::move(*up));
  };
  return sb;
}

void register_bundle_routes(Router& router, const BundleServices& services) {
  auto users_of = [users = services.users](const std::string& id) {
    return users ? users(id) : std::vector<std::string>{};
  };

  router.add(
      "POST", "/v1/bundles",
      [store = services.store, audit = services.audit](const Request& req, const PathParams&) {
        if (store == nullptr) return not_available();
        auto* consumer = dynamic_cast<UploadConsumer*>(req.body_consumer.get());
        if (consumer == nullptr) {
          return Response::error(500, "internal", "the upload body was not received");
        }
        auto& upload = consumer->upload();
        if (upload.size() == 0) {
          upload.discard();
          return Response::error(400, "invalid_archive",
                                 "the body is empty; send a .tar.gz, .tar.zst or .zip "
                                 "archive",
                                 "body");
        }
        auto sha = upload.finish();
        if (!sha) {
          upload.discard();
          return error_response(sha.error());
        }
        auto added = store->add(upload, *sha);
        upload.discard();  // now, not when the request is destroyed after the answer
        if (!added) {
          log::info(
              "bundle upload refused",
              {{"sha256", *sha}, {"code", added.error().code}, {"error", added.error().message}});
          return error_response(added.error());
        }
        if (audit && added->created) {
          audit->record({{"event", "bundle_upload"},
                         {"id", added->info.id},
                         {"sha256", added->info.sha256},
                         {"size_bytes", added->info.size_bytes},
                         {"extracted_bytes", added->info.extracted_bytes},
                         {"files", added->info.files},
                         {"remote", req.peer.address}});
        }
        return Response::json(added->created ? 201 : 200, bundle_json(added->info));
      });

  router.add("GET", "/v1/bundles", [store = services.store](const Request&, const PathParams&) {
    if (store == nullptr) return not_available();
    nlohmann::json items = nlohmann::json::array();
    for (const auto& b : store->list()) items.push_back(bundle_json(b));
    return Response::json(200, {{"bundles", items}, {"total_bytes", store->total_bytes()}});
  });

  router.add("GET", "/v1/bundles/{id}",
             [store = services.store, users_of](const Request&, const PathParams& p) {
               if (store == nullptr) return not_available();
               const std::string& id = p.at("id");
               auto b = store->get(id);
               if (!b) return Response::error(404, "not_found", "no bundle " + id, "id");
               auto users = users_of(id);
               return Response::json(200, bundle_json(*b, &users));
             });

  router.add(
      "DELETE", "/v1/bundles/{id}",
      [store = services.store, users_of, audit = services.audit](const Request& req,
                                                                 const PathParams& p) {
        if (store == nullptr) return not_available();
        const std::string& id = p.at("id");
        if (!store->get(id)) return Response::error(404, "not_found", "no bundle " + id, "id");
        auto users = users_of(id);
        if (!users.empty()) {
          std::string list;
          for (const auto& u : users) list += (list.empty() ? "" : ", ") + u;
          return Response::error(
              409, "bundle_in_use",
              "bundle " + id + " is used by live workers (" + list + "); stop them first", "id");
        }
        auto r = store->remove(id);
        if (!r) return error_response(r.error());
        if (audit) {
          audit->record({{"event", "bundle_delete"}, {"id", id}, {"remote", req.peer.address}});
        }
        Response res;
        res.status = 204;
        return res;
      });
}

}  // namespace paddock::api
