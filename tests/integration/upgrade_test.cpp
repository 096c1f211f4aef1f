// An upgrade in place: paddockd execs the installed binary in its own process (SIGUSR2, POST
// /v1/admin/upgrade, `paddock upgrade`) and the new image takes over every worker. A client
// polling a worker's port every 10 ms sees no failure; the worker keeps its id, pid, UID and port;
// its log goes on without a lost line; requests during the hand-over are answered (or 503 with
// Retry-After); nothing leaks. A binary that refuses the config leaves the daemon as it was.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "support/cli_proc.hpp"
#include "support/daemon.hpp"
#include "support/http_client.hpp"
#include "support/proc_probe.hpp"
#include "support/temp_dir.hpp"
#include "support/worker_api.hpp"

using namespace paddock::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

class Upgrade : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
    TestDaemonOptions o;
    o.set["log.worker_log_dir"] = "\"" + logs_.path() + "\"";
    d_ = std::make_unique<TestDaemon>(o);
    ASSERT_TRUE(d_->started()) << d_->start_error();
  }

  /// GET /v1/version's generation; 0 while it does not answer (a connection made during a long
  /// drain waits in the backlog past the client's timeout).
  std::uint64_t generation() const {
    try {
      auto r = d_->tcp().get("/v1/version", {bearer(d_->read_token())});
      if (r.status != 200) return 0;
      return r.json().value("generation", std::uint64_t{0});
    } catch (const std::exception&) {
      return 0;
    }
  }
  /// Waits until the new image serves generation `g`.
  bool wait_generation(std::uint64_t g) const {
    return eventually([&] { return generation() == g; }, 20s);
  }
  HttpResponse ask_upgrade() const {
    return d_->unix_client().request("POST", "/v1/admin/upgrade", "{}");
  }

  const TempDir logs_{"paddock-upgrade-logs"};
  std::unique_ptr<TestDaemon> d_;
};

}  // namespace

