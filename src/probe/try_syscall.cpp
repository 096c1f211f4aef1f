// try-syscall: run inside a sandbox, makes named system calls with harmless arguments and prints
// one line per call so a test can tell "blocked" from "allowed":
//
//   NAME ok             the call (or the whole check, e.g. "pthread") succeeded
//   NAME errno=ENAME    the call failed with that errno (EPERM/ENOSYS: blocked by seccomp when the
//                       unfiltered kernel answers otherwise; EFAULT/EBADF/EINVAL...: allowed)
//   NAME fail=TEXT      a multi-step check failed in another way (TEXT has no spaces)
//   NAME unknown        no such check
//
// Usage: try-syscall NAME [NAME...]; "connect:PORT" connects to 127.0.0.1:PORT. Each line is
// written with one write(2) before the next call, so when a call kills the process (x32,
// int 0x80) the lines before it are still there and the caller sees the signal.
// Static and dependency-free: it runs with only /usr mounted.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef AF_ALG
#define AF_ALG 38
#endif

constexpr long kX32SyscallBit = 0x40000000L;

void emit(const std::string& line) {
  const std::string s = line + "\n";
  ssize_t off = 0;
  while (off < static_cast<ssize_t>(s.size())) {
    const ssize_t n = write(STDOUT_FILENO, s.data() + off, s.size() - static_cast<size_t>(off));
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;
    }
    off += n;
  }
}

std::string errno_text(int e) {
  const char* n = strerrorname_np(e);
  return std::string("errno=") + (n != nullptr ? n : std::to_string(e));
}

/// "ok" for a non-negative return, else errno=NAME.
std::string sys_result(long ret, int err) { return ret >= 0 ? "ok" : errno_text(err); }

template <typename F>
std::string call(F f) {
  errno = 0;
  const long ret = f();
  return sys_result(ret, errno);
}

void* thread_body(void* arg) { return static_cast<char*>(arg) + 1; }

std::string check_pthread() {
  pthread_t t{};
  static char marker[2];
  if (const int rc = pthread_create(&t, nullptr, thread_body, marker); rc != 0) {
    return errno_text(rc);
  }
  void* out = nullptr;
  if (const int rc = pthread_join(t, &out); rc != 0) return errno_text(rc);
  return out == marker + 1 ? "ok" : "fail=wrong_thread_result";
}

std::string check_fork_exec() {
  const pid_t pid = fork();
  if (pid < 0) return errno_text(errno);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", "exit 7", static_cast<char*>(nullptr));
    _exit(127);
  }
  int st = 0;
  if (waitpid(pid, &st, 0) < 0) return errno_text(errno);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 7) return "ok";
  if (WIFEXITED(st)) return "fail=sh_exit_" + std::to_string(WEXITSTATUS(st));
  return "fail=sh_signal_" + std::to_string(WTERMSIG(st));
}

std::string check_connect(const std::string& port_text) {
  char* end = nullptr;
  const long port = std::strtol(port_text.c_str(), &end, 10);
  if (end == port_text.c_str() || *end != '\0' || port <= 0 || port > 65535) {
    return "fail=bad_port";
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_text(errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    close(fd);
    return errno_text(e);
  }
  const char msg[] = "try-syscall\n";
  const ssize_t n = send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL);
  const int e = errno;
  close(fd);
  if (n != static_cast<ssize_t>(sizeof msg - 1)) return n < 0 ? errno_text(e) : "fail=short_send";
  return "ok";
}

