// paddockd under the systemd notify protocol, with NOTIFY_SOCKET pointed at a datagram socket of
// the test: READY=1 only once /healthz answers, SIGHUP reloads (a broken file keeps the old
// config and the daemon serving), watchdog keep-alives, STOPPING=1 on SIGTERM.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// GET `path` on 127.0.0.1:`port`; the status code, or 0 when nothing answered.
int http_get_status(std::uint16_t port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return 0;
  }
  const std::string req =
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return 0;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string resp;
  char buf[1024];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  if (resp.rfind("HTTP/1.1 ", 0) != 0 || resp.size() < 12) return 0;
  return std::stoi(resp.substr(9, 3));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A temporary directory with a config, a notify socket, and a paddockd started on them.
class NotifiedDaemon {
 public:
  NotifiedDaemon() {
    std::string tmpl = (fs::temp_directory_path() / "paddock-notify-it-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    // The daemon drops to its own user once listening: it must reach its config and state.
    ::chmod(dir_.c_str(), 0711);
    for (const char* d : {"run", "state", "data", "bundles"})
      fs::create_directories(dir_ + "/" + d);
    std::ofstream(dir_ + "/tokens") << "";
    port_ = free_loopback_port();
    notify_path_ = dir_ + "/notify.sock";
    notify_fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    notify_path_.copy(a.sun_path, sizeof a.sun_path - 1);
    EXPECT_EQ(::bind(notify_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    write_config(config_text(port_, "info"));
  }
  ~NotifiedDaemon() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(notify_fd_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string config_text(std::uint16_t port, const std::string& level) const {
    return "[server]\nlisten = [\"127.0.0.1:" + std::to_string(port) + "\"]\nsocket = \"" + dir_ +
           "/run/paddock.sock\"\nsocket_group = \"\"\ntoken_file = \"" + dir_ +
           "/tokens\"\n"
           "[process]\nseccomp_profile = \"" PADDOCK_BINARY_DIR
           "/profiles/seccomp/default.bpf\"\n"
           "sandbox_profiles_dir = \"" PADDOCK_SOURCE_DIR
           "/profiles/sandbox\"\nbundle_roots = [\"" +
           dir_ + "/bundles\"]\nstate_dir = \"" + dir_ + "/state\"\ndata_root = \"" + dir_ +
           "/data\"\n[preflight]\nenforce = false\nskip_metadata_check = true\n"
           // worker_egress probes it even when skipped: a closed loopback port, never the
           // real metadata address.
           "metadata_endpoint = \"127.0.0.1:9\"\n"
           "[log]\nformat = \"json\"\naudit_log = \"\"\nlevel = \"" +
           level + "\"\n";
  }
  void write_config(const std::string& text) const {
    // Through a rename, as editors and config management do.
    std::ofstream(config_path() + ".new") << text;
    fs::rename(config_path() + ".new", config_path());
  }
  std::string config_path() const { return dir_ + "/paddock.toml"; }
  std::string socket_path() const { return dir_ + "/run/paddock.sock"; }
  std::uint16_t port() const { return port_; }
  std::string log() const { return read_file(dir_ + "/stderr.log"); }

  void start(const std::vector<std::string>& extra_env = {}) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string s = *e;
      if (s.rfind("NOTIFY_SOCKET=", 0) == 0 || s.rfind("WATCHDOG_", 0) == 0) continue;
      env.push_back(s);
    }
    env.push_back("NOTIFY_SOCKET=" + notify_path_);
    for (const auto& e : extra_env) env.push_back(e);
    std::vector<char*> envp;
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string exe = PADDOCKD_PATH;
    std::string flag = "--config";
    std::string cfg = config_path();
    char* argv[] = {exe.data(), flag.data(), cfg.data(), nullptr};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    const std::string err = dir_ + "/stderr.log";
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_EQ(::posix_spawn(&pid_, exe.c_str(), &fa, nullptr, argv, envp.data()), 0);
    posix_spawn_file_actions_destroy(&fa);
  }

  /// The next datagram, or nullopt after `timeout` (or when the daemon exited and none is left).
  std::optional<std::string> next_message(std::chrono::milliseconds timeout = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{notify_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) == 1) {
        char buf[4096];
        const ssize_t n = ::recv(notify_fd_, buf, sizeof buf, 0);
        if (n >= 0) return std::string(buf, static_cast<std::size_t>(n));
      }
      if (exited()) return std::nullopt;
    }
    return std::nullopt;
  }
  /// Datagrams until one contains `needle` (which is returned) or the timeout.
  std::optional<std::string> wait_for(const std::string& needle,
                                      std::vector<std::string>* seen = nullptr) {
    for (;;) {
      auto m = next_message();
      if (!m) return std::nullopt;
      if (seen != nullptr) seen->push_back(*m);
      if (m->find(needle) != std::string::npos) return m;
    }
  }

