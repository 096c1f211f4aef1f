// A paddockd that dies without stopping its workers (kill -9) leaves them with its spawner; a
// paddockd started again adopts them: same ids, pids, UIDs and ports, their output from then on,
// and no UID or port of theirs handed out twice. Without a new daemon within [process]
// adopt_seconds, the spawner stops them itself.
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "paddock/privsep/drop.hpp"
#include "paddock/privsep/protocol.hpp"
#include "paddock/util/fd.hpp"
#include "support/daemon.hpp"
#include "support/http_client.hpp"
#include "support/proc_probe.hpp"
#include "support/temp_dir.hpp"
#include "support/worker_api.hpp"

using namespace paddock::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

/// Processes (not zombies) whose real UID is `uid`.
std::size_t running_under(uid_t uid) { return not_zombies(processes_with_uids(uid, uid)).size(); }

std::string logs_text(const WorkerApi& api, const std::string& id) {
  std::string out;
  const json body = api.get_json("/v1/workers/" + id + "/logs?tail=1000");
  for (const auto& l : body["lines"]) out += l["line"].get<std::string>() + "\n";
  return out;
}

/// The spawner: the daemon's only child.
pid_t spawner_of(pid_t daemon) {
  const auto kids = children_of(daemon);
  return kids.size() == 1 ? kids.front().pid : -1;
}

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), std::min(path.size() + 1, sizeof a.sun_path));
  return a;
}

/// In a child running as `uid`: connects to `path`, says hello and waits 2 s for an answer.
/// Exit 0: refused (connect failed, hung up on, or no answer); 1: answered.
int hello_as(uid_t uid, const std::string& path) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(uid, uid, uid) != 0) {
      ::_exit(2);
    }
    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    const auto a = unix_address(path);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) ::_exit(0);
    if (!paddock::privsep::send_message(fd, paddock::privsep::Type::Hello, 1, json::object())) {
      ::_exit(0);
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) ::_exit(0);
    char byte;
    ::_exit(::recv(fd, &byte, 1, MSG_PEEK) > 0 ? 1 : 0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class Adopt : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
  }
  void start(const std::string& adopt_seconds, const std::string& worker_log_dir = "") {
    TestDaemonOptions o;
    o.set["process.adopt_seconds"] = adopt_seconds;
    if (!worker_log_dir.empty()) o.set["log.worker_log_dir"] = "\"" + worker_log_dir + "\"";
    d = std::make_unique<TestDaemon>(o);
    ASSERT_TRUE(d->started()) << d->start_error();
  }
  /// Starts `sleep 600` (with `extra` fields) and returns the worker once it is ready.
  json start_sleeper(const json& extra = json::object()) {
    json body = extra;
    body["command"] = {"sleep", "600"};
    auto res = WorkerApi(*d).post("/v1/workers", body);
    EXPECT_EQ(res.status, 201u) << res.body;
    auto ready = WorkerApi(*d).wait_state(res.json().value("id", ""), {"ready"});
    EXPECT_EQ(ready["state"], "ready") << ready.dump();
    return ready;
  }
  void kill_daemon() {
    ASSERT_EQ(::kill(d->pid(), SIGKILL), 0);
    ASSERT_TRUE(d->wait_exit(10s).has_value());
  }
  std::unique_ptr<TestDaemon> d;
};

}  // namespace

