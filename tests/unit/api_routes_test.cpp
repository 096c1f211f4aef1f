// Unit tests of the routes that need no supervisor, the request pipeline (auth -> router ->
// audit) and the agreement between the router, docs/openapi.json and docs/api.md.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include "paddock/api/error_codes.hpp"
#include "paddock/api/openapi.hpp"
#include "paddock/api/routes.hpp"
#include "paddock/util/crypto.hpp"

using namespace paddock::api;
using ::testing::HasSubstr;

namespace {

Request get(const std::string& path) {
  Request r;
  r.method = "GET";
  r.path = path;
  r.target = path;
  return r;
}

struct Api {
  std::shared_ptr<Readiness> readiness = std::make_shared<Readiness>();
  std::shared_ptr<MetricsRegistry> metrics = std::make_shared<MetricsRegistry>();
  Services services;
  Router router;
  Api() {
    services.readiness = readiness;
    services.metrics = metrics;
    services.version = "9.9.9";
    register_api_metrics(*metrics, "9.9.9");
    register_routes(router, services);
  }
};

std::string temp_dir() {
  char tmpl[] = "/tmp/paddock-routes-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return {};
  return tmpl;
}

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace

TEST(ApiRoutes, GivenRunningRouter_WhenHealthz_Then200Ok) {
  Api api;
  auto r = api.router.handle(get("/healthz"));
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(nlohmann::json::parse(r.body)["status"], "ok");
}

TEST(ApiRoutes, GivenUnmetConditions_WhenReadyz_Then503ListingReasonsUntilAllMet) {
  Api api;
  auto none = api.router.handle(get("/readyz"));
  EXPECT_EQ(none.status, 503u);  // nothing registered yet: not ready
  api.readiness->require("listeners", "not bound yet");
  api.readiness->require("preflight", "has not run");
  auto r = api.router.handle(get("/readyz"));
  ASSERT_EQ(r.status, 503u);
  auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["error"]["code"], "not_ready");
  EXPECT_EQ(body["reasons"],
            (nlohmann::json{"listeners: not bound yet", "preflight: has not run"}));
  api.readiness->set("listeners", true);
  body = nlohmann::json::parse(api.router.handle(get("/readyz")).body);
  EXPECT_EQ(body["reasons"], (nlohmann::json{"preflight: has not run"}));
  api.readiness->set("preflight", true);
  EXPECT_EQ(api.router.handle(get("/readyz")).status, 200u);
  api.readiness->set("shutdown", false, "shutting down");
  auto down = api.router.handle(get("/readyz"));
  EXPECT_EQ(down.status, 503u);
  EXPECT_THAT(down.body, HasSubstr("shutdown: shutting down"));
}

TEST(ApiRoutes, GivenVersion_WhenRequested_ThenVersionApiAndUptime) {
  Api api;
  auto body = nlohmann::json::parse(api.router.handle(get("/v1/version")).body);
  EXPECT_EQ(body["version"], "9.9.9");
  EXPECT_EQ(body["api"], "v1");
  EXPECT_GE(body["uptime_seconds"].get<long>(), 0);
}

TEST(ApiRoutes, GivenRegistry_WhenMetrics_ThenPrometheusTextWithBuildInfo) {
  Api api;
  auto r = api.router.handle(get("/metrics"));
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.content_type, kMetricsContentType);
  EXPECT_THAT(r.body, HasSubstr("# TYPE paddock_build_info gauge\n"));
  EXPECT_THAT(r.body, HasSubstr("paddock_build_info{version=\"9.9.9\"} 1\n"));
  EXPECT_THAT(r.body, HasSubstr("# TYPE http_requests_total counter\n"));
}

TEST(ApiRoutes, GivenEmbeddedSpec_WhenOpenApiJson_ThenServedDocumentEqualsDocsOpenapiJson) {
  Api api;
  auto r = api.router.handle(get("/v1/openapi.json"));
  EXPECT_EQ(r.status, 200u);
  std::ifstream in(PADDOCK_SOURCE_DIR "/docs/openapi.json");
  const auto on_disk = nlohmann::json::parse(in);
  EXPECT_EQ(nlohmann::json::parse(r.body), on_disk);
  EXPECT_EQ(openapi_document(), on_disk);
  EXPECT_EQ(on_disk["openapi"], "3.0.3");
}