  bool exited() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
      return true;
    }
    return false;
  }
  int wait_exit() {
    for (int i = 0; i < 300 && !exited(); ++i) std::this_thread::sleep_for(100ms);
    return exit_code_;
  }
  void signal(int sig) const { ASSERT_EQ(::kill(pid_, sig), 0); }

 private:
  std::string dir_;
  std::string notify_path_;
  int notify_fd_ = -1;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

}  // namespace

TEST(SystemdNotify, GivenNotifySocket_WhenTheDaemonStarts_ThenReadyArrivesOnlyOnceHealthzAnswers) {
  NotifiedDaemon d;
  d.start();
  auto ready = d.next_message();
  ASSERT_TRUE(ready.has_value()) << "no notification; daemon log:\n" << d.log();
  // The first message is READY=1: nothing is announced before the daemon serves.
  EXPECT_EQ(ready->rfind("READY=1\n", 0), 0u) << *ready;
  EXPECT_NE(ready->find("STATUS=serving on 127.0.0.1:" + std::to_string(d.port()) + ", " +
                        d.socket_path()),
            std::string::npos)
      << *ready;
  // At the moment READY=1 arrived the listener was already bound: /healthz answers at once.
  EXPECT_EQ(http_get_status(d.port(), "/healthz"), 200) << d.log();
  EXPECT_TRUE(fs::exists(d.socket_path()));
}

TEST(SystemdNotify, GivenAPortAlreadyInUse_WhenTheDaemonStarts_ThenItExitsWithoutEverSayingReady) {
  NotifiedDaemon d;
  // Occupy the configured port.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(d.port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  d.start();
  EXPECT_EQ(d.wait_exit(), 1) << d.log();
  while (auto m = d.next_message(200ms)) {
    EXPECT_EQ(m->find("READY=1"), std::string::npos) << *m;
  }
  ::close(fd);
}

TEST(SystemdNotify, GivenABrokenConfig_WhenSighup_ThenTheDaemonKeepsServingWithTheOldOne) {
  NotifiedDaemon d;
  d.start();
  ASSERT_TRUE(d.wait_for("READY=1").has_value()) << d.log();

  d.write_config(d.config_text(d.port(), "info") + "[limits]\nmemroy_mb = 5\n");
  d.signal(SIGHUP);
  std::vector<std::string> seen;
  auto after = d.wait_for("READY=1", &seen);
  ASSERT_TRUE(after.has_value()) << d.log();
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen[seen.size() - 2].rfind("RELOADING=1", 0), 0u) << seen[seen.size() - 2];
  EXPECT_NE(after->find("last reload rejected"), std::string::npos) << *after;

  EXPECT_EQ(http_get_status(d.port(), "/healthz"), 200);
  const auto log = d.log();
  EXPECT_NE(log.find("configuration reload rejected"), std::string::npos) << log;
  EXPECT_NE(log.find("memroy_mb"), std::string::npos) << log;
  EXPECT_NE(log.find(d.config_path() + ":"), std::string::npos) << log;

  // A second SIGHUP with the file repaired is accepted: the daemon was not left half-reloaded.
  d.write_config(d.config_text(d.port(), "debug"));
  d.signal(SIGHUP);
  auto fixed = d.wait_for("READY=1");
  ASSERT_TRUE(fixed.has_value()) << d.log();
  EXPECT_NE(fixed->find("STATUS=serving on 127.0.0.1:" + std::to_string(d.port())),
            std::string::npos)
      << *fixed;
  EXPECT_NE(fixed->find("reloaded"), std::string::npos) << *fixed;
  EXPECT_EQ(fixed->find("rejected"), std::string::npos) << *fixed;
  EXPECT_EQ(http_get_status(d.port(), "/healthz"), 200);
}

