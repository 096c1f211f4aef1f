// The worker list served from per-worker renderings: it must show every change a fresh
// to_json() would, and render a worker again only when it changed.
#include <gtest/gtest.h>

#include <csignal>

#include "paddock/api/worker_json.hpp"
#include "paddock/api/worker_list.hpp"
#include "support/fakes.hpp"

using namespace paddock;
using namespace paddock::supervisor;
using namespace std::chrono_literals;

namespace {

class WorkerListTest : public ::testing::Test {
 protected:
  WorkerListTest() : uids(60000, 60003, table), ports(20000, 20003, binder) {
    cfg.process.worker_uid_range_start = 60000;
    cfg.process.worker_uid_range_end = 60003;
    cfg.process.max_workers = 10;
    cfg.log.worker_log_ring_bytes = 1024;
    sandbox::SandboxProfile p;
    p.name = "shell";
    p.ro_paths = {"/usr"};
    p.command = {"/bin/sh"};
    profiles.profiles["shell"] = p;
    sup = std::make_unique<Supervisor>(cfg, ops, sched, uids, ports, profiles, fs, events);
  }

  /// What the list must be: every listed worker's to_json() from a fresh snapshot.
  std::string expected(std::optional<State> state = std::nullopt,
                       const std::optional<std::vector<std::string>>& fields = std::nullopt) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& w : sup->list(state)) {
      auto j = api::to_json(w);
      arr.push_back(fields ? api::select_fields(j, *fields) : j);
    }
    return "{\"workers\":" + arr.dump() + ",\"count\":" + std::to_string(arr.size()) + "}\n";
  }
  std::string listed(std::optional<State> state = std::nullopt,
                     const std::optional<std::vector<std::string>>& fields = std::nullopt) {
    return cache.render(*sup, sup->list_versions(state), fields);
  }
  /// The cached list matches a fresh rendering, and shows `needle`.
  void check(const std::string& needle) {
    const auto got = listed();
    EXPECT_EQ(got, expected());
    EXPECT_NE(got.find(needle), std::string::npos) << needle << " not in " << got;
  }

  config::Config cfg;
  fakes::EmptyProcessTable table;
  fakes::AlwaysBinder binder;
  pool::UidPool uids;
  pool::PortPool ports;
  fakes::MapProfiles profiles;
  fakes::FakeFs fs;
  fakes::FakeScheduler sched;
  fakes::FakeProcessOps ops;
  EventBus events;
  std::unique_ptr<Supervisor> sup;
  api::WorkerListCache cache;
};

}  // namespace

TEST_F(WorkerListTest, GivenEveryKindOfChange_ThenTheCachedListShowsItAndIsRenderedOnlyOnChange) {
  sandbox::WorkerSpec s;
  s.command = {"/bin/sh", "-c", "x"};
  s.labels["app"] = "one";
  s.restart = sandbox::RestartPolicy::Always;
  ops.cgroup = cgroup::Controllers{};
  auto w = sup->create(s);
  ASSERT_TRUE(w) << w.error().message;
  check("\"state\":\"starting\"");
  check("\"app\":\"one\"");
  const auto renders = cache.renders();
  listed();
  listed();
  EXPECT_EQ(cache.renders(), renders) << "an unchanged worker was rendered again";

  ops.start(0, 4242);  // state, pid, started_at
  check("\"pid\":4242");
  check("\"state\":\"ready\"");
  EXPECT_EQ(cache.renders(), renders + 1);

  ops.usage_now = cgroup::Usage{1234, 5, 2, 0};  // usage refresh, without a new rendering
  check("\"memory_bytes\":1234");
  ops.usage_now->memory_bytes = 99999;
  check("\"memory_bytes\":99999");
  EXPECT_EQ(cache.renders(), renders + 1);

  ops.output(0, Stream::Stdout, std::string(3000, 'x') + "\n" + std::string(3000, 'y') + "\n");
  ASSERT_GT(sup->get(w->id)->dropped_log_bytes, 0u);  // the ring was too small for a line
  check("\"dropped_log_bytes\":" + std::to_string(sup->get(w->id)->dropped_log_bytes));

  ops.exit(0, 3);  // exit code, exited_at, state, reason; then a restart
  check("\"exit_code\":3");
  sched.advance(60s);
  ASSERT_EQ(ops.launches.size(), 2u) << "the worker was not restarted";
  ops.start(1, 5151);
  check("\"restarts\":1");
  check("\"pid\":5151");

  ASSERT_TRUE(sup->stop(w->id, 0s, "stopped for the test"));
  check("stopped for the test");
  ops.exit(1, -1, SIGKILL);
  check("\"signal\":9");
  check("\"state\":\"exited\"");
}

TEST_F(WorkerListTest, GivenFieldsAndFilters_ThenOnlyThoseFieldsOfTheMatchingWorkers) {
  sandbox::WorkerSpec s;
  s.command = {"/bin/sh"};
  auto a = sup->create(s);
  auto b = sup->create(s);
  ASSERT_TRUE(a && b);
  ops.start(0);
  auto fields = api::parse_worker_fields("state,id,usage,state");
  ASSERT_TRUE(fields) << fields.error().message;
  EXPECT_EQ(*fields, (std::vector<std::string>{"id", "state", "usage"}));
  EXPECT_EQ(listed(std::nullopt, *fields), expected(std::nullopt, *fields));
  EXPECT_EQ(listed(State::Ready, *fields), expected(State::Ready, *fields));
  EXPECT_EQ(listed(State::Starting), expected(State::Starting));
  const auto one = nlohmann::json::parse(listed(State::Ready, std::vector<std::string>{"id"}));
  EXPECT_EQ(one["workers"], (nlohmann::json::array({{{"id", a->id}}})));
  EXPECT_EQ(one["count"], 1);
}

TEST_F(WorkerListTest, GivenUnknownOrEmptyFieldNames_ThenInvalidQueryNamingFields) {
  for (const char* bad : {"id,bogus", "", "id,", "ID"}) {
    auto r = api::parse_worker_fields(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, "invalid_query");
    EXPECT_EQ(r.error().field, "fields");
  }
  auto r = api::parse_worker_fields("id,bogus");
  EXPECT_NE(r.error().message.find("'bogus'"), std::string::npos) << r.error().message;
  // Every property to_json() writes is a field a client may ask for.
  const auto j = api::to_json(WorkerSnapshot{});
  for (const auto& [k, v] : j.items()) {
    EXPECT_TRUE(api::parse_worker_fields(k)) << k << " is not in the Worker schema";
  }
}

TEST_F(WorkerListTest, GivenForgottenWorkers_ThenTheCacheLetsThemGo) {
  sandbox::WorkerSpec s;
  s.command = {"/bin/sh"};
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(sup->create(s));
  listed();
  EXPECT_EQ(cache.size(), 3u);
  sup = std::make_unique<Supervisor>(cfg, ops, sched, uids, ports, profiles, fs, events);
  listed();
  EXPECT_EQ(cache.size(), 0u);
}