TEST_F(Adopt, GivenTheDaemonKilled_WhenStartedAgain_ThenItsWorkersAreAdoptedWhole) {
  const TempDir logs_dir("paddock-adopt-logs");
  const std::string& logs = logs_dir.path();
  start("30", logs);
  WorkerApi api(*d);
  auto res = api.post("/v1/workers", {{"profile", "python"},
                                      {"port", true},
                                      {"name", "survivor"},
                                      {"labels", {{"app", "adopt"}}},
                                      {"command", {"python3", "-c", kTickingHttpServer}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  auto before = api.wait_state(id, {"ready", "failed", "exited"});
  ASSERT_EQ(before["state"], "ready") << before.dump() << logs_text(api, id);
  const std::uint16_t port = before["port"].get<std::uint16_t>();
  const uid_t uid = before["uid"].get<uid_t>();
  EXPECT_EQ(HttpClient::tcp("127.0.0.1", port).get("/").body, "served");

  kill_daemon();
  ASSERT_TRUE(d->start_again()) << d->start_error();
  EXPECT_NE(d->log().find("adopted the previous daemon's workers"), std::string::npos) << d->log();

  // Listed as it was: same id, pid, UID, port, name and labels, and ready.
  auto after = api.get_json("/v1/workers/" + id);
  EXPECT_EQ(after["state"], "ready") << after.dump();
  EXPECT_EQ(after["pid"], before["pid"]) << after.dump();
  EXPECT_EQ(after["uid"], before["uid"]);
  EXPECT_EQ(after["port"], before["port"]);
  EXPECT_EQ(after["name"], "survivor");
  EXPECT_EQ(after["labels"]["app"], "adopt");
  auto list = api.get_json("/v1/workers");
  ASSERT_EQ(list["workers"].size(), 1u) << list.dump();
  EXPECT_EQ(list["workers"][0]["id"], id);

  // Still served through the same port, and its output after the restart is captured.
  EXPECT_EQ(HttpClient::tcp("127.0.0.1", port).get("/").body, "served");
  const std::string first = logs_text(api, id);
  EXPECT_TRUE(eventually([&] { return logs_text(api, id).size() > first.size(); }, 5s))
      << "no output captured after the adoption:\n"
      << first;

  // The previous daemon's log file of the worker stays as .log.1; this daemon writes a new one.
  EXPECT_EQ(d->log().find("cannot open worker log file"), std::string::npos) << d->log();
  auto file = [&](const std::string& name) {
    std::ifstream in(logs + "/" + name);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  EXPECT_NE(file(id + ".log.1").find(" out tick 0"), std::string::npos) << file(id + ".log.1");
  EXPECT_TRUE(
      eventually([&] { return file(id + ".log").find(" out tick") != std::string::npos; }, 5s))
      << file(id + ".log");

  // A new worker never gets the survivor's UID or port.
  auto other = api.post("/v1/workers", {{"port", true}, {"command", {"sleep", "600"}}});
  ASSERT_EQ(other.status, 201u) << other.body;
  EXPECT_NE(other.json()["uid"], before["uid"]);
  EXPECT_NE(other.json()["port"], before["port"]);

  // The adopted worker is stopped like any other, and nothing of it is left.
  EXPECT_EQ(api.del("/v1/workers/" + id + "?grace_seconds=0").status, 202u);
  auto done = api.wait_state(id, {"exited", "failed"});
  EXPECT_EQ(done["state"], "exited") << done.dump();
  EXPECT_TRUE(eventually([&] { return running_under(uid) == 0; }, 5s));
}

TEST_F(Adopt, GivenAWorkerThatEndsWhileNoDaemonRuns_ThenTheNewDaemonListsItExited) {
  start("30");
  WorkerApi api(*d);
  // The UIDs of the preflight's probe workers drain for a moment after the start (the gauge
  // may be 200 ms old): the baseline is taken once two reads 300 ms apart agree.
  std::optional<double> free_before;
  ASSERT_TRUE(eventually(
      [&] {
        const auto first = api.metric("paddock_free_uids");
        std::this_thread::sleep_for(300ms);
        free_before = api.metric("paddock_free_uids");
        return first.has_value() && first == free_before;
      },
      5s));
  auto res =
      api.post("/v1/workers", {{"command", {"sh", "-c", "echo up; sleep 1; echo bye; exit 3"}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  ASSERT_EQ(api.wait_state(id, {"ready"})["state"], "ready");
  kill_daemon();
  std::this_thread::sleep_for(1500ms);  // it ends meanwhile
  ASSERT_TRUE(d->start_again()) << d->start_error();
  auto w = api.get_json("/v1/workers/" + id);
  EXPECT_EQ(w["state"], "exited") << w.dump();
  EXPECT_EQ(w["exit_code"], 3) << w.dump();
  EXPECT_NE(w["reason"].get<std::string>().find("while no daemon ran"), std::string::npos)
      << w.dump();
  // Its UID went back to the pool.
  EXPECT_TRUE(eventually([&] { return api.metric("paddock_free_uids") == free_before; }, 5s))
      << "free UIDs " << api.metric("paddock_free_uids").value_or(-1) << ", before "
      << *free_before;
}

TEST_F(Adopt, GivenTheDaemonKilledAndNoneAdopts_ThenTheSpawnerStopsEveryWorkerAfterAdoptSeconds) {
  start("2");
  const json w = start_sleeper();
  ASSERT_EQ(w["state"], "ready");
  const uid_t uid = w["uid"].get<uid_t>();
  const pid_t spawner = spawner_of(d->pid());
  ASSERT_GT(spawner, 0);
  kill_daemon();
  // Kept for a while for a new daemon ...
  std::this_thread::sleep_for(500ms);
  EXPECT_GT(running_under(uid), 0) << "the worker did not wait for a new daemon";
  EXPECT_TRUE(std::filesystem::exists(d->dir() + "/state/spawner.sock"));
  // ... then stopped, and the spawner is gone too.
  EXPECT_TRUE(eventually([&] { return running_under(uid) == 0; }, 8s));
  EXPECT_TRUE(eventually([&] { return ::kill(spawner, 0) != 0; }, 5s));
  EXPECT_FALSE(std::filesystem::exists(d->dir() + "/state/spawner.sock"));
}

TEST_F(Adopt, GivenAdoptSecondsZero_WhenTheDaemonIsKilled_ThenItsWorkersStopAtOnce) {
  start("0");
  const json w = start_sleeper();
  ASSERT_EQ(w["state"], "ready");
  const uid_t uid = w["uid"].get<uid_t>();
  kill_daemon();
  EXPECT_TRUE(eventually([&] { return running_under(uid) == 0; }, 5s));
  EXPECT_FALSE(std::filesystem::exists(d->dir() + "/state/spawner.sock"));
}

TEST_F(Adopt, GivenAClientThatIsNotRoot_WhenItConnectsToTheWaitingSpawner_ThenItIsHungUpOn) {
  start("30");
  WorkerApi api(*d);
  const json w = start_sleeper();
  ASSERT_EQ(w["state"], "ready");
  const std::string id = w["id"];
  kill_daemon();
  const std::string sock = d->dir() + "/state/spawner.sock";
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(sock); }, 5s));
  struct stat st {};
  ASSERT_EQ(::stat(sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u) << "only root may connect";
  EXPECT_EQ(st.st_uid, 0u);
  // Even with the mode opened up (and the directory traversable), the spawner answers nobody
  // but root: it checks the peer's credentials.
  ASSERT_EQ(::chmod(sock.c_str(), 0666), 0);
  ASSERT_EQ(::chmod((d->dir() + "/state").c_str(), 0755), 0);
  EXPECT_EQ(hello_as(65534, sock), 0) << "a non-root client was answered by the spawner";
  // Root still adopts afterwards.
  ASSERT_TRUE(d->start_again()) << d->start_error();
  EXPECT_EQ(api.get_json("/v1/workers/" + id)["state"], "ready") << d->log();
  EXPECT_NE(d->log().find("refused an adopter that is not root"), std::string::npos) << d->log();
}

TEST_F(Adopt, GivenASocketPlantedByTheDaemonsUser_WhenPaddockdStarts_ThenItIgnoresItAndServes) {
  auto user = paddock::privsep::lookup_daemon_user("paddock");
  if (!user) GTEST_SKIP() << "no user paddock: " << user.error().message;
  TestDaemonOptions o;
  o.config_only = true;
  d = std::make_unique<TestDaemon>(o);
  // The daemon's user owns state_dir; it could leave a socket of its own where the spawner waits.
  const std::string state = d->dir() + "/state";
  ASSERT_EQ(::chown(state.c_str(), user->uid, user->gid), 0);
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t planter = ::fork();
  if (planter == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(user->gid, user->gid, user->gid) != 0 ||
        ::setresuid(user->uid, user->uid, user->uid) != 0) {
      ::_exit(2);
    }
    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
    const auto a = unix_address(state + "/spawner.sock");
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4) != 0) {
      ::_exit(3);
    }
    if (::write(ready[1], "r", 1) != 1) ::_exit(4);
    for (;;) ::pause();
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1) << "the planted socket could not be made";
  ::close(ready[0]);
  struct Reap {
    pid_t pid;
    ~Reap() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reap{planter};
  ASSERT_TRUE(d->start_again()) << d->start_error();
  EXPECT_NE(d->log().find("not by a spawner running as root"), std::string::npos) << d->log();
  WorkerApi api(*d);
  auto res = api.post("/v1/workers", {{"command", {"sleep", "600"}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  EXPECT_EQ(api.wait_state(res.json()["id"], {"ready"})["state"], "ready") << d->log();
}

TEST_F(Adopt,
       GivenTheDaemonAndItsSpawnerKilled_WhenStartedAgain_ThenTheJournalListsTheirWorkersLost) {
  start("30");
  WorkerApi api(*d);
  const json before = start_sleeper({{"name", "gone"}});
  ASSERT_EQ(before["state"], "ready");
  const std::string id = before["id"];
  const pid_t spawner = spawner_of(d->pid());
  ASSERT_GT(spawner, 0);
  // The journal names it (written shortly after each change).
  ASSERT_TRUE(eventually(
      [&] {
        std::ifstream in(d->dir() + "/state/workers.json");
        const std::string text((std::istreambuf_iterator<char>(in)), {});
        return text.find(id) != std::string::npos;
      },
      5s));
  ASSERT_EQ(::kill(spawner, SIGKILL), 0);
  ASSERT_TRUE(d->wait_exit(10s).has_value()) << "the daemon outlived its spawner";
  ASSERT_TRUE(d->start_again()) << d->start_error();
  auto w = api.get_json("/v1/workers/" + id);
  EXPECT_EQ(w["state"], "failed") << w.dump();
  EXPECT_EQ(w["name"], "gone");
  EXPECT_NE(w["reason"].get<std::string>().find("lost"), std::string::npos) << w.dump();
  // Its name is free again and a new worker starts as usual.
  auto again = api.post("/v1/workers", {{"name", "gone"}, {"command", {"sleep", "600"}}});
  EXPECT_EQ(again.status, 201u) << again.body;
}

TEST_F(Adopt, GivenAWorkerWithAWallLimit_WhenAdopted_ThenTheLimitStillEndsIt) {
  start("30");
  WorkerApi api(*d);
  auto res =
      api.post("/v1/workers", {{"limits", {{"wall_seconds", 3}}}, {"command", {"sleep", "600"}}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  ASSERT_EQ(api.wait_state(id, {"ready"})["state"], "ready");
  kill_daemon();
  ASSERT_TRUE(d->start_again()) << d->start_error();
  const json done = api.wait_state(id, {"exited", "failed"}, 15s);
  EXPECT_EQ(done["state"], "exited") << done.dump();
  EXPECT_NE(done.value("reason", "").find("wall_seconds limit reached"), std::string::npos)
      << done.dump();
}
