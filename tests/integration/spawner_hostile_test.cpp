// The spawner as a compromised daemon would meet it: this test starts a real spawner
// (`paddockd spawner`) on a socketpair and sends what an attacker controlling the daemon could.
// Every bad request is refused with a reason, the spawner keeps serving, and nothing runs under
// a worker UID afterwards.
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "paddock/privsep/client.hpp"
#include "paddock/privsep/protocol.hpp"
#include "paddock/runfiles/runfiles.hpp"
#include "support/daemon.hpp"

using namespace paddock;
using namespace paddock::privsep;
using namespace std::chrono_literals;

namespace {

constexpr uid_t kFirst = 61700;
constexpr uid_t kLast = 61709;

std::size_t processes_in_range() {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    struct stat st {};
    if (::stat(e.path().c_str(), &st) == 0 && st.st_uid >= kFirst && st.st_uid <= kLast) ++n;
  }
  return n;
}

class SpawnerHostile : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the spawner needs root to switch to worker UIDs";
    test::TestDaemonOptions o;
    o.config_only = true;
    o.set["process.worker_uid_range_start"] = std::to_string(kFirst);
    o.set["process.worker_uid_range_end"] = std::to_string(kLast);
    o.set["process.default_network"] = "\"none\"";
    cfg = std::make_unique<test::TestDaemon>(o);
    auto started = start_spawner(PADDOCKD_PATH, cfg->config_path());
    ASSERT_TRUE(started) << started.error().message;
    pid = started->pid;
    sock = std::move(started->sock);
    auto hello = call(Type::Hello, nlohmann::json::object());
    ASSERT_TRUE(reply_status(hello.body)) << hello.body.dump();
  }

  void TearDown() override {
    if (pid <= 0) return;
    sock.reset();  // the daemon is gone: the spawner stops what runs and exits
    int status = -1;
    for (int i = 0; i < 500 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    EXPECT_EQ(processes_in_range(), 0u);
  }

  /// Sends a request and returns its reply (events that come first are skipped).
  Message call(Type type, const nlohmann::json& body, std::uint32_t id = 0) {
    if (id == 0) id = next++;
    EXPECT_TRUE(send_message(sock.get(), type, id, body, {}, kMaxRequestBytes));
    return reply_to(id);
  }

  Message reply_to(std::uint32_t id) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      Message m;
      auto got = receive_message(sock.get(), kMaxReplyBytes, m);
      if (!got) {
        ADD_FAILURE() << got.error().message;
        continue;
      }
      if (*got == Received::Closed) {
        ADD_FAILURE() << "the spawner closed its socket";
        return {};
      }
      if (*got == Received::WouldBlock) {
        std::this_thread::sleep_for(1ms);
        continue;
      }
      if (m.type == Type::Reply && m.id == id) return m;
      events.push_back(std::move(m));
    }
    ADD_FAILURE() << "no reply to request " << id;
    return {};
  }

  /// The request is refused; returns the error.
  Error refused(Type type, const nlohmann::json& body) {
    auto m = call(type, body);
    auto st = reply_status(m.body);
    EXPECT_FALSE(st) << to_string(type) << " " << body.dump() << " was accepted";
    EXPECT_TRUE(m.fds.empty());
    return st ? Error{} : st.error();
  }

  bool alive() {
    auto m = call(Type::Hello, nlohmann::json::object());
    return static_cast<bool>(reply_status(m.body)) && m.body.value("version", 0) == kVersion;
  }

  nlohmann::json launch(const std::string& id, nlohmann::json spec) {
    return {{"worker_id", id}, {"spec", std::move(spec)}};
  }

  std::unique_ptr<test::TestDaemon> cfg;
  pid_t pid = -1;
  util::UniqueFd sock;
  std::uint32_t next = 1;
  std::vector<Message> events;
};

const std::string kA = "w-AAAAAAAAAAAAAAAAAAAAAA";
const std::string kB = "w-BBBBBBBBBBBBBBBBBBBBBB";
const nlohmann::json kSleep = {{"command", {"sleep", "30"}}};

}  // namespace