TEST(SystemdNotify,
     GivenAValidConfigChangingARestartKey_WhenSighup_ThenLiveKeysApplyAndTheRestWaits) {
  NotifiedDaemon d;
  d.start();
  ASSERT_TRUE(d.wait_for("READY=1").has_value()) << d.log();
  const std::uint16_t other = free_loopback_port();
  d.write_config(d.config_text(other, "debug"));
  d.signal(SIGHUP);
  auto after = d.wait_for("READY=1");
  ASSERT_TRUE(after.has_value()) << d.log();
  EXPECT_NE(after->find("restart to apply server.listen"), std::string::npos) << *after;
  // Still on the old port, not on the new one.
  EXPECT_EQ(http_get_status(d.port(), "/healthz"), 200);
  EXPECT_EQ(http_get_status(other, "/healthz"), 0);
  const auto log = d.log();
  EXPECT_NE(log.find("\"applied\":\"log.level\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"needs_restart\":\"server.listen\""), std::string::npos) << log;
}

TEST(SystemdNotify, GivenWatchdogUsec_ThenKeepAlivesFollowReady) {
  NotifiedDaemon d;
  d.start({"WATCHDOG_USEC=200000"});
  ASSERT_TRUE(d.wait_for("READY=1").has_value()) << d.log();
  int keepalives = 0;
  while (keepalives < 3) {
    auto m = d.next_message(10s);
    ASSERT_TRUE(m.has_value()) << "no keep-alive; log:\n" << d.log();
    if (*m == "WATCHDOG=1") ++keepalives;
  }
  EXPECT_EQ(keepalives, 3);
}

TEST(SystemdNotify, GivenARunningDaemon_WhenSigterm_ThenStoppingIsAnnouncedAndItExitsZero) {
  NotifiedDaemon d;
  d.start();
  ASSERT_TRUE(d.wait_for("READY=1").has_value()) << d.log();
  d.signal(SIGTERM);
  auto stopping = d.wait_for("STOPPING=1");
  ASSERT_TRUE(stopping.has_value()) << d.log();
  EXPECT_NE(stopping->find("STATUS=stopping (signal 15)"), std::string::npos) << *stopping;
  EXPECT_EQ(d.wait_exit(), 0) << d.log();
}

TEST(SystemdNotify, GivenARunningDaemon_WhenSigusr2_ThenReloadingAndReadyComeFromTheSameProcess) {
  NotifiedDaemon d;
  d.start({"WATCHDOG_USEC=400000"});
  ASSERT_TRUE(d.wait_for("READY=1").has_value()) << d.log();
  d.signal(SIGUSR2);
  std::vector<std::string> seen;
  auto reloading = d.wait_for("RELOADING=1", &seen);
  ASSERT_TRUE(reloading.has_value()) << d.log();
  EXPECT_NE(reloading->find("STATUS=upgrading"), std::string::npos) << *reloading;
  // The new image says READY=1 itself, from the same process (systemd's main PID stays), and
  // keeps the watchdog fed.
  auto ready = d.wait_for("READY=1", &seen);
  ASSERT_TRUE(ready.has_value()) << d.log();
  EXPECT_FALSE(d.exited()) << d.log();
  EXPECT_NE(d.log().find("taking over from the previous image"), std::string::npos) << d.log();
  EXPECT_EQ(http_get_status(d.port(), "/healthz"), 200);
  EXPECT_TRUE(d.wait_for("WATCHDOG=1").has_value()) << d.log();
  d.signal(SIGTERM);
  EXPECT_EQ(d.wait_exit(), 0) << d.log();
}
