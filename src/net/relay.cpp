#include "paddock/net/relay.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace paddock::net {

Result<std::pair<util::UniqueFd, util::UniqueFd>> relay_pair() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return util::errno_error("socketpair(AF_UNIX, SOCK_SEQPACKET)", errno);
  }
  return std::pair{util::UniqueFd(sv[0]), util::UniqueFd(sv[1])};
}

Result<util::UniqueFd> relay_socket(int ctl) {
  const char want = '4';
  if (::send(ctl, &want, 1, MSG_NOSIGNAL) != 1) {
    return make_error("relay_gone", util::syscall_error("send(relay)", errno));
  }
  pollfd pfd{ctl, POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&pfd, 1, 1000);
  } while (ready < 0 && errno == EINTR);
  if (ready == 0) return make_error("timeout", "the worker's socket relay did not answer in 1 s");
  if (ready < 0) return util::errno_error("poll(relay)", errno);

  int err = 0;
  iovec iov{&err, sizeof err};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(ctl, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return make_error("relay_gone", "the worker's socket relay has exited");
  util::UniqueFd got;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int))) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
      got.reset(fd);
    }
  }
  if (n != static_cast<ssize_t>(sizeof err)) {
    return make_error("io", "the worker's socket relay sent a malformed answer");
  }
  if (err != 0) return util::errno_error("socket() in the worker's namespace", err);
  if (!got) return make_error("io", "the worker's socket relay sent no socket");
  return got;
}

std::vector<std::string> slirp4netns_argv(const std::string& path) {
  return {path,
          "--configure",
          "--mtu=65520",
          "--disable-host-loopback",
          "--enable-seccomp",
          "--ready-fd=5",
          "--userns-path=/proc/self/fd/4",
          "--netns-type=path",
          "/proc/self/fd/3",
          "tap0"};
}

std::string explain_slirp4netns_failure(const std::string& stderr_text) {
  std::string why;
  std::size_t at = 0;
  while (at < stderr_text.size()) {
    std::size_t end = stderr_text.find('\n', at);
    if (end == std::string::npos) end = stderr_text.size();
    std::string line = stderr_text.substr(at, end - at);
    at = end + 1;
    if (line.empty() || line.rfind("WARNING", 0) == 0 || line.rfind("sent tapfd", 0) == 0 ||
        line.rfind("received tapfd", 0) == 0) {
      continue;
    }
    why = line;
    if (line.find("/dev/net/tun") != std::string::npos) break;
  }
  if (why.empty()) why = "slirp4netns exited without a message";
  if (stderr_text.find("/dev/net/tun") != std::string::npos) {
    why +=
        "; the worker's uid cannot open /dev/net/tun: give it the distribution default mode "
        "(chmod 0666 /dev/net/tun, persistently with a udev rule KERNEL==\"tun\", MODE=\"0666\") "
        "and, under systemd, DeviceAllow=/dev/net/tun rw with BindPaths=/dev/net/tun";
  }
  return why;
}

}  // namespace paddock::net
