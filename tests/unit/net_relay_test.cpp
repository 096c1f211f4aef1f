// Pure parts of the net relay: slirp4netns's command line, failure explanations, and the
// daemon's side of the relay protocol against a relay played by a thread.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "paddock/net/relay.hpp"

namespace paddock::net {
namespace {

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(NetRelay, GivenSlirpArgv_ThenHostLoopbackIsRefusedAndTheNamespaceComesFromFds) {
  const auto a = slirp4netns_argv("/usr/bin/slirp4netns");
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a.front(), "/usr/bin/slirp4netns");
  EXPECT_TRUE(has(a, "--disable-host-loopback"));
  EXPECT_TRUE(has(a, "--enable-seccomp"));
  EXPECT_TRUE(has(a, "--configure"));
  EXPECT_TRUE(has(a, "--ready-fd=5"));
  EXPECT_TRUE(has(a, "--userns-path=/proc/self/fd/4"));
  EXPECT_TRUE(has(a, "--netns-type=path"));
  EXPECT_EQ(a[a.size() - 2], "/proc/self/fd/3");
  EXPECT_EQ(a.back(), "tap0");
  // No API socket: nothing but the daemon may add port forwards.
  for (const auto& arg : a) EXPECT_EQ(arg.find("--api-socket"), std::string::npos) << arg;
}

TEST(NetRelay, GivenTunPermissionDenied_ThenTheExplanationNamesTheRemedy) {
  const auto why = explain_slirp4netns_failure(
      "WARNING: Support for seccomp is experimental\nopen(\"/dev/net/tun\"): Permission "
      "denied\nchild failed(1)\n");
  EXPECT_NE(why.find("open(\"/dev/net/tun\"): Permission denied"), std::string::npos) << why;
  EXPECT_NE(why.find("chmod 0666 /dev/net/tun"), std::string::npos) << why;
  const auto other = explain_slirp4netns_failure("WARNING: x\nsetns(CLONE_NEWNET): EPERM\n");
  EXPECT_EQ(other, "setns(CLONE_NEWNET): EPERM");
  EXPECT_EQ(explain_slirp4netns_failure(""), "slirp4netns exited without a message");
}

TEST(NetRelay, GivenARelay_ThenEachRequestYieldsTheSocketItSent) {
  auto pair = relay_pair();
  ASSERT_TRUE(pair) << pair.error().message;
  std::thread relay([fd = pair->second.get()] {
    char want = 0;
    ASSERT_EQ(::read(fd, &want, 1), 1);
    EXPECT_EQ(want, '4');
    int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int err = 0;
    iovec iov{&err, sizeof err};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &sock, sizeof sock);
    ASSERT_EQ(::sendmsg(fd, &msg, 0), static_cast<ssize_t>(sizeof err));
    ::close(sock);
    // Second request: socket() failed inside.
    ASSERT_EQ(::read(fd, &want, 1), 1);
    err = EMFILE;
    msghdr bare{};
    bare.msg_iov = &iov;
    bare.msg_iovlen = 1;
    ASSERT_EQ(::sendmsg(fd, &bare, 0), static_cast<ssize_t>(sizeof err));
  });
  auto got = relay_socket(pair->first.get());
  ASSERT_TRUE(got) << got.error().message;
  int type = 0;
  socklen_t len = sizeof type;
  ASSERT_EQ(::getsockopt(got->get(), SOL_SOCKET, SO_TYPE, &type, &len), 0);
  EXPECT_EQ(type, SOCK_STREAM);
  auto failed = relay_socket(pair->first.get());
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("socket() in the worker's namespace"), std::string::npos);
  relay.join();
  // The relay is gone: a clear error, not a hang.
  pair->second.reset();
  auto gone = relay_socket(pair->first.get());
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, "relay_gone");
}

}  // namespace
}  // namespace paddock::net