std::string check_mmap_mprotect() {
  const long page = sysconf(_SC_PAGESIZE);
  void* p = mmap(nullptr, static_cast<size_t>(page), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return errno_text(errno);
  static_cast<volatile char*>(p)[0] = 42;
  if (mprotect(p, static_cast<size_t>(page), PROT_READ) != 0) {
    const int e = errno;
    munmap(p, static_cast<size_t>(page));
    return errno_text(e);
  }
  const bool kept = static_cast<volatile char*>(p)[0] == 42;
  munmap(p, static_cast<size_t>(page));
  return kept ? "ok" : "fail=content_lost";
}

std::string check_getrandom() {
  unsigned char buf[16];
  const ssize_t n = getrandom(buf, sizeof buf, 0);
  if (n < 0) return errno_text(errno);
  return n == static_cast<ssize_t>(sizeof buf) ? "ok" : "fail=short_read";
}

/// clone with a namespace flag; a child that does get created exits at once.
std::string check_clone_flags(unsigned long flags) {
  errno = 0;
  const long ret = syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (ret == 0) _exit(0);
  const int e = errno;
  if (ret > 0) {
    waitpid(static_cast<pid_t>(ret), nullptr, 0);
    return "ok";
  }
  return errno_text(e);
}

/// getpid through the i386 ABI: int 0x80 with eax = 20.
std::string check_int80() {
#if defined(__x86_64__)
  long ret = 20;
  asm volatile("int $0x80" : "+a"(ret) : : "memory", "r8", "r9", "r10", "r11");
  if (ret < 0 && ret > -4096) return errno_text(static_cast<int>(-ret));
  return "ok";
#else
  return "fail=not_x86_64";
#endif
}

std::string run(const std::string& name) {
  if (name == "keyctl") return call([] { return syscall(SYS_keyctl, -1L, 0L, 0L, 0L, 0L); });
  if (name == "add_key") {
    return call([] { return syscall(SYS_add_key, nullptr, nullptr, nullptr, 0L, 0L); });
  }
  if (name == "request_key") {
    return call([] { return syscall(SYS_request_key, nullptr, nullptr, nullptr, 0L); });
  }
  if (name == "bpf") return call([] { return syscall(SYS_bpf, -1L, nullptr, 0L); });
  if (name == "perf_event_open") {
    return call([] { return syscall(SYS_perf_event_open, nullptr, 0L, -1L, -1L, 0L); });
  }
  if (name == "userfaultfd") return call([] { return syscall(SYS_userfaultfd, ~0L); });
  if (name == "io_uring_setup") {
    return call([] { return syscall(SYS_io_uring_setup, 1L, nullptr); });
  }
  if (name == "unshare_newuser")
    return call([] { return static_cast<long>(unshare(CLONE_NEWUSER)); });
  if (name == "unshare_newns") return call([] { return static_cast<long>(unshare(CLONE_NEWNS)); });
  if (name == "mount") {
    return call([] { return syscall(SYS_mount, nullptr, nullptr, nullptr, 0L, nullptr); });
  }
  if (name == "umount2") return call([] { return syscall(SYS_umount2, nullptr, 0L); });
  if (name == "setns") return call([] { return syscall(SYS_setns, -1L, 0L); });
  if (name == "chroot") return call([] { return syscall(SYS_chroot, nullptr); });
  if (name == "ptrace_attach") {
    // A pid that cannot exist: ESRCH when ptrace is allowed.
    return call([] { return syscall(SYS_ptrace, PTRACE_ATTACH, 0x3fffffffL, 0L, 0L); });
  }
  if (name == "kexec_load")
    return call([] { return syscall(SYS_kexec_load, 0L, 0L, nullptr, 0L); });
  if (name == "init_module") {
    return call([] { return syscall(SYS_init_module, nullptr, 0L, nullptr); });
  }
  if (name == "finit_module")
    return call([] { return syscall(SYS_finit_module, -1L, nullptr, 0L); });
  if (name == "open_by_handle_at") {
    return call([] { return syscall(SYS_open_by_handle_at, -1L, nullptr, 0L); });
  }
  if (name == "process_vm_readv") {
    return call(
        [] { return syscall(SYS_process_vm_readv, 0x3fffffffL, nullptr, 0L, nullptr, 0L, 0L); });
  }
  if (name == "socket_vsock")
    return call([] { return static_cast<long>(socket(AF_VSOCK, SOCK_STREAM, 0)); });
  if (name == "socket_alg")
    return call([] { return static_cast<long>(socket(AF_ALG, SOCK_SEQPACKET, 0)); });
  if (name == "socket_tipc")
    return call([] { return static_cast<long>(socket(AF_TIPC, SOCK_RDM, 0)); });
  if (name == "socket_bluetooth")
    return call([] { return static_cast<long>(socket(AF_BLUETOOTH, SOCK_STREAM, 0)); });
  if (name == "socket_can")
    return call([] { return static_cast<long>(socket(AF_CAN, SOCK_RAW, 0)); });
  if (name == "socket_netlink_route")
    return call([] { return static_cast<long>(socket(AF_NETLINK, SOCK_RAW, 0)); });
  if (name == "socket_netlink_audit")
    return call([] { return static_cast<long>(socket(AF_NETLINK, SOCK_RAW, 9)); });
  if (name == "socketpair_tipc") {
    return call([] {
      int sv[2];
      const long r = socketpair(AF_TIPC, SOCK_RDM, 0, sv);
      if (r == 0) close(sv[1]);
      return r == 0 ? static_cast<long>(sv[0]) : r;
    });
  }
  if (name == "unknown_1000") return call([] { return syscall(1000L, 0L, 0L, 0L); });
  if (name == "unknown_gap") return call([] { return syscall(400L, 0L, 0L, 0L); });
  if (name == "ioctl_tiocsetd") {
    return call([] {
      int ldisc = 0;
      return syscall(SYS_ioctl, 0L, static_cast<unsigned long>(TIOCSETD), &ldisc);
    });
  }
  if (name == "socket_inet")
    return call([] { return static_cast<long>(socket(AF_INET, SOCK_STREAM, 0)); });
  if (name == "socket_unix")
    return call([] { return static_cast<long>(socket(AF_UNIX, SOCK_STREAM, 0)); });
  if (name == "ioctl_tiocsti") {
    return call([] {
      char c = 'x';
      return syscall(SYS_ioctl, 0L, static_cast<unsigned long>(TIOCSTI), &c);
    });
  }
  if (name == "ioctl_tiocsti_high") {
    return call([] {
      char c = 'x';
      return syscall(SYS_ioctl, 0L, (0x123UL << 32) | TIOCSTI, &c);
    });
  }
  if (name == "ioctl_tioclinux") {
    return call([] {
      char c = 0;
      return syscall(SYS_ioctl, 0L, static_cast<unsigned long>(TIOCLINUX), &c);
    });
  }
  if (name == "ioctl_fionread") {
    // Allowed: on the stdin pipe or /dev/null it answers or says ENOTTY/EINVAL, never EPERM.
    return call([] {
      int n = 0;
      return syscall(SYS_ioctl, 0L, static_cast<unsigned long>(FIONREAD), &n);
    });
  }
  if (name == "ioctl_tcgets") {
    return call([] {
      char buf[64];
      return syscall(SYS_ioctl, 0L, 0x5401UL, buf);
    });
  }
  if (name == "clone3") return call([] { return syscall(SYS_clone3, nullptr, 0L); });
  if (name == "clone_newuser") return check_clone_flags(CLONE_NEWUSER);
  if (name == "clone_newnet") return check_clone_flags(CLONE_NEWNET);
  if (name == "fsopen") return call([] { return syscall(SYS_fsopen, nullptr, 0L); });
  if (name == "open_tree") return call([] { return syscall(SYS_open_tree, -1L, nullptr, 0L); });
  if (name == "personality_query") {
    return call([] { return syscall(SYS_personality, 0xffffffffL); });
  }
  if (name == "personality_linux") return call([] { return syscall(SYS_personality, 0L); });
  if (name == "personality_exec") {
    // READ_IMPLIES_EXEC: not in the allowed set.
    return call([] { return syscall(SYS_personality, static_cast<long>(READ_IMPLIES_EXEC)); });
  }
  if (name == "x32_getpid") {
    return call([] { return syscall(SYS_getpid | kX32SyscallBit); });
  }
  if (name == "int80_getpid") return check_int80();
  if (name == "getpid") return call([] { return static_cast<long>(getpid()); });
  if (name == "pthread") return check_pthread();
  if (name == "fork_exec_sh") return check_fork_exec();
  if (name.rfind("connect:", 0) == 0) return check_connect(name.substr(8));
  if (name == "mmap_mprotect") return check_mmap_mprotect();
  if (name == "getrandom") return check_getrandom();
  return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    emit("usage: try-syscall NAME [NAME...]");
    return 2;
  }
  for (int i = 1; i < argc; ++i) {
    const std::string name = argv[i];
    emit(name + " " + run(name));
  }
  return 0;
}