TEST_F(SpawnerHostile, GivenLaunchesTheSpawnerDidNotLeaseThenEachIsRefused) {
  // No UID leased for this id: the daemon cannot pick one.
  EXPECT_NE(refused(Type::Launch, launch(kA, kSleep)).message.find("holds no UID"),
            std::string::npos);
  // A UID in the request is not a field of the protocol.
  auto uid = refused(Type::Launch, {{"worker_id", kA}, {"spec", kSleep}, {"uid", 0}});
  EXPECT_EQ(uid.field, "uid");
  // Not a worker id: no path, no other prefix.
  EXPECT_EQ(refused(Type::LeaseUid, {{"worker_id", "w-../../../../etc/passwd"}}).field,
            "worker_id");
  EXPECT_EQ(refused(Type::LeaseUid, {{"worker_id", 0}}).field, "worker_id");
  // A lease for A does not let B run.
  auto lease = call(Type::LeaseUid, {{"worker_id", kA}});
  ASSERT_TRUE(reply_status(lease.body)) << lease.body.dump();
  const uid_t uid_a = lease.body["uid"];
  EXPECT_GE(uid_a, kFirst);
  EXPECT_LE(uid_a, kLast);
  EXPECT_NE(refused(Type::Launch, launch(kB, kSleep)).message.find("holds no UID"),
            std::string::npos);
  EXPECT_NE(refused(Type::LeaseUid, {{"worker_id", kA}}).message.find("holds a UID already"),
            std::string::npos);
  auto in_spec = refused(Type::Launch, launch(kA, {{"command", {"true"}}, {"uid", 0}}));
  EXPECT_EQ(in_spec.field, "spec.uid");
  EXPECT_TRUE(alive());
  EXPECT_EQ(processes_in_range(), 0u);
}

TEST_F(SpawnerHostile, GivenSpecsOutsideTheConfigThenEachIsRefusedNamingTheField) {
  ASSERT_TRUE(reply_status(call(Type::LeaseUid, {{"worker_id", kA}}).body));
  const std::vector<std::pair<nlohmann::json, std::string>> cases{
      {{{"command", {"cat", "/etc/shadow"}}, {"bundle", "/etc"}}, "spec.bundle"},
      {{{"command", {"true"}}, {"bundle", "b-0123456789abcdef01234567"}}, "spec.bundle"},
      {{{"command", {"--bind", "/", "/host"}}}, "spec.command"},
      {{{"command", {"true"}}, {"profile", "root"}}, "spec.profile"},
      {{{"command", {"true"}}, {"profile", "../../etc"}}, "spec.profile"},
      {{{"command", {"true"}}, {"limits", {{"memory_mb", 1 << 20}}}}, "spec.limits.memory_mb"},
      {{{"command", {"true"}}, {"network", "host"}}, "spec.network"},
      {{{"command", {"true"}}, {"port", true}}, "spec.port"},
      {{{"command", {"true"}}, {"env", {{"LD_PRELOAD", "/tmp/x.so"}}}}, "spec.env"},
  };
  for (const auto& [spec, field] : cases) {
    auto e = refused(Type::Launch, launch(kA, spec));
    EXPECT_EQ(e.field.substr(0, field.size()), field) << spec.dump() << ": " << e.message;
    EXPECT_FALSE(e.message.empty());
  }
  EXPECT_TRUE(alive());
  EXPECT_EQ(processes_in_range(), 0u);
}

TEST_F(SpawnerHostile, GivenALiveWorkerThenItCannotBeLaunchedTwiceNorItsUidFreed) {
  ASSERT_TRUE(reply_status(call(Type::LeaseUid, {{"worker_id", kA}}).body));
  auto ok = call(Type::Launch, launch(kA, kSleep));
  ASSERT_TRUE(reply_status(ok.body)) << ok.body.dump();
  EXPECT_EQ(ok.fds.size(), 2u);  // stdout, stderr
  const auto proc = ok.body["proc"].get<std::uint64_t>();
  EXPECT_NE(refused(Type::Launch, launch(kA, kSleep)).message.find("running already"),
            std::string::npos);
  EXPECT_NE(refused(Type::ReleaseUid, {{"worker_id", kA}}).message.find("still runs"),
            std::string::npos);
  EXPECT_NE(refused(Type::RemoveData, {{"worker_id", kA}}).message.find("data stays"),
            std::string::npos);
  EXPECT_EQ(refused(Type::Signal, {{"proc", proc + 1000}, {"signal", 9}}).code, "not_found");
  EXPECT_EQ(refused(Type::Signal, {{"proc", proc}, {"signal", 0}}).field, "signal");
  // Stop it the way the daemon does; the exit event follows.
  ASSERT_TRUE(reply_status(call(Type::Kill, {{"proc", proc}}).body));
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  bool exited = false;
  while (!exited && std::chrono::steady_clock::now() < deadline) {
    (void)alive();  // collects events
    for (const auto& e : events)
      exited = exited || (e.type == Type::Exited && e.body["proc"] == proc);
  }
  EXPECT_TRUE(exited);
  EXPECT_TRUE(reply_status(call(Type::ReleaseUid, {{"worker_id", kA}}).body));
}

