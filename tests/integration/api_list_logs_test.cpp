// GET /v1/workers from per-worker renderings (?fields=, filters, changes seen) and worker output
// beyond the daemon-wide ring bound served from the worker's log file, against a real daemon.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <thread>

#include "support/daemon.hpp"
#include "support/worker_api.hpp"

using namespace paddock::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::set<std::string> keys(const json& o) {
  std::set<std::string> out;
  for (const auto& [k, v] : o.items()) out.insert(k);
  return out;
}

}  // namespace

TEST(ApiListAndLogs, GivenFieldsAndFilters_ThenOnlyThoseFieldsAndChangesAreSeen) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
  TestDaemonOptions o;
  o.set["process.stop_grace_seconds"] = "1";
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();
  WorkerApi api(d);
  auto a = api.post("/v1/workers", {{"command", {"sleep", "60"}}, {"labels", {{"app", "a"}}}});
  auto b = api.post("/v1/workers", {{"command", {"sleep", "60"}}, {"labels", {{"app", "b"}}}});
  ASSERT_EQ(a.status, 201u) << a.body;
  ASSERT_EQ(b.status, 201u) << b.body;
  const std::string ida = a.json()["id"], idb = b.json()["id"];
  ASSERT_EQ(api.wait_state(ida, {"ready"})["state"], "ready");
  ASSERT_EQ(api.wait_state(idb, {"ready"})["state"], "ready");

  const json all = api.get_json("/v1/workers");
  ASSERT_EQ(all["count"], 2);
  const json some = api.get_json("/v1/workers?fields=state,id");
  ASSERT_EQ(some["count"], 2);
  for (const auto& w : some["workers"]) {
    EXPECT_EQ(keys(w), (std::set<std::string>{"id", "state"})) << w.dump();
    EXPECT_EQ(w["state"], "ready");
  }
  const json by_label = api.get_json("/v1/workers?label=app=b&fields=id,labels,pid");
  ASSERT_EQ(by_label["count"], 1) << by_label.dump();
  EXPECT_EQ(by_label["workers"][0]["id"], idb);
  EXPECT_TRUE(by_label["workers"][0]["pid"].is_number()) << by_label.dump();
  const json one = api.get_json("/v1/workers/" + ida + "?fields=usage,state");
  EXPECT_EQ(keys(one), (std::set<std::string>{"state", "usage"})) << one.dump();

  for (const char* bad : {"/v1/workers?fields=id,bogus", "/v1/workers?fields=",
                          "/v1/workers/"
                          "x?fields=nope"}) {
    auto r = api.get(bad);
    EXPECT_EQ(r.status, 400u) << bad << " " << r.body;
    EXPECT_EQ(r.json()["error"]["field"], "fields") << r.body;
  }
  EXPECT_NE(api.get("/v1/workers?fields=id,bogus").body.find("bogus"), std::string::npos);

  // A change shows in the next list: the stopped worker's state, exit and pid.
  ASSERT_EQ(api.del("/v1/workers/" + ida + "?grace_seconds=0").status, 202u);
  ASSERT_EQ(api.wait_state(ida, {"exited", "failed"})["state"], "exited");
  const json after = api.get_json("/v1/workers?fields=id,state,pid,signal,exited_at");
  for (const auto& w : after["workers"]) {
    if (w["id"] == ida) {
      EXPECT_EQ(w["state"], "exited") << w.dump();
      EXPECT_TRUE(w["pid"].is_null()) << w.dump();
      EXPECT_FALSE(w["exited_at"].is_null()) << w.dump();
    } else {
      EXPECT_EQ(w["state"], "ready") << w.dump();
    }
  }
  EXPECT_EQ(api.get_json("/v1/workers?state=exited&fields=id")["workers"],
            json::array({{{"id", ida}}}));
  (void)api.del("/v1/workers/" + idb + "?grace_seconds=0");
  api.wait_state(idb, {"exited", "failed"});
}

