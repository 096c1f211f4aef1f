#include "paddock/net/netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>

#include <linux/capability.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <system_error>
#include <thread>

namespace paddock::net {

Result<util::UniqueFd> open_netns(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  util::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return util::errno_error("open(" + path + ")", errno);
  return fd;
}

Result<util::UniqueFd> socket_in_netns(int netns_fd, int domain, int type, int protocol) {
  int made = -1;
  int err = 0;
  const char* step = "";
  // setns changes the namespace of the calling thread only; this thread ends right after, so
  // no other work ever runs inside the worker's namespace.
  std::thread helper;
  try {
    helper = std::thread([&] {
      if (::setns(netns_fd, CLONE_NEWNET) != 0) {
        err = errno;
        step = "setns(CLONE_NEWNET)";
        return;
      }
      made = ::socket(domain, type | SOCK_CLOEXEC, protocol);
      if (made < 0) {
        err = errno;
        step = "socket";
      }
    });
  } catch (const std::system_error& e) {
    return make_error("EAGAIN", std::string("cannot start a thread to enter the worker's network "
                                            "namespace: ") +
                                    e.what());
  }
  helper.join();
  if (made < 0) return util::errno_error(std::string(step) + " in the worker's namespace", err);
  return util::UniqueFd(made);
}

bool can_enter_netns() {
  const std::string status = util::read_small_file("/proc/self/status");
  const auto at = status.find("\nCapEff:");
  if (at == std::string::npos) return false;
  const unsigned long long eff = std::strtoull(status.c_str() + at + 8, nullptr, 16);
  return (eff >> CAP_SYS_ADMIN) & 1ULL;
}

}  // namespace paddock::net