TEST(ApiRoutes, GivenNoPreflightService_WhenPreflightRun_Then501ElseServiceAnswers) {
  Api api;
  Request post = get("/v1/preflight/run");
  post.method = "POST";
  auto r = api.router.handle(post);
  EXPECT_EQ(r.status, 501u);
  EXPECT_THAT(r.body, HasSubstr("not_implemented"));

  Services s = api.services;
  s.run_preflight = [](const Request&) { return Response::json(200, {{"passed", true}}); };
  Router router;
  register_routes(router, s);
  EXPECT_EQ(router.handle(post).status, 200u);
}

// Routes described in docs/openapi.json whose module has not landed yet. Each must be removed
// from this list in the change that registers it (the test fails otherwise).
const std::set<std::pair<std::string, std::string>> kPendingRoutes = {};

TEST(ApiOpenApi,
     GivenRouterAndSpec_WhenCompared_ThenEveryRouteIsDocumentedAndEveryOperationRouted) {
  Api api;
  std::set<std::pair<std::string, std::string>> routed;
  for (const auto& r : api.router.routes()) routed.emplace(r.method, r.pattern);
  std::set<std::pair<std::string, std::string>> documented;
  for (const auto& op : openapi_operations(openapi_document())) documented.insert(op);
  ASSERT_FALSE(documented.empty()) << "docs/openapi.json has no paths";

  for (const auto& r : routed) {
    EXPECT_TRUE(documented.count(r))
        << r.first << " " << r.second << " is routed but not described in docs/openapi.json";
    EXPECT_FALSE(kPendingRoutes.count(r))
        << r.first << " " << r.second << " is registered now; remove it from kPendingRoutes";
  }
  for (const auto& d : documented) {
    EXPECT_TRUE(routed.count(d) || kPendingRoutes.count(d))
        << d.first << " " << d.second
        << " is in docs/openapi.json but not routed (and not listed as pending)";
  }
  for (const auto& p : kPendingRoutes) {
    EXPECT_TRUE(documented.count(p))
        << p.first << " " << p.second << " is pending but not in docs/openapi.json";
  }
}

TEST(ApiOpenApi, GivenSpec_WhenCheckingReferences_ThenEveryRefResolves) {
  const auto& doc = openapi_document();
  std::vector<std::string> missing;
  std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& j) {
    if (j.is_object()) {
      if (j.contains("$ref")) {
        const std::string ref = j["$ref"];
        ASSERT_EQ(ref.rfind("#/", 0), 0u) << ref;
        if (!doc.contains(nlohmann::json::json_pointer(ref.substr(1)))) missing.push_back(ref);
      }
      for (const auto& item : j) walk(item);
    } else if (j.is_array()) {
      for (const auto& item : j) walk(item);
    }
  };
  walk(doc);
  EXPECT_TRUE(missing.empty()) << ::testing::PrintToString(missing);
}