// Usage in the list comes from the daemon's sampler thread while the list is being polled (the
// event loop no longer reads every worker's cgroup files on each poll): it must keep moving.
TEST(ApiListAndLogs, GivenABusyWorkerPolledForSeconds_ThenItsCpuUsageKeepsRising) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
  TestDaemon d;
  ASSERT_TRUE(d.started()) << d.start_error();
  WorkerApi api(d);
  auto w = api.post("/v1/workers", {{"command", {"sh", "-c", "while :; do :; done"}}});
  ASSERT_EQ(w.status, 201u) << w.body;
  const std::string id = w.json()["id"];
  ASSERT_EQ(api.wait_state(id, {"ready"})["state"], "ready");
  auto cpu = [&]() -> std::optional<std::uint64_t> {
    const json l = api.get_json("/v1/workers?fields=id,usage");
    for (const auto& x : l["workers"]) {
      if (x["id"] == id && x["usage"].is_object() && x["usage"]["cpu_usec"].is_number()) {
        return x["usage"]["cpu_usec"].get<std::uint64_t>();
      }
    }
    return std::nullopt;
  };
  const auto first = cpu();
  if (!first) GTEST_SKIP() << "the worker has no cgroup leaf here (no cgroup v2 hierarchy)";
  std::this_thread::sleep_for(1500ms);
  const auto second = cpu();
  std::this_thread::sleep_for(2500ms);
  const auto third = cpu();
  ASSERT_TRUE(second && third);
  EXPECT_GE(*second, *first);
  EXPECT_GT(*third, *first) << "usage stood still over 4 s of a spinning worker";
  EXPECT_GE(*third, *second);
  const json one = api.get_json("/v1/workers/" + id + "?fields=usage");
  ASSERT_TRUE(one["usage"]["cpu_usec"].is_number()) << one.dump();
  EXPECT_GE(one["usage"]["cpu_usec"].get<std::uint64_t>(), *third);
  EXPECT_EQ(api.del("/v1/workers/" + id + "?grace_seconds=0").status, 202u);
  EXPECT_EQ(api.wait_state(id, {"exited", "failed"})["state"], "exited");
}

TEST(ApiListAndLogs, GivenOutputPastTheDaemonRingTotal_ThenEveryLineIsServedFromTheFileInOrder) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
  char tmpl[] = "/tmp/paddock-ring-total-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  TestDaemonOptions o;
  o.set["log.worker_log_dir"] = "\"" + dir + "\"";
  o.set["log.worker_log_ring_bytes"] = "65536";
  o.set["log.max_ring_bytes_total"] = "32768";  // below one ring: the daemon-wide bound trims
  {
    TestDaemon d(o);
    ASSERT_TRUE(d.started()) << d.start_error();
    WorkerApi api(d);
    constexpr int kLines = 20000;  // ~110 KB
    auto w = api.post("/v1/workers", {{"command", {"seq", "1", std::to_string(kLines)}}});
    ASSERT_EQ(w.status, 201u) << w.body;
    const std::string id = w.json()["id"];
    const json done = api.wait_state(id, {"exited", "failed"});
    ASSERT_EQ(done["state"], "exited") << done.dump();
    EXPECT_EQ(done["dropped_log_bytes"], 0) << "lines that left memory are in the file";

    // since= paging, as a client resumes: every line once, in order, with its seq.
    std::uint64_t after = 0;
    int pages = 0;
    for (bool more = true; more; ++pages) {
      const json page = api.get_json("/v1/workers/" + id + "/logs?since=" + std::to_string(after));
      ASSERT_EQ(page["missing_lines"], 0) << page.dump().substr(0, 300);
      for (const auto& l : page["lines"]) {
        ASSERT_EQ(l["seq"], after + 1);
        ASSERT_EQ(l["line"], std::to_string(after + 1));
        ++after;
      }
      more = page["more"].get<bool>();
      ASSERT_LT(pages, 1000);
    }
    EXPECT_EQ(after, std::uint64_t(kLines));
    const json tail = api.get_json("/v1/workers/" + id + "/logs?tail=" + std::to_string(kLines));
    ASSERT_EQ(tail["lines"].size(), std::size_t(kLines));
    EXPECT_EQ(tail["lines"][0]["seq"], 1);
    EXPECT_EQ(tail["lines"][0]["line"], "1");
    EXPECT_EQ(tail["lines"][kLines - 1]["line"], std::to_string(kLines));
    // follow from the start replays the file's lines before the end of the stream.
    auto follow = api.get("/v1/workers/" + id + "/logs?follow=1&since=19990");
    ASSERT_EQ(follow.status, 200u);
    EXPECT_NE(follow.body.find("\"line\":\"19991\""), std::string::npos) << follow.body;
    EXPECT_NE(follow.body.find("\"line\":\"20000\""), std::string::npos) << follow.body;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
