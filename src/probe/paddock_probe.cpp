// paddock-probe: the helper preflight runs inside probe workers. It prints one line per item,
// "ITEM VERDICT [DETAIL]", each with one write(2), so the daemon can parse what it saw:
//
//   paddock-probe hello
//       hello ok uid=U gid=G
//   paddock-probe wait SECONDS
//       wait ready          then blocks until stdin reaches EOF (or SECONDS pass)
//   paddock-probe connect TIMEOUT_MS ADDR...        ADDR is a numeric "1.2.3.4:80" or "[::1]:80"
//       connect ADDR reachable
//       connect ADDR unreachable DETAIL              DETAIL: ECONNREFUSED, timeout, ...
//       connect ADDR invalid
//   paddock-probe canary [NAME...]                  NAMEs: the daemon's environment names
//       keyctl blocked|allowed DETAIL
//       io_uring_setup blocked|allowed DETAIL
//       unshare_newuser blocked|allowed DETAIL
//       mount blocked|allowed DETAIL
//       unknown_syscall enosys|wrong DETAIL        system call 1000
//       socket_tipc blocked|allowed DETAIL
//       tiocsetd blocked|allowed DETAIL            ioctl(TIOCSETD) on a pipe: EPERM from the filter
//       root_readonly ok|writable PATH             creating a file in / and /etc fails
//       threads ok|fail DETAIL
//       environ ok|leak|fail DETAIL                 leak lists the names found in /proc/1/environ
//       fds ok|extra LIST                           the open descriptors, e.g. 0,1,2
//
// Static and dependency-free: it runs with only /usr and itself mounted. It never resolves
// names (the daemon passes numeric addresses) and connects only to what it is given.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace {

void emit(const std::string& line) {
  const std::string s = line + "\n";
  std::size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = write(STDOUT_FILENO, s.data() + off, s.size() - off);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;
    }
    off += static_cast<std::size_t>(n);
  }
}

std::string errno_text(int e) {
  const char* n = strerrorname_np(e);
  return n != nullptr ? n : "errno" + std::to_string(e);
}

/// "blocked ENAME" when the call failed, "allowed" when it worked (the caller undoes it).
std::string blocked_or_allowed(long ret, int err) {
  return ret < 0 ? "blocked " + errno_text(err) : "allowed returned " + std::to_string(ret);
}

// ---- connect ----------------------------------------------------------------------------------

bool parse_addr(const std::string& text, sockaddr_storage& ss, socklen_t& len) {
  std::string host;
  std::string port_text;
  if (!text.empty() && text[0] == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return false;
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) return false;
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  char* end = nullptr;
  const long port = std::strtol(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || port <= 0 || port > 65535) return false;
  ss = {};
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof *s4;
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *s6;
    return true;
  }
  return false;
}

std::string try_connect(const std::string& addr, int timeout_ms) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (!parse_addr(addr, ss, len)) return "invalid";
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return "unreachable socket:" + errno_text(errno);
  std::string verdict;
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
    verdict = "reachable";
  } else if (errno != EINPROGRESS) {
    verdict = "unreachable " + errno_text(errno);
  } else {
    pollfd p{fd, POLLOUT, 0};
    int n = 0;
    do {
      n = poll(&p, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
      verdict = "unreachable timeout";
    } else if (n < 0) {
      verdict = "unreachable poll:" + errno_text(errno);
    } else {
      int err = 0;
      socklen_t elen = sizeof err;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) err = errno;
      verdict = err == 0 ? "reachable" : "unreachable " + errno_text(err);
    }
  }
  close(fd);
  return verdict;
}

int cmd_connect(int argc, char** argv) {
  if (argc < 3) {
    emit("usage: paddock-probe connect TIMEOUT_MS ADDR...");
    return 2;
  }
  const int timeout_ms = std::atoi(argv[2]);
  for (int i = 3; i < argc; ++i) {
    emit(std::string("connect ") + argv[i] + " " +
         try_connect(argv[i], timeout_ms > 0 ? timeout_ms : 2000));
  }
  return 0;
}

// ---- canary -----------------------------------------------------------------------------------

std::string check_keyctl() {
  // KEYCTL_GET_KEYRING_ID of the session keyring, creating it: works wherever keyctl does.
  errno = 0;
  const long ret = syscall(SYS_keyctl, 0L, -3L, 1L, 0L, 0L);
  return blocked_or_allowed(ret, errno);
}

std::string check_io_uring() {
  alignas(8) unsigned char params[120] = {};  // struct io_uring_params, all zero
  errno = 0;
  const long ret = syscall(SYS_io_uring_setup, 1L, params);
  const int e = errno;
  if (ret >= 0) close(static_cast<int>(ret));
  return blocked_or_allowed(ret, e);
}

std::string check_unshare_user() {
  errno = 0;
  const long ret = unshare(CLONE_NEWUSER);
  return blocked_or_allowed(ret, errno);
}

std::string check_mount() {
  errno = 0;
  const long ret = mount("paddock-canary", "/tmp", "tmpfs", 0, nullptr);
  const int e = errno;
  if (ret == 0) umount2("/tmp", MNT_DETACH);
  return blocked_or_allowed(ret, e);
}

