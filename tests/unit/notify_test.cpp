// sd_notify messages: readiness, status, reload, stop and watchdog keep-alives reach the socket
// named by NOTIFY_SOCKET; without it nothing is sent.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "paddock/daemon/notify.hpp"

using namespace paddock;

namespace {

/// A datagram socket standing in for systemd's notify socket; sets NOTIFY_SOCKET while alive.
class NotifySocket {
 public:
  NotifySocket() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "paddock-notify-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    path_ = dir_ + "/notify.sock";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path_.copy(a.sun_path, sizeof a.sun_path - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
    ::close(fd_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  /// Every datagram waiting now (non-blocking).
  std::vector<std::string> drain() const {
    std::vector<std::string> out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0) break;
      out.emplace_back(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  std::string dir_;
  std::string path_;
  int fd_ = -1;
};

}  // namespace

TEST(NotifyMessage, GivenStateAndStatus_ThenOneDatagramWithAOneLineStatus) {
  EXPECT_EQ(daemon::notify_message("READY=1", "serving on 127.0.0.1:8080"),
            "READY=1\nSTATUS=serving on 127.0.0.1:8080");
  EXPECT_EQ(daemon::notify_message("READY=1", ""), "READY=1");
  EXPECT_EQ(daemon::notify_message("", "a\nb\rc"), "STATUS=a b c");
}

TEST(NotifyMessage, GivenEndpoints_ThenTheServingStatusNamesThemInOrder) {
  EXPECT_EQ(daemon::serving_status({"127.0.0.1:8080", "[::1]:8080", "/run/paddock/paddock.sock"}),
            "serving on 127.0.0.1:8080, [::1]:8080, /run/paddock/paddock.sock");
  EXPECT_EQ(daemon::serving_status({}), "serving");
}

TEST(Notifier, GivenNoNotifySocket_ThenDisabledAndNothingHappens) {
  ::unsetenv("NOTIFY_SOCKET");
  boost::asio::io_context ioc;
  daemon::Notifier n(ioc);
  EXPECT_FALSE(n.enabled());
  n.ready("x");
  n.stopping("y");
  EXPECT_EQ(n.start_watchdog().count(), 0);
}

TEST(Notifier, GivenANotifySocket_WhenStatesChange_ThenEachArrivesInOrder) {
  NotifySocket sock;
  boost::asio::io_context ioc;
  daemon::Notifier n(ioc);
  ASSERT_TRUE(n.enabled());
  n.ready("serving on 127.0.0.1:1");
  n.reloading("reloading /etc/paddock/paddock.toml");
  n.status("serving; reloaded");
  n.stopping("stopping (signal 15)");
  const auto got = sock.drain();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], "READY=1\nSTATUS=serving on 127.0.0.1:1");
  EXPECT_EQ(got[1], "RELOADING=1\nSTATUS=reloading /etc/paddock/paddock.toml");
  EXPECT_EQ(got[2], "STATUS=serving; reloaded");
  EXPECT_EQ(got[3], "STOPPING=1\nSTATUS=stopping (signal 15)");
}

TEST(Notifier, GivenNoWatchdogRequested_ThenNoKeepAliveIsScheduled) {
  NotifySocket sock;
  boost::asio::io_context ioc;
  daemon::Notifier n(ioc);
  EXPECT_EQ(n.start_watchdog().count(), 0);
  ioc.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(sock.drain().empty());
}

TEST(Notifier, GivenWatchdogUsecForThisPid_ThenKeepAlivesRepeatUntilStopped) {
  NotifySocket sock;
  ::setenv("WATCHDOG_USEC", "20000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  boost::asio::io_context ioc;
  daemon::Notifier n(ioc);
  EXPECT_EQ(n.start_watchdog(), std::chrono::microseconds(20000));
  std::size_t keepalives = 0;
  // Run the loop until three keep-alives arrived (bounded so a broken timer fails the test).
  for (int i = 0; i < 500 && keepalives < 3; ++i) {
    ioc.run_for(std::chrono::milliseconds(10));
    for (const auto& m : sock.drain()) {
      EXPECT_EQ(m, "WATCHDOG=1");
      ++keepalives;
    }
  }
  EXPECT_GE(keepalives, 3u);
  n.stop_watchdog();
  ioc.restart();
  ioc.run_for(std::chrono::milliseconds(60));
  EXPECT_TRUE(sock.drain().empty()) << "keep-alives after stop_watchdog()";
}

TEST(Notifier, GivenWatchdogMeantForAnotherPid_ThenNoKeepAlives) {
  NotifySocket sock;
  ::setenv("WATCHDOG_USEC", "20000", 1);
  ::setenv("WATCHDOG_PID", "1", 1);
  boost::asio::io_context ioc;
  daemon::Notifier n(ioc);
  EXPECT_EQ(n.start_watchdog().count(), 0);
  ioc.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(sock.drain().empty());
}