TEST_F(SpawnerHostile, GivenBrokenOversizedAndFloodedMessagesThenItKeepsServing) {
  // Oversized: longer than any request may be.
  const std::string big = encode(Type::Hello, 5000, {{"pad", std::string(kMaxRequestBytes, 'x')}});
  ASSERT_EQ(::send(sock.get(), big.data(), big.size(), 0), static_cast<ssize_t>(big.size()));
  // Truncated: a header without its body, half a header, a cut JSON body.
  const std::string whole = encode(Type::LeaseUid, 5001, {{"worker_id", kA}});
  for (std::size_t n : {std::size_t{6}, kHeaderBytes, whole.size() - 5}) {
    ASSERT_EQ(::send(sock.get(), whole.data(), n, 0), static_cast<ssize_t>(n));
  }
  // Replies and events are not requests.
  auto not_request = refused(Type::Exited, {{"proc", 1}, {"exit_code", 0}, {"signal", 0}});
  EXPECT_NE(not_request.message.find("not a request"), std::string::npos);
  // Descriptors are never taken from the daemon.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_TRUE(send_message(sock.get(), Type::Hello, 5002, nlohmann::json::object(), {fds[0]}));
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_FALSE(reply_status(reply_to(5002).body));
  // A flood: every request answered (refused) and the spawner still serves. Sent in bursts the
  // socket buffers hold, since a reader that never reads would stall any peer.
  constexpr int kFlood = 2000;
  constexpr int kBurst = 50;
  int refusals = 0;
  for (int burst = 0; burst < kFlood / kBurst; ++burst) {
    for (int i = 0; i < kBurst; ++i) {
      const auto id = static_cast<std::uint32_t>(10000 + burst * kBurst + i);
      ASSERT_TRUE(
          send_message(sock.get(), Type::Launch, id, launch(kB, kSleep), {}, kMaxRequestBytes));
    }
    for (int i = 0; i < kBurst; ++i) {
      auto m = reply_to(static_cast<std::uint32_t>(10000 + burst * kBurst + i));
      refusals += reply_status(m.body) ? 0 : 1;
    }
  }
  EXPECT_EQ(refusals, kFlood);
  // The oversized and the three truncated datagrams were each refused (no request id to answer).
  int unanswerable = 0;
  for (const auto& e : events) {
    if (e.type == Type::Reply && e.id == 0 && !reply_status(e.body)) ++unanswerable;
  }
  EXPECT_EQ(unanswerable, 4);
  EXPECT_TRUE(alive());
  EXPECT_EQ(processes_in_range(), 0u);
}

TEST_F(SpawnerHostile, GivenRunFilesFromAHostileDaemonThenOnlySealedMemfdsWithPlainPathsPass) {
  ASSERT_TRUE(reply_status(call(Type::LeaseUid, {{"worker_id", kA}}).body));
  auto body = launch(kA, {{"command", {"true"}}});
  body["workdir"] = true;
  body["files"] = {{{"path", "a.txt"}, {"offset", 0}, {"size", 2}}};
  auto send_with = [&](const nlohmann::json& b, int fd) {
    const std::uint32_t id = next++;
    EXPECT_TRUE(send_message(sock.get(), Type::Launch, id, b, {fd}, kMaxRequestBytes));
    return reply_status(reply_to(id).body);
  };
  // An unsealed memfd (the daemon could change it while the spawner reads it) and a pipe.
  util::UniqueFd open_fd(::memfd_create("x", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  ASSERT_EQ(::write(open_fd.get(), "hi", 2), 2);
  auto unsealed = send_with(body, open_fd.get());
  ASSERT_FALSE(unsealed);
  EXPECT_NE(unsealed.error().message.find("sealed"), std::string::npos);
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  EXPECT_FALSE(send_with(body, p[0]));
  ::close(p[0]);
  ::close(p[1]);
  // Sealed, but the paths or offsets are hostile.
  auto blob = runfiles::sealed_blob("hi");
  ASSERT_TRUE(blob);
  auto up = body;
  up["files"] = {{{"path", "../../etc/cron.d/x"}, {"offset", 0}, {"size", 2}}};
  auto refused_path = send_with(up, blob->get());
  ASSERT_FALSE(refused_path);
  EXPECT_EQ(refused_path.error().field, "files.../../etc/cron.d/x");
  auto outside = body;
  outside["files"] = {{{"path", "a"}, {"offset", 1}, {"size", 5}}};
  EXPECT_FALSE(send_with(outside, blob->get()));
  EXPECT_FALSE(std::filesystem::exists(cfg->dir() + "/data/" + kA));
  // Collect: only for a run that holds its UID and no longer runs.
  EXPECT_NE(
      refused(Type::Collect, {{"worker_id", kB}, {"patterns", {"*"}}}).message.find("holds no UID"),
      std::string::npos);
  EXPECT_EQ(refused(Type::Collect, {{"worker_id", kA}, {"patterns", "*"}}).field, "patterns");
  auto ok = call(Type::Collect, {{"worker_id", kA}, {"patterns", {"../x"}}});
  ASSERT_TRUE(reply_status(ok.body)) << ok.body.dump();
  ASSERT_EQ(ok.body["files"].size(), 1u);
  EXPECT_NE(ok.body["files"][0]["error"].get<std::string>().find(".."), std::string::npos);
  EXPECT_TRUE(reply_status(call(Type::ReleaseUid, {{"worker_id", kA}}).body));
}