std::string check_unknown_syscall() {
  // A number no kernel table reaches: ENOSYS (not EPERM), so programs probing new calls fall
  // back the way they do on an older kernel.
  errno = 0;
  const long ret = syscall(1000L, 0L, 0L, 0L);
  const int e = errno;
  if (ret < 0 && e == ENOSYS) return "enosys";
  return "wrong " + (ret < 0 ? errno_text(e) : "returned " + std::to_string(ret));
}

std::string check_socket_family(int family) {
  errno = 0;
  const long ret = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int e = errno;
  if (ret >= 0) close(static_cast<int>(ret));
  return blocked_or_allowed(ret, e);
}

std::string check_tiocsetd() {
  // On a pipe the kernel itself answers ENOTTY; only the filter answers EPERM.
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return "fail pipe2:" + errno_text(errno);
  int ldisc = 0;
  errno = 0;
  const long ret = ioctl(fds[0], TIOCSETD, &ldisc);
  const int e = errno;
  close(fds[0]);
  close(fds[1]);
  if (ret < 0 && e == EPERM) return "blocked EPERM";
  return "allowed " + (ret < 0 ? errno_text(e) : "returned " + std::to_string(ret));
}

std::string check_root_readonly() {
  for (const char* path : {"/paddock-canary", "/etc/paddock-canary"}) {
    const int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      close(fd);
      unlink(path);
      return std::string("writable ") + path;
    }
  }
  return "ok";
}

void* thread_body(void* arg) { return static_cast<char*>(arg) + 1; }

std::string check_threads() {
  static char marker[2];
  pthread_t t{};
  if (const int rc = pthread_create(&t, nullptr, thread_body, marker); rc != 0) {
    return "fail pthread_create:" + errno_text(rc);
  }
  void* out = nullptr;
  if (const int rc = pthread_join(t, &out); rc != 0) return "fail pthread_join:" + errno_text(rc);
  return out == marker + 1 ? "ok" : "fail wrong_result";
}

std::string check_environ(const std::set<std::string>& names) {
  const int fd = open("/proc/1/environ", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "fail open:" + errno_text(errno);
  std::string data;
  char buf[4096];
  ssize_t n = 0;
  while ((n = read(fd, buf, sizeof buf)) > 0) data.append(buf, static_cast<std::size_t>(n));
  const int e = errno;
  close(fd);
  if (n < 0) return "fail read:" + errno_text(e);
  std::string leaked;
  std::size_t count = 0;
  std::size_t start = 0;
  while (start < data.size()) {
    auto end = data.find('\0', start);
    if (end == std::string::npos) end = data.size();
    const std::string entry = data.substr(start, end - start);
    start = end + 1;
    if (entry.empty()) continue;
    ++count;
    const std::string name = entry.substr(0, entry.find('='));
    if (names.count(name) != 0) leaked += (leaked.empty() ? "" : ",") + name;
  }
  if (!leaked.empty()) return "leak " + leaked;
  return "ok entries=" + std::to_string(count);
}

std::string check_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return "extra opendir:" + errno_text(errno);
  const int own = dirfd(d);
  std::set<int> fds;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd != own) fds.insert(fd);
  }
  closedir(d);
  std::string list;
  for (int fd : fds) list += (list.empty() ? "" : ",") + std::to_string(fd);
  return (fds == std::set<int>{0, 1, 2} ? "ok " : "extra ") + list;
}

int cmd_canary(int argc, char** argv) {
  std::set<std::string> names;
  for (int i = 2; i < argc; ++i) names.insert(argv[i]);
  // fds first, before anything here opens a descriptor of its own.
  const std::string fds = check_fds();
  emit("keyctl " + check_keyctl());
  emit("io_uring_setup " + check_io_uring());
  emit("unshare_newuser " + check_unshare_user());
  emit("mount " + check_mount());
  emit("unknown_syscall " + check_unknown_syscall());
  emit("socket_tipc " + check_socket_family(AF_TIPC));
  emit("tiocsetd " + check_tiocsetd());
  emit("root_readonly " + check_root_readonly());
  emit("threads " + check_threads());
  emit("environ " + check_environ(names));
  emit("fds " + fds);
  return 0;
}

// ---- hello, wait ------------------------------------------------------------------------------

int cmd_hello() {
  emit("hello ok uid=" + std::to_string(getuid()) + " gid=" + std::to_string(getgid()));
  return 0;
}

int cmd_wait(int argc, char** argv) {
  const long seconds = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 30;
  emit("wait ready");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  char buf[256];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) break;
    pollfd p{STDIN_FILENO, POLLIN, 0};
    const int n = poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    const ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
    if (r == 0 || (r < 0 && errno != EINTR)) break;
  }
  emit("wait done");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "hello") return cmd_hello();
  if (mode == "wait") return cmd_wait(argc, argv);
  if (mode == "connect") return cmd_connect(argc, argv);
  if (mode == "canary") return cmd_canary(argc, argv);
  emit("usage: paddock-probe hello | wait SECONDS | connect TIMEOUT_MS ADDR... | canary [NAME...]");
  return 2;
}