TEST(ApiHandlerPipeline,
     GivenTokensAndAuditLog_WhenRequestsArrive_ThenMutatingOnesAreAuditedAndHeaderRefusalsToo) {
  const std::string dir = temp_dir();
  ASSERT_FALSE(dir.empty());
  const std::string audit_path = dir + "/nested/audit.log";
  Api api;
  auto tokens = std::make_shared<TokenStore>(
      std::vector<TokenEntry>{{"web", Scope::Write, paddock::util::sha256_hex("pdk_w")},
                              {"ro", Scope::Read, paddock::util::sha256_hex("pdk_r")}});
  auto auth = std::make_shared<Authenticator>(AuthOptions{}, tokens, nullptr);
  auto audit = std::make_shared<AuditLog>(audit_path);
  ApiHandler handler(std::make_shared<Router>(api.router), auth, audit);

  auto req = [](std::string method, std::string path, std::string token) {
    Request r = get(path);
    r.method = std::move(method);
    r.peer.address = "127.0.0.1:1";
    if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
    return r;
  };
  EXPECT_EQ(handler.handle(req("GET", "/v1/version", "pdk_r")).status, 200u);
  EXPECT_EQ(handler.handle(req("POST", "/v1/preflight/run", "pdk_w")).status, 501u);
  EXPECT_EQ(handler.handle(req("POST", "/v1/preflight/run", "pdk_r")).status, 403u);
  EXPECT_EQ(handler.handle(req("POST", "/v1/preflight/run", "")).status, 401u);
  EXPECT_EQ(handler.handle(req("DELETE", "/v1/version", "pdk_w")).status, 405u);
  EXPECT_EQ(handler.handle(req("GET", "/nope", "")).status, 401u);  // auth before routing

  const auto lines = read_lines(audit_path);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["who"], "token:web");
  EXPECT_EQ(lines[0]["method"], "POST");
  EXPECT_EQ(lines[0]["path"], "/v1/preflight/run");
  EXPECT_EQ(lines[0]["status"], 501);
  EXPECT_EQ(lines[0]["event"], "request");
  EXPECT_TRUE(lines[0]["ts"].is_string());
  EXPECT_EQ(lines[1]["who"], "token:ro");
  EXPECT_EQ(lines[1]["status"], 403);
  EXPECT_EQ(lines[2]["who"], "anonymous");
  EXPECT_EQ(lines[2]["status"], 401);
  EXPECT_EQ(lines[3]["method"], "DELETE");
  std::ifstream in(audit_path);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(all, ::testing::Not(HasSubstr("pdk_")));

  // On the headers alone (before a body is read): refusals decided and audited as rejects.
  EXPECT_FALSE(handler.check_headers(req("POST", "/v1/runs", "pdk_w")).has_value());
  EXPECT_FALSE(handler.check_headers(req("GET", "/healthz", "")).has_value());
  const auto wrong = handler.check_headers(req("POST", "/v1/runs", "nope"));
  ASSERT_TRUE(wrong.has_value());
  EXPECT_EQ(wrong->status, 401u);
  const auto scope = handler.check_headers(req("POST", "/v1/runs", "pdk_r"));
  ASSERT_TRUE(scope.has_value());
  EXPECT_EQ(scope->status, 403u);
  const auto after = read_lines(audit_path);
  ASSERT_EQ(after.size(), 6u);
  EXPECT_EQ(after[4]["event"], "reject");
  EXPECT_EQ(after[4]["status"], 401);
  EXPECT_EQ(after[4]["code"], "unauthorized");
  EXPECT_EQ(after[5]["who"], "token:ro");
  EXPECT_EQ(after[5]["status"], 403);
  std::filesystem::remove_all(dir);
}

TEST(ApiAuditLog, GivenUnwritablePath_WhenRecording_ThenFalseAndServingGoesOnThenRecovers) {
  const std::string dir = temp_dir();
  ASSERT_FALSE(dir.empty());
  // The parent "directory" is a regular file: the directory cannot be created.
  std::ofstream(dir + "/blocker") << "x";
  AuditLog bad(dir + "/blocker/audit.log");
  EXPECT_FALSE(bad.record({{"event", "x"}}));
  EXPECT_FALSE(bad.record({{"event", "y"}}));

  AuditLog log(dir + "/audit.log");
  EXPECT_TRUE(log.record({{"event", "a"}}));
  std::filesystem::rename(dir + "/audit.log", dir + "/audit.log.1");
  log.reopen();
  EXPECT_TRUE(log.record({{"event", "b"}}));
  EXPECT_EQ(read_lines(dir + "/audit.log").size(), 1u);
  EXPECT_EQ(read_lines(dir + "/audit.log.1").size(), 1u);
  EXPECT_EQ(std::filesystem::status(dir + "/audit.log").permissions() & std::filesystem::perms::all,
            std::filesystem::perms(0640));
  AuditLog disabled("");
  EXPECT_FALSE(disabled.enabled());
  EXPECT_TRUE(disabled.record({{"event", "c"}}));
  std::filesystem::remove_all(dir);
}

TEST(ApiAuditLog, GivenMethods_WhenClassified_ThenOnlyStateChangingOnesAreMutating) {
  EXPECT_FALSE(AuditLog::is_mutating("GET"));
  EXPECT_FALSE(AuditLog::is_mutating("HEAD"));
  EXPECT_FALSE(AuditLog::is_mutating("OPTIONS"));
  EXPECT_TRUE(AuditLog::is_mutating("POST"));
  EXPECT_TRUE(AuditLog::is_mutating("DELETE"));
  EXPECT_TRUE(AuditLog::is_mutating("PATCH"));
  EXPECT_EQ(AuditLog::now_rfc3339().size(), 24u);
}

