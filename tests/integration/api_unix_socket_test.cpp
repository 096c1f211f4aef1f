// Integration tests of peer-credential authentication on the unix socket with a real paddockd:
// clients are forked and switched to other UIDs/GIDs before they connect.
#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "support/daemon.hpp"

using namespace paddock::test;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

namespace {

struct ClientResult {
  std::string response;  ///< raw HTTP response, or "connect errno N" / "setup failed"
};

/// Forks, drops to (uid, gid) with no supplementary groups, sends one GET over the socket and
/// returns what came back.
ClientResult request_as(std::uint32_t uid, std::uint32_t gid, const std::string& socket,
                        const std::string& target) {
  int fds[2];
  if (::pipe(fds) != 0) return {"pipe failed"};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 ||
        ::setresuid(uid, uid, uid) != 0) {
      out = "setup failed";
    } else {
      auto c = RawConnection::unix_socket(socket);
      if (!c.connected()) {
        out = "connect errno " + std::to_string(c.connect_errno());
      } else {
        c.send("GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        out = c.read_until_closed(10s).data;
      }
    }
    const char* p = out.data();
    std::size_t left = out.size();
    while (left > 0) {
      const ssize_t n = ::write(fds[1], p, left);
      if (n <= 0) break;
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string got;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {got};
}

/// A daemon whose socket anyone may connect to, so refusals come from authentication.
TestDaemonOptions open_socket() {
  TestDaemonOptions o;
  o.set["server.socket_mode"] = "\"0666\"";
  o.set["server.socket_group"] = "\"daemon\"";  // gid 1 on Debian: the admin group here
  return o;
}

}  // namespace

TEST(ApiUnixSocket, GivenRootClient_WhenRequesting_ThenAccepted) {
  TestDaemon d(open_socket());
  ASSERT_TRUE(d.started()) << d.start_error();
  auto r = request_as(0, 0, d.socket_path(), "/v1/version");
  EXPECT_EQ(status_of(r.response), 200u) << r.response;
}

TEST(ApiUnixSocket, GivenWorkerRangeUid_WhenRequesting_ThenRefusedEvenWithAdminGroupAndForHealth) {
  TestDaemon d(open_socket());
  ASSERT_TRUE(d.started()) << d.start_error();
  ASSERT_EQ(::getgrnam("daemon")->gr_gid, 1u);
  for (const char* target : {"/v1/version", "/healthz"}) {
    // gid 1 is the admin group: the UID range check must win regardless.
    auto r = request_as(60999, 1, d.socket_path(), target);
    EXPECT_EQ(status_of(r.response), 403u) << r.response;
    EXPECT_THAT(r.response, HasSubstr("worker_uid_refused"));
  }
  auto first = request_as(60000, 65534, d.socket_path(), "/v1/version");
  EXPECT_EQ(status_of(first.response), 403u) << first.response;
}

TEST(ApiUnixSocket, GivenAdminGroupMember_WhenRequesting_ThenAccepted) {
  TestDaemon d(open_socket());
  ASSERT_TRUE(d.started()) << d.start_error();
  auto r = request_as(12345, 1, d.socket_path(), "/v1/version");
  EXPECT_EQ(status_of(r.response), 200u) << r.response;
}

TEST(ApiUnixSocket, GivenOtherUser_WhenRequesting_Then403ButHealthzAnswers) {
  TestDaemon d(open_socket());
  ASSERT_TRUE(d.started()) << d.start_error();
  auto r = request_as(12345, 12345, d.socket_path(), "/v1/version");
  EXPECT_EQ(status_of(r.response), 403u) << r.response;
  EXPECT_THAT(r.response, HasSubstr("admin group 'daemon'"));
  auto h = request_as(12345, 12345, d.socket_path(), "/healthz");
  EXPECT_EQ(status_of(h.response), 200u) << h.response;
}

TEST(ApiUnixSocket, GivenDefaultSocketMode_WhenOtherUserConnects_ThenTheFileModeRefusesIt) {
  TestDaemon d;  // socket_mode 0660, owned by root
  ASSERT_TRUE(d.started()) << d.start_error();
  auto r = request_as(12345, 12345, d.socket_path(), "/healthz");
  EXPECT_EQ(r.response, "connect errno " + std::to_string(EACCES));
}