TEST_F(Upgrade,
       GivenAServingWorker_WhenUpgraded_ThenAClientPolling10msSeesNoFailureAndNoLineIsLost) {
  WorkerApi api(*d_);
  auto res = api.post("/v1/workers", {{"profile", "python"},
                                      {"port", true},
                                      {"name", "steady"},
                                      {"command", {"python3", "-c", kTickingHttpServer}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  const json before = api.wait_state(id, {"ready", "failed", "exited"});
  ASSERT_EQ(before["state"], "ready") << before.dump();
  const auto port = before["port"].get<std::uint16_t>();
  const pid_t daemon_pid = d_->pid();
  // A worker that ended before the upgrade is still listed after it, with its output.
  auto gone = api.post("/v1/workers", {{"command", {"sh", "-c", "echo bye; exit 7"}}});
  ASSERT_EQ(gone.status, 201u) << gone.body;
  const std::string gone_id = gone.json()["id"];
  ASSERT_EQ(api.wait_state(gone_id, {"exited", "failed"})["state"], "exited");

  // A client polling the worker every 10 ms, a new connection each time.
  std::atomic<bool> polling{true};
  std::atomic<int> served{0};
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  std::thread poller([&] {
    auto client = HttpClient::tcp("127.0.0.1", port);
    client.set_timeout(10s);
    while (polling) {
      std::string failure;
      try {
        auto r = client.get("/");
        if (r.status == 200 && r.body == "served") {
          ++served;
        } else {
          failure = std::to_string(r.status) + " " + r.body;
        }
      } catch (const std::exception& e) {
        failure = e.what();  // e.g. a reset: the bridge dropped the connection
      }
      if (!failure.empty()) {
        std::lock_guard lock(failures_mutex);
        failures.push_back(failure + " (after " + std::to_string(served.load()) + " served)");
      }
      std::this_thread::sleep_for(10ms);
    }
  });
  // An ASSERT below returns early: the poller is stopped and joined then too, so the failure
  // is reported instead of std::terminate on a joinable thread ("Subprocess aborted").
  struct StopPoller {
    std::atomic<bool>& polling;
    std::thread& thread;
    ~StopPoller() {
      polling = false;
      if (thread.joinable()) thread.join();
    }
  } stop_poller{polling, poller};
  std::this_thread::sleep_for(500ms);
  const int served_before = served;
  auto asked = ask_upgrade();
  ASSERT_EQ(asked.status, 202u) << asked.body;
  EXPECT_EQ(asked.json()["generation"], 1);
  ASSERT_TRUE(wait_generation(1)) << d_->log();
  std::this_thread::sleep_for(1s);
  polling = false;
  poller.join();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed requests, first: "
                                << (failures.empty() ? "" : failures[0]) << " (" << served_before
                                << " served before the upgrade)\n"
                                << d_->log();
  EXPECT_GT(served.load(), served_before + 20) << "the poller stopped being served";

  // The same process took over: same worker, same pid, UID and port, still ready.
  EXPECT_EQ(d_->pid(), daemon_pid);
  EXPECT_TRUE(d_->running());
  EXPECT_NE(d_->log().find("taking over from the previous image"), std::string::npos);
  const json after = api.get_json("/v1/workers/" + id);
  EXPECT_EQ(after["state"], "ready") << after.dump();
  for (const char* field : {"pid", "uid", "port", "name", "created_at", "restarts"}) {
    EXPECT_EQ(after[field], before[field]) << field << ": " << after.dump();
  }
  const json ended = api.get_json("/v1/workers/" + gone_id);
  EXPECT_EQ(ended["state"], "exited") << ended.dump();
  EXPECT_EQ(ended["exit_code"], 7) << ended.dump();
  const json ended_logs = api.get_json("/v1/workers/" + gone_id + "/logs");
  ASSERT_EQ(ended_logs["lines"].size(), 1u) << ended_logs.dump();
  EXPECT_EQ(ended_logs["lines"][0]["line"], "bye");

  // Its output goes on without a lost or repeated line: "tick N" for every N, seq 1, 2, ...
  std::vector<json> lines;
  ASSERT_TRUE(eventually(
      [&] {
        lines.clear();
        const json body = api.get_json("/v1/workers/" + id + "/logs?since=0");
        for (const auto& l : body["lines"]) lines.push_back(l);
        return lines.size() > 60;
      },
      10s))
      << lines.size() << " lines, last: " << (lines.empty() ? "" : lines.back().dump());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    ASSERT_EQ(lines[i]["seq"], i + 1) << lines[i].dump();
    ASSERT_EQ(lines[i]["line"], "tick " + std::to_string(i)) << lines[i].dump();
  }
  // The log file has them all, in one file.
  std::ifstream file(logs_.path() + "/" + id + ".log");
  std::size_t n = 0;
  for (std::string line; std::getline(file, line);) {
    ASSERT_NE(line.find(" out tick " + std::to_string(n)), std::string::npos) << line;
    ++n;
  }
  EXPECT_GE(n, lines.size() - 1);

  // A new worker never gets the survivor's UID or port; the survivor stops like any other.
  auto other = api.post("/v1/workers", {{"port", true}, {"command", {"sleep", "600"}}});
  ASSERT_EQ(other.status, 201u) << other.body;
  EXPECT_NE(other.json()["uid"], before["uid"]);
  EXPECT_NE(other.json()["port"], before["port"]);
  EXPECT_EQ(api.del("/v1/workers/" + id + "?grace_seconds=0").status, 202u);
  EXPECT_EQ(api.wait_state(id, {"exited", "failed"})["state"], "exited");
}

TEST_F(Upgrade, GivenAFloodOfStartsAndStops_WhenUpgraded_ThenEachIsAnsweredAndNothingLeaks) {
  WorkerApi api(*d_);
  const auto free_uids = api.metric("paddock_free_uids");
  ASSERT_TRUE(free_uids.has_value());
  const std::size_t fds_before = static_cast<std::size_t>(count_fds(d_->pid()));

  std::mutex m;
  std::vector<std::string> started;
  std::vector<std::string> unanswered;
  int refused = 0;
  std::atomic<int> done{0};
  auto one = [&](int i) {
    auto client = d_->tcp();
    client.set_timeout(30s);
    const paddock::test::Headers auth{bearer(d_->write_token())};
    HttpResponse r;
    std::string stop_id;
    if (i % 2 == 1) {
      std::lock_guard lock(m);
      if (!started.empty()) stop_id = started.front();
    }
    try {
      if (!stop_id.empty()) {
        r = client.request("DELETE", "/v1/workers/" + stop_id + "?grace_seconds=0", {}, auth);
      } else {
        r = client.request("POST", "/v1/workers", R"({"command":["sleep","600"]})", auth);
      }
    } catch (const std::exception& e) {
      std::lock_guard lock(m);
      unanswered.push_back(e.what());
      ++done;
      return;
    }
    std::lock_guard lock(m);
    if (r.status == 201) {
      started.push_back(r.json()["id"]);
    } else if (r.status == 503 && !r.header("Retry-After").empty()) {
      ++refused;
    } else if (r.status != 202 && r.status != 200) {
      unanswered.push_back(std::to_string(r.status) + " " + r.body);
    }
    ++done;
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) one(t * 25 + i);
    });
  }
  ASSERT_TRUE(eventually([&] { return done >= 20; }, 30s));
  ASSERT_EQ(::kill(d_->pid(), SIGUSR2), 0);
  for (auto& t : threads) t.join();
  ASSERT_TRUE(wait_generation(1)) << d_->log();
  EXPECT_TRUE(unanswered.empty()) << unanswered.size()
                                  << " requests not answered, first: " << unanswered[0];
  EXPECT_EQ(done.load(), 100);

  // Every worker the flood started is known to the new image and stops; every UID comes back.
  for (const auto& id : started) (void)api.del("/v1/workers/" + id + "?grace_seconds=0");
  for (const auto& id : started) {
    EXPECT_NE(api.wait_state(id, {"exited", "failed"}).value("state", ""), "") << id;
  }
  EXPECT_EQ(api.live_count(), 0);
  EXPECT_TRUE(eventually([&] { return api.metric("paddock_free_uids") >= free_uids; }, 10s))
      << "free UIDs " << api.metric("paddock_free_uids").value_or(-1) << " != " << *free_uids;
  // No descriptor of the first image is left open in the second, and nothing is left a zombie.
  EXPECT_TRUE(eventually(
      [&] { return static_cast<std::size_t>(count_fds(d_->pid())) <= fds_before + 2; }, 10s))
      << static_cast<std::size_t>(count_fds(d_->pid())) << " descriptors open, " << fds_before
      << " before";
  const auto kids = children_of(d_->pid());
  EXPECT_EQ(not_zombies(kids).size(), kids.size()) << "a child of the daemon is a zombie";
  std::cout << "flood: " << started.size() << " started, " << refused << " answered 503\n";
}