TEST(ApiAuditLog, GivenAFloodOfRejects_ThenAtMostTheWindowsShareIsWrittenAndTheRestCounted) {
  const std::string dir = temp_dir();
  ASSERT_FALSE(dir.empty());
  AuditLog log(dir + "/audit.log");
  int written = 0;
  for (int i = 0; i < 1000; ++i) {
    written += log.reject("anonymous", "GET", "/", 400, "bad_request", "127.0.0.1:1") ? 1 : 0;
  }
  EXPECT_EQ(written, static_cast<int>(AuditLog::kRejectsPerWindow));
  EXPECT_EQ(read_lines(dir + "/audit.log").size(), AuditLog::kRejectsPerWindow);
  std::filesystem::remove_all(dir);
}

TEST(ApiRateWindow, GivenEventsAcrossWindows_ThenEachWindowLetsTheLimitThroughAndCountsTheRest) {
  RateWindow w(3, std::chrono::milliseconds(1000));
  const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += w.allow(t0 + std::chrono::milliseconds(i)) ? 1 : 0;
  EXPECT_EQ(allowed, 3);
  EXPECT_EQ(w.take_suppressed(), 7u);
  EXPECT_EQ(w.take_suppressed(), 0u);
  EXPECT_TRUE(w.allow(t0 + std::chrono::milliseconds(1000)));  // a new window
  EXPECT_TRUE(w.allow(t0 + std::chrono::milliseconds(1001)));
}

namespace {

std::string read_doc(const char* relative) {
  std::ifstream in(std::string(PADDOCK_SOURCE_DIR) + "/" + relative);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(ApiDocs, GivenApiMd_WhenItsRouteTableIsRead_ThenItListsExactlyTheRoutersRoutes) {
  Api api;
  std::set<std::pair<std::string, std::string>> routed;
  for (const auto& r : api.router.routes()) routed.emplace(r.method, r.pattern);
  // Rows of the route table: | `GET` | `/v1/workers/{id}` | read | ... |
  const std::string doc = read_doc("docs/api.md");
  const std::regex row(R"(\n\| `([A-Z]+)` \| `(/[^`]*)` \|)");
  std::set<std::pair<std::string, std::string>> listed;
  for (std::sregex_iterator it(doc.begin(), doc.end(), row), end; it != end; ++it) {
    EXPECT_TRUE(listed.emplace((*it)[1], (*it)[2]).second)
        << (*it)[1] << " " << (*it)[2] << " twice";
  }
  ASSERT_FALSE(listed.empty()) << "docs/api.md has no route table";
  for (const auto& r : routed) {
    EXPECT_TRUE(listed.count(r)) << r.first << " " << r.second
                                 << " is routed but not in docs/api.md";
  }
  for (const auto& l : listed) {
    EXPECT_TRUE(routed.count(l)) << l.first << " " << l.second
                                 << " is in docs/api.md but not routed";
  }
}

TEST(ApiDocs, GivenApiMd_WhenItsErrorTableIsRead_ThenItIsTheErrorCodeTable) {
  const std::string doc = read_doc("docs/api.md");
  const std::regex row(R"(\n\| `([a-z0-9_]+)` \| (\d{3}) \| ([^\n]*) \|)");
  std::vector<std::tuple<std::string, unsigned, std::string>> listed;
  for (std::sregex_iterator it(doc.begin(), doc.end(), row), end; it != end; ++it) {
    listed.emplace_back((*it)[1], static_cast<unsigned>(std::stoul((*it)[2])), (*it)[3]);
  }
  ASSERT_EQ(listed.size(), error_codes().size())
      << "docs/api.md's error table is not the table of "
         "src/api/error_codes.cpp (run scripts/error_codes.py)";
  std::size_t i = 0;
  for (const auto& c : error_codes()) {
    EXPECT_EQ(std::get<0>(listed[i]), c.code) << i;
    EXPECT_EQ(std::get<1>(listed[i]), c.status) << c.code;
    EXPECT_EQ(std::get<2>(listed[i]), c.meaning) << c.code;
    ++i;
  }
}
