#include "net_baseline.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "bench_support.hpp"
#include "paddock/net/relay.hpp"

namespace paddock::bench {

namespace {

/// In the forked child: says which step failed on stderr (the pipe) and exits.
[[noreturn]] void child_fail(const char* step) {
  const int err = errno;
  char line[160];
  const int n = std::snprintf(line, sizeof line, "raw slirp4netns start: %s: %s\n", step,
                              ::strerrordesc_np(err) ? ::strerrordesc_np(err) : "?");
  if (n > 0) (void)!::write(2, line, static_cast<std::size_t>(n));
  ::_exit(120);
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

Result<RawSlirp> start_raw_slirp(const std::string& path, uid_t uid, gid_t gid, pid_t target) {
  int ready[2];
  int err[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return util::errno_error("pipe2", errno);
  util::UniqueFd ready_r(ready[0]);
  util::UniqueFd ready_w = high(ready[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) return util::errno_error("pipe2", errno);
  util::UniqueFd err_r(err[0]);
  util::UniqueFd err_w = high(err[1]);
  util::UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!ready_w || !err_w || !devnull) return util::errno_error("fcntl(F_DUPFD_CLOEXEC)", errno);

  // Everything the child needs is made before fork.
  const std::vector<std::string> words = net::slirp4netns_argv(path);
  std::vector<char*> argv;
  for (const auto& w : words) argv.push_back(const_cast<char*>(w.c_str()));
  argv.push_back(nullptr);
  char* envp[] = {const_cast<char*>("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), nullptr};
  char netns_path[64];
  std::snprintf(netns_path, sizeof netns_path, "/proc/%d/ns/net", static_cast<int>(target));

  const pid_t pid = ::fork();
  if (pid < 0) return util::errno_error("fork", errno);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::dup2(devnull.get(), 0) < 0 || ::dup2(devnull.get(), 1) < 0 ||
        ::dup2(err_w.get(), 2) < 0) {
      ::_exit(121);
    }
    if (::setgroups(0, nullptr) != 0) child_fail("setgroups");
    if (::setresgid(gid, gid, gid) != 0) child_fail("setresgid");
    if (::setresuid(uid, uid, uid) != 0) child_fail("setresuid");
    const int net = ::open(netns_path, O_RDONLY | O_CLOEXEC);
    if (net < 0) child_fail("open(/proc/<pid>/ns/net)");
    const int user = ::ioctl(net, NS_GET_USERNS);
    if (user < 0) child_fail("ioctl(NS_GET_USERNS)");
    // Above 5 first, so the dup2s below never overwrite one another; dup2 to another number
    // leaves the copies without close-on-exec.
    const int net_high = ::fcntl(net, F_DUPFD_CLOEXEC, 64);
    const int user_high = ::fcntl(user, F_DUPFD_CLOEXEC, 64);
    if (net_high < 0 || user_high < 0) child_fail("fcntl(F_DUPFD_CLOEXEC)");
    if (::dup2(net_high, 3) < 0 || ::dup2(user_high, 4) < 0 || ::dup2(ready_w.get(), 5) < 0) {
      child_fail("dup2");
    }
    ::syscall(SYS_close_range, 6U, ~0U, 0U);
    ::execve(argv[0], argv.data(), envp);
    child_fail("execve");
  }
  RawSlirp out;
  out.pid = pid;
  out.ready = std::move(ready_r);
  out.error_out = std::move(err_r);
  return out;
}

Result<EgressProbe> EgressProbe::open(pid_t pid) {
  util::UniqueFd own(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!own) return util::errno_error("open(/proc/thread-self/ns/net)", errno);
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  util::UniqueFd target(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!target) return util::errno_error("open(" + path + ")", errno);
  // A pid outside any sandbox would have the host's routes: refuse to probe the host.
  struct stat own_ns {};
  struct stat target_ns {};
  if (::fstat(own.get(), &own_ns) != 0 || ::fstat(target.get(), &target_ns) != 0) {
    return util::errno_error("fstat(" + path + ")", errno);
  }
  if (own_ns.st_ino == target_ns.st_ino && own_ns.st_dev == target_ns.st_dev) {
    return make_error("same_namespace", "pid " + std::to_string(pid) +
                                            " is in the benchmark's own network namespace");
  }
  if (::setns(target.get(), CLONE_NEWNET) != 0) {
    return util::errno_error("setns(" + path + ")", errno);
  }
  EgressProbe probe;
  probe.netlink_.reset(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  const int netlink_errno = errno;
  probe.udp_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  const int udp_errno = errno;
  if (::setns(own.get(), CLONE_NEWNET) != 0) {
    // This thread would go on in the sandbox's namespace: nothing measured after that is true.
    std::perror("setns back to the benchmark's own network namespace");
    std::abort();
  }
  if (!probe.netlink_) return util::errno_error("socket(AF_NETLINK)", netlink_errno);
  if (!probe.udp_) return util::errno_error("socket(AF_INET, SOCK_DGRAM)", udp_errno);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  local.nl_groups = RTMGRP_IPV4_ROUTE | RTMGRP_NEIGH;
  if (::bind(probe.netlink_.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    return util::errno_error("bind(netlink)", errno);
  }
  // The routes that exist already; what is added from now on is announced on the groups above.
  struct {
    nlmsghdr h;
    rtmsg r;
  } dump{};
  dump.h.nlmsg_len = sizeof dump;
  dump.h.nlmsg_type = RTM_GETROUTE;
  dump.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  dump.r.rtm_family = AF_INET;
  if (::send(probe.netlink_.get(), &dump, sizeof dump, 0) != static_cast<ssize_t>(sizeof dump)) {
    return util::errno_error("send(RTM_GETROUTE)", errno);
  }
  return probe;
}

Result<EgressProbe::Times> EgressProbe::wait(std::chrono::milliseconds timeout, int ready_fd,
                                             int stderr_fd) {
  const auto deadline = Clock::now() + timeout;
  in_addr gateway{};
  ::inet_pton(AF_INET, "10.0.2.2", &gateway);
  Times times;
  bool have_route = false;
  bool answered = false;
  bool ready = ready_fd < 0;
  std::string said;  // slirp4netns's stderr
  pollfd fds[3] = {{netlink_.get(), POLLIN, 0}, {ready_fd, POLLIN, 0}, {stderr_fd, POLLIN, 0}};
  alignas(nlmsghdr) char buf[32768];
  while (!answered || !ready) {
    const int n = ::poll(fds, 3, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return util::errno_error("poll", errno);
    if (n == 0) {
      return make_error("timeout", !have_route ? "no default route appeared in the namespace"
                                   : !answered ? "nothing answered for 10.0.2.2 on tap0"
                                               : "slirp4netns was not ready: " + said);
    }
    if (fds[2].revents != 0) {
      const ssize_t got = ::read(stderr_fd, buf, sizeof buf);
      if (got > 0 && said.size() < 4096) said.append(buf, static_cast<std::size_t>(got));
      if (got <= 0) fds[2].fd = -1;  // closed; the ready pipe tells the rest
    }
    if (fds[1].revents != 0) {
      char byte = 0;
      const ssize_t got = ::read(ready_fd, &byte, 1);
      if (got < 0 && errno == EINTR) continue;
      if (got != 1) {
        return make_error("slirp4netns_failed", "slirp4netns exited before it was ready: " +
                                                    net::explain_slirp4netns_failure(said));
      }
      times.ready = Clock::now();
      ready = true;
      fds[1].fd = -1;
    }
    if (fds[0].revents == 0) continue;
    const ssize_t got = ::recv(netlink_.get(), buf, sizeof buf, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return util::errno_error("recv(netlink)", errno);
    auto len = static_cast<unsigned>(got);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        if (e->error != 0) return util::errno_error("netlink", -e->error);
        continue;
      }
      if (h->nlmsg_type == RTM_NEWROUTE && !have_route) {
        const auto* r = static_cast<const rtmsg*>(NLMSG_DATA(h));
        if (r->rtm_family != AF_INET || r->rtm_dst_len != 0 || r->rtm_table != RT_TABLE_MAIN) {
          continue;
        }
        have_route = true;
        times.route = Clock::now();
        // The kernel asks who has 10.0.2.2 on tap0 and queues the datagram until it is told.
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(9);
        to.sin_addr = gateway;
        const char byte = 0;
        if (::sendto(udp_.get(), &byte, 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) != 1) {
          return util::errno_error("sendto(10.0.2.2:9)", errno);
        }
        continue;
      }
      if (h->nlmsg_type == RTM_NEWNEIGH && have_route && !answered) {
        const auto* nd = static_cast<const ndmsg*>(NLMSG_DATA(h));
        if (nd->ndm_family != AF_INET || (nd->ndm_state & NUD_REACHABLE) == 0) continue;
        auto attr_len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(ndmsg)));
        for (auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(NLMSG_DATA(h)) +
                                                 NLMSG_ALIGN(sizeof(ndmsg)));
             RTA_OK(a, attr_len); a = RTA_NEXT(a, attr_len)) {
          if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == sizeof(in_addr) &&
              std::memcmp(RTA_DATA(a), &gateway, sizeof gateway) == 0) {
            times.answered = Clock::now();
            answered = true;
          }
        }
      }
    }
  }
  return times;
}

}  // namespace paddock::bench
