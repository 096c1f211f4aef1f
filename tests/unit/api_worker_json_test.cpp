// Request parsing for the worker routes, and the JSON objects against docs/openapi.json.
#include <gtest/gtest.h>

#include <csignal>

#include "paddock/api/json_body.hpp"
#include "paddock/api/openapi.hpp"
#include "paddock/api/routes.hpp"
#include "paddock/api/worker_json.hpp"

using namespace paddock;
using namespace paddock::api;
using nlohmann::json;

namespace {
std::vector<std::string> required_of(const std::string& schema) {
  return openapi_document()["components"]["schemas"][schema]["required"]
      .get<std::vector<std::string>>();
}
}  // namespace

TEST(WorkerJson, GivenFullRequestThenEveryFieldLandsInTheSpec) {
  auto spec = parse_worker_spec(json{{"name", "shiny"},
                                     {"profile", "r"},
                                     {"command", {"Rscript", "app.R"}},
                                     {"env", {{"LANG", "C"}}},
                                     {"bundle", "/srv/b/app"},
                                     {"port", true},
                                     {"restart", "on-failure"},
                                     {"limits", {{"memory_mb", 256}, {"cpus", 0.5}}},
                                     {"idle_timeout_seconds", 600},
                                     {"max_lifetime_seconds", 3600},
                                     {"labels", {{"app", "x"}}},
                                     {"network", "none"}});
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->name, "shiny");
  EXPECT_EQ(spec->command, (std::vector<std::string>{"Rscript", "app.R"}));
  EXPECT_TRUE(spec->port);
  EXPECT_EQ(spec->restart, sandbox::RestartPolicy::OnFailure);
  EXPECT_EQ(spec->limits.memory_mb, 256u);
  EXPECT_DOUBLE_EQ(*spec->limits.cpus, 0.5);
  EXPECT_EQ(spec->network, sandbox::NetworkMode::None);
  EXPECT_EQ(spec->labels.at("app"), "x");
}

TEST(WorkerJson, GivenBadFieldsThenErrorNamesThePath) {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"command", "ls"}}, "command"},
      {{{"command", json::array()}}, "command"},
      {{{"limits", {{"memory_mb", -1}}}}, "limits.memory_mb"},
      {{{"limits", {{"gpus", 1}}}}, "limits.gpus"},
      {{{"restart", "sometimes"}}, "restart"},
      {{{"network", "bridge"}}, "network"},
      {{{"port", "yes"}}, "port"},
      {{{"labels", {{"a", 1}}}}, "labels"},
      {{{"nmae", "typo"}}, "nmae"},
  };
  for (const auto& [body, field] : cases) {
    auto spec = parse_worker_spec(body);
    ASSERT_FALSE(spec) << body.dump();
    EXPECT_NE(spec.error().field.find(field), std::string::npos)
        << body.dump() << " -> " << spec.error().field;
    EXPECT_EQ(status_for(spec.error()), 400u);
  }
}

TEST(WorkerJson, GivenRunWithBase64StdinThenDecoded) {
  auto run =
      parse_run_spec(json{{"command", {"cat"}}, {"stdin_base64", "aGk="}, {"timeout_seconds", 5}});
  ASSERT_TRUE(run);
  EXPECT_EQ(run->stdin_data, "hi");
  EXPECT_EQ(run->timeout_seconds, 5u);
  EXPECT_FALSE(parse_run_spec(json{{"stdin", "a"}, {"stdin_base64", "YQ=="}}));
  EXPECT_FALSE(parse_run_spec(json{{"stdin_base64", "!!"}}));
  EXPECT_FALSE(parse_run_spec(json{{"timeout_seconds", 0}}));
}

TEST(WorkerJson, SignalsByNameAndNumber) {
  EXPECT_EQ(*parse_signal("HUP"), SIGHUP);
  EXPECT_EQ(*parse_signal("SIGTERM"), SIGTERM);
  EXPECT_EQ(*parse_signal("9"), SIGKILL);
  EXPECT_FALSE(parse_signal("SIGSEGV"));
  EXPECT_FALSE(parse_signal(""));
}

TEST(WorkerJson, ErrorCodesMapToStatuses) {
  EXPECT_EQ(status_for(make_error("uid_exhausted", "")), 503u);
  EXPECT_EQ(status_for(make_error("capacity", "")), 503u);
  EXPECT_EQ(status_for(make_error("name_taken", "")), 409u);
  EXPECT_EQ(status_for(make_error("not_found", "")), 404u);
  EXPECT_EQ(status_for(make_error("spawn_failed", "")), 500u);
  EXPECT_EQ(status_for(make_error("env_not_allowed", "")), 400u);
}

TEST(WorkerJson, ObjectsCarryEveryFieldTheSpecRequires) {
  supervisor::WorkerSnapshot w;
  w.id = "w-1";
  w.kind = "worker";
  const json wj = to_json(w);
  for (const auto& k : required_of("Worker")) EXPECT_TRUE(wj.contains(k)) << "Worker lacks " << k;
  supervisor::RunResult r;
  r.worker = w;
  const json rj = to_json(r);
  for (const auto& k : required_of("RunResult"))
    EXPECT_TRUE(rj.contains(k)) << "RunResult lacks " << k;
  const json ej = to_json(supervisor::Event{});
  for (const auto& k : required_of("Event")) EXPECT_TRUE(ej.contains(k)) << "Event lacks " << k;
  const json lj = to_json(supervisor::LogLine{});
  for (const auto& k : required_of("LogLine")) EXPECT_TRUE(lj.contains(k)) << "LogLine lacks " << k;
}