TEST_F(Upgrade, GivenAConfigTheNewBinaryRefuses_WhenAsked_ThenTheDaemonSaysWhyAndKeepsServing) {
  WorkerApi api(*d_);
  auto res = api.post("/v1/workers", {{"command", {"sleep", "600"}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  ASSERT_EQ(api.wait_state(id, {"ready"})["state"], "ready");
  {
    std::ofstream cfg(d_->config_path(), std::ios::app);
    cfg << "\n[upgrade_test]\nnot_a_key = 1\n";
  }
  // The CLI and the API say the same thing: what check-config of the new binary printed.
  auto r = ask_upgrade();
  EXPECT_EQ(r.status, 422u) << r.body;
  EXPECT_EQ(r.json()["error"]["code"], "upgrade_failed");
  const std::string why = r.json()["error"]["message"];
  EXPECT_NE(why.find("upgrade_test"), std::string::npos) << why;
  auto cli = paddock_cli({"--socket", d_->socket_path(), "upgrade"});
  EXPECT_EQ(cli.code, 1) << describe(cli);
  EXPECT_NE(cli.err.find(why), std::string::npos) << describe(cli) << "\nAPI: " << why;
  // Nothing changed: same generation, the worker still ready, requests served.
  EXPECT_EQ(generation(), 0u);
  EXPECT_EQ(api.get_json("/v1/workers/" + id)["state"], "ready");

  // Over TCP, even with a write token, an upgrade is refused: it is the admin's.
  auto tcp = d_->tcp().request("POST", "/v1/admin/upgrade", "{}", {bearer(d_->write_token())});
  EXPECT_EQ(tcp.status, 403u) << tcp.body;
  EXPECT_EQ(tcp.json()["error"]["code"], "admin_socket_only");
}

TEST_F(Upgrade, GivenTheCli_WhenItUpgradesTwice_ThenItWaitsForEachNewImageAndWorkersStay) {
  WorkerApi api(*d_);
  auto res = api.post("/v1/workers", {{"restart", "always"},
                                      {"command", {"sh", "-c", "echo up; sleep 0.3; exit 1"}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  ASSERT_TRUE(eventually([&] { return api.get_json("/v1/workers/" + id)["restarts"] >= 2; }, 20s));
  // A line half written when the upgrade comes is completed by the next image.
  auto half =
      api.post("/v1/workers",
               {{"command", {"sh", "-c", "printf 'before-'; sleep 3; echo after; sleep 600"}}});
  ASSERT_EQ(half.status, 201u) << half.body;
  const std::string half_id = half.json()["id"];
  ASSERT_EQ(api.wait_state(half_id, {"ready"})["state"], "ready");
  for (int g = 1; g <= 2; ++g) {
    auto cli = paddock_cli({"--socket", d_->socket_path(), "upgrade"});
    ASSERT_EQ(cli.code, 0) << describe(cli) << d_->log();
    EXPECT_NE(cli.out.find("upgraded: paddockd"), std::string::npos) << describe(cli);
    EXPECT_NE(cli.out.find("(generation " + std::to_string(g) + ")"), std::string::npos)
        << describe(cli);
    EXPECT_EQ(generation(), static_cast<std::uint64_t>(g));
    // `paddock status` says so, as GET /v1/version does.
    auto status = paddock_cli({"--socket", d_->socket_path(), "status"});
    EXPECT_NE(status.out.find(g == 1 ? ", upgraded in place once" : ", upgraded in place 2 times"),
              std::string::npos)
        << describe(status);
  }
  // A worker that keeps restarting goes on restarting under the new image, its count kept.
  const auto restarts = api.get_json("/v1/workers/" + id)["restarts"].get<int>();
  EXPECT_GE(restarts, 2);
  EXPECT_TRUE(eventually(
      [&] { return api.get_json("/v1/workers/" + id)["restarts"].get<int>() > restarts; }, 20s))
      << api.get_json("/v1/workers/" + id).dump();
  std::string text;
  const json logs = api.get_json("/v1/workers/" + id + "/logs?since=0");
  for (const auto& l : logs["lines"]) text += l["line"].get<std::string>() + "\n";
  EXPECT_NE(text.find("up\nup\nup\n"), std::string::npos) << text;
  ASSERT_TRUE(eventually(
      [&] {
        const json body = api.get_json("/v1/workers/" + half_id + "/logs");
        return body["lines"].size() == 1 && body["lines"][0]["line"] == "before-after";
      },
      10s))
      << api.get_json("/v1/workers/" + half_id + "/logs").dump();
}

TEST_F(Upgrade,
       GivenAnOpenConnectionThroughABridgedPort_WhenUpgraded_ThenItCarriesOnWithoutLosingAByte) {
  // An echo server: a long-lived connection like a Shiny app's websocket.
  const char* echo =
      "import os, socket, threading\n"
      "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
      "s.bind(('127.0.0.1', int(os.environ['PORT']))); s.listen(16)\n"
      "def serve(c):\n"
      "  while True:\n"
      "    d = c.recv(65536)\n"
      "    if not d: c.close(); return\n"
      "    c.sendall(d)\n"
      "while True:\n"
      "  c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()\n";
  WorkerApi api(*d_);
  auto res = api.post(
      "/v1/workers", {{"profile", "python"}, {"port", true}, {"command", {"python3", "-c", echo}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  const json w = api.wait_state(id, {"ready", "failed", "exited"});
  ASSERT_EQ(w["state"], "ready") << w.dump();
  auto conn = RawConnection::tcp(w["port"].get<std::uint16_t>());
  ASSERT_TRUE(conn.connected());
  auto echoed = [&](const std::string& expect) {
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (got.size() < expect.size() && std::chrono::steady_clock::now() < deadline) {
      got += conn.read_some(200ms);
    }
    return got;
  };
  ASSERT_TRUE(conn.send("before\n"));
  ASSERT_EQ(echoed("before\n"), "before\n");

  // Bytes keep flowing while the daemon hands over: a writer thread sends numbered lines.
  std::atomic<bool> writing{true};
  std::string sent;
  std::thread writer([&] {
    for (int i = 0; writing && i < 2000; ++i) {
      const std::string line = "line " + std::to_string(i) + "\n";
      if (!conn.send(line)) break;
      sent += line;
      std::this_thread::sleep_for(1ms);
    }
  });
  auto asked = ask_upgrade();
  ASSERT_EQ(asked.status, 202u) << asked.body;
  ASSERT_TRUE(wait_generation(1)) << d_->log();
  std::this_thread::sleep_for(200ms);
  writing = false;
  writer.join();
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(echoed(sent), sent) << "the connection lost or reordered bytes across the upgrade";
  ASSERT_TRUE(conn.send("after\n"));
  EXPECT_EQ(echoed("after\n"), "after\n");
  EXPECT_NE(d_->log().find("\"bridged_connections\":1"), std::string::npos) << d_->log();
}

TEST_F(Upgrade,
       GivenAStopThatOutlastsTheDrain_WhenUpgraded_ThenTheNewImageFinishesItWithTheGraceLeft) {
  WorkerApi api(*d_);
  auto res = api.post("/v1/workers", {{"command", {"sh", "-c", "trap '' TERM; sleep 600"}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  ASSERT_EQ(api.wait_state(id, {"ready"})["state"], "ready");
  // 12 s of grace: the drain gives up after 10 s and hands the stop over with about 2 s left.
  ASSERT_EQ(api.del("/v1/workers/" + id + "?grace_seconds=12").status, 202u);
  ASSERT_EQ(api.get_json("/v1/workers/" + id)["state"], "stopping");
  const auto asked = std::chrono::steady_clock::now();
  ASSERT_EQ(ask_upgrade().status, 202u);
  ASSERT_TRUE(wait_generation(1)) << d_->log();
  EXPECT_NE(d_->log().find("handing over with work still under way"), std::string::npos)
      << d_->log();
  // Still stopping under the new image, then killed when the grace runs out: not restarted,
  // not forgotten, not left running.
  EXPECT_EQ(api.get_json("/v1/workers/" + id)["state"], "stopping");
  const json done = api.wait_state(id, {"exited", "failed"}, 20s);
  EXPECT_EQ(done["state"], "exited") << done.dump();
  EXPECT_NE(done["reason"].get<std::string>().find("stopped by request"), std::string::npos)
      << done.dump();
  EXPECT_GE(std::chrono::steady_clock::now() - asked, 11s) << "the grace was cut short";
  EXPECT_TRUE(eventually([&] { return api.live_count() == 0; }, 5s));
}

TEST_F(Upgrade, GivenAStopSignalDuringTheDrain_ThenTheUpgradeIsCalledOffAndTheDaemonStops) {
  WorkerApi api(*d_);
  auto res = api.post("/v1/workers", {{"command", {"sh", "-c", "trap '' TERM; sleep 600"}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  ASSERT_EQ(api.wait_state(id, {"ready"})["state"], "ready");
  ASSERT_EQ(api.del("/v1/workers/" + id + "?grace_seconds=30").status, 202u);
  ASSERT_EQ(::kill(d_->pid(), SIGUSR2), 0);
  ASSERT_TRUE(
      eventually([&] { return d_->log().find("upgrade: draining") != std::string::npos; }, 10s));
  const auto status = d_->stop(20s);
  ASSERT_TRUE(status.has_value()) << "the daemon did not stop on SIGTERM during an upgrade\n"
                                  << d_->log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_EQ(d_->log().find("exec'ing the installed binary"), std::string::npos) << d_->log();
}

TEST_F(Upgrade,
       GivenAWorkerWithAWallLimit_WhenUpgraded_ThenTheLimitStillEndsItCountedFromItsStart) {
  WorkerApi api(*d_);
  auto res =
      api.post("/v1/workers", {{"limits", {{"wall_seconds", 3}}}, {"command", {"sleep", "600"}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  ASSERT_EQ(api.wait_state(id, {"ready"})["state"], "ready");
  ASSERT_EQ(ask_upgrade().status, 202u);
  ASSERT_TRUE(wait_generation(1)) << d_->log();
  const json done = api.wait_state(id, {"exited", "failed"}, 15s);
  EXPECT_EQ(done["state"], "exited") << done.dump();
  EXPECT_NE(done.value("reason", "").find("wall_seconds limit reached"), std::string::npos)
      << done.dump();
}

TEST(UpgradeWithoutLogFiles, GivenOutputOnlyInMemory_WhenUpgraded_ThenEveryLineIsStillServed) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
  TestDaemon d;  // no [log] worker_log_dir: output lives in the rings only (the default)
  ASSERT_TRUE(d.started()) << d.start_error();
  WorkerApi api(d);
  auto res = api.post("/v1/workers", {{"command",
                                       {"sh", "-c",
                                        "for i in $(seq 1 200); do echo line $i; done; "
                                        "printf 'half-'; sleep 2; echo done; sleep 600"}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  ASSERT_TRUE(eventually(
      [&] { return api.get_json("/v1/workers/" + id + "/logs?tail=1000")["lines"].size() == 200; },
      10s));
  auto asked = d.unix_client().request("POST", "/v1/admin/upgrade", "{}");
  ASSERT_EQ(asked.status, 202u) << asked.body;
  std::vector<json> lines;
  ASSERT_TRUE(eventually(
      [&] {
        const json body = api.get_json("/v1/workers/" + id + "/logs?since=0");
        lines.assign(body["lines"].begin(), body["lines"].end());
        return lines.size() == 201;
      },
      15s))
      << lines.size() << " lines\n"
      << d.log();
  for (std::size_t i = 0; i < 200; ++i) {
    ASSERT_EQ(lines[i]["seq"], i + 1);
    ASSERT_EQ(lines[i]["line"], "line " + std::to_string(i + 1));
  }
  EXPECT_EQ(lines[200]["line"], "half-done");
  EXPECT_EQ(lines[200]["seq"], 201);
}

TEST(UpgradeFromAPrivateDirectory,
     GivenABinaryUnderADirectoryTheDaemonsUserCannotSearch_WhenUpgraded_ThenItIsStillReached) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the daemon drops to its own user";
  // A checkout under /root (mode 0700): the unprivileged daemon cannot search the path to its
  // own binary, yet it must exec it. Hard links keep /proc/self/exe on the private path.
  const TempDir outer("paddock-private");
  ASSERT_EQ(::chmod(outer.path().c_str(), 0700), 0);
  const std::filesystem::path inner = std::filesystem::path(outer.path()) / "bin";
  std::filesystem::create_directory(inner);
  const std::filesystem::path built = std::filesystem::path(PADDOCKD_PATH).parent_path();
  for (const char* name : {"paddockd", "paddock-probe"}) {
    std::error_code ec;
    std::filesystem::create_hard_link(built / name, inner / name, ec);
    if (ec)
      GTEST_SKIP() << "cannot hard-link " << name << " into " << inner << ": " << ec.message();
  }
  TestDaemonOptions o;
  o.daemon_path = (inner / "paddockd").string();
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();
  auto asked = d.unix_client().request("POST", "/v1/admin/upgrade", "{}");
  ASSERT_EQ(asked.status, 202u) << asked.body << "\n" << d.log();
  EXPECT_TRUE(eventually(
      [&] {
        try {
          auto v = d.tcp().get("/v1/version", {bearer(d.read_token())});
          return v.status == 200 && v.json().value("generation", 0) == 1;
        } catch (const std::exception&) {
          return false;
        }
      },
      20s))
      << d.log();
  EXPECT_NE(d.log().find("\"binary\":\"" + (inner / "paddockd").string() + "\""), std::string::npos)
      << d.log();
}
