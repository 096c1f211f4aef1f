// paddock-warm: the workload of a warm sandbox ([pool] warm). The spawner starts a sandbox
// ahead of any run with this helper as its command (copied in, read-only). bwrap passes it one
// end of a socket pair at descriptor 11 (sandbox::Allocation::warm_control_fd), where it waits
// for the run that takes the sandbox, in one message:
//
//   "PDKW", a u32 payload length (little-endian), then the payload: the argument count in
//   decimal, NUL, each argument, NUL, the count of environment entries, NUL, each NAME=value, NUL
//   (sandbox::encode_warm_request); attached to it (SCM_RIGHTS) the run's stdout, its stderr
//   and, when the run has stdin data, its stdin.
//
// It vforks. The child puts those descriptors on 1, 2 and 0 (/dev/null for a missing stdin),
// so it holds nothing else, and execs the command with exactly that environment. The helper
// forwards the signals a stop sends to the child, waits for it and reports its exit on the
// socket ("PDKX" and the exit code as bwrap gives it: the status, or 128 + the signal), waits
// (at most 5 s) for the spawner to end the sandbox, and exits the same way. It exits 0 when the
// socket closes before a request (the sandbox was retired). Static and dependency-free, like
// paddock-probe.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

extern char** environ;

namespace {

constexpr int kControlFd = 11;                   // sandbox::Allocation::warm_control_fd
constexpr std::uint32_t kMaxPayload = 1U << 20;  // sandbox::kMaxWarmPayload
constexpr int kMaxFds = 3;

int g_run_stderr = -1;  // once received: where a failure is told to the run too
volatile sig_atomic_t g_child = 0;
volatile int g_exec_errno = 0;  // written by the vfork child when its execve fails

/// Reads exactly n bytes from the control socket; false at EOF or on an error.
bool read_exactly(char* buf, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(kControlFd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "paddock-warm: %s\n", what);
  if (g_run_stderr >= 0) dprintf(g_run_stderr, "paddock-warm: %s\n", what);
  std::_Exit(127);
}

/// The next NUL-terminated field of [*p, end), or nullptr.
char* next_field(char** p, char* end) {
  char* start = *p;
  char* nul = static_cast<char*>(std::memchr(start, '\0', static_cast<std::size_t>(end - start)));
  if (nul == nullptr) return nullptr;
  *p = nul + 1;
  return start;
}

bool parse_count(const char* s, std::size_t* out) {
  if (*s == '\0') return false;
  std::size_t v = 0;
  for (; *s != '\0'; ++s) {
    if (*s < '0' || *s > '9' || v > kMaxPayload) return false;
    v = v * 10 + static_cast<std::size_t>(*s - '0');
  }
  *out = v;
  return true;
}

/// The 8-byte header and the descriptors attached to it; the count of descriptors, -1 at EOF
/// before any byte (nothing came).
int receive_header(char* header, int* fds) {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  iovec iov{header, 8};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = -1;
  do {
    n = ::recvmsg(kControlFd, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return -1;
  if (n < 0) fail("cannot read the control socket");
  if ((msg.msg_flags & MSG_CTRUNC) != 0) fail("too many descriptors");
  int count = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const auto bytes = static_cast<std::size_t>(c->cmsg_len - CMSG_LEN(0));
    count = static_cast<int>(bytes / sizeof(int));
    std::memcpy(fds, CMSG_DATA(c), static_cast<std::size_t>(count) * sizeof(int));
  }
  if (n < 8 && !read_exactly(header + n, 8 - static_cast<std::size_t>(n))) {
    fail("truncated request");
  }
  return count;
}

void forward(int sig) {
  if (g_child > 0) ::kill(g_child, sig);
}

// The signals POST /v1/workers/{id}/signal allows that can be caught (the spawner signals the
// command itself; this covers one that reaches the helper first).
constexpr int kForwarded[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM,  SIGUSR1,
                              SIGUSR2, SIGCONT, SIGTSTP, SIGWINCH, SIGALRM};

}  // namespace

int main() {
  struct stat st {};
  if (::fstat(kControlFd, &st) != 0 || !S_ISSOCK(st.st_mode)) fail("no control socket");
  ::fcntl(kControlFd, F_SETFD, FD_CLOEXEC);
  char header[8];
  int fds[kMaxFds] = {-1, -1, -1};
  const int nfds = receive_header(header, fds);
  if (nfds < 0) return 0;  // retired before a run came
  if (nfds < 2) fail("the run's stdout and stderr did not come with the request");
  g_run_stderr = fds[1];
  if (std::memcmp(header, "PDKW", 4) != 0) fail("not a warm request");
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) {
    n |= static_cast<std::uint32_t>(static_cast<unsigned char>(header[4 + i])) << (8 * i);
  }
  if (n == 0 || n > kMaxPayload) fail("bad request length");
  char* payload = static_cast<char*>(std::malloc(n));
  if (payload == nullptr || !read_exactly(payload, n)) fail("truncated request");
  char* p = payload;
  char* end = payload + n;
  std::size_t argc = 0;
  const char* f = next_field(&p, end);
  if (f == nullptr || !parse_count(f, &argc) || argc == 0 || argc > n) fail("bad command");
  char** argv = static_cast<char**>(std::calloc(argc + 1, sizeof(char*)));
  for (std::size_t i = 0; i < argc; ++i) {
    argv[i] = next_field(&p, end);
    if (argv[i] == nullptr) fail("truncated command");
  }
  std::size_t envc = 0;
  f = next_field(&p, end);
  if (f == nullptr || !parse_count(f, &envc) || envc > n) fail("bad environment");
  char** envp = static_cast<char**>(std::calloc(envc + 1, sizeof(char*)));
  for (std::size_t i = 0; i < envc; ++i) {
    envp[i] = next_field(&p, end);
    if (envp[i] == nullptr) fail("truncated environment");
  }
  if (p != end) fail("trailing bytes in the request");
  int in = fds[2];
  if (in < 0) in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (in < 0) fail("cannot open /dev/null");

  // Signals wait until the child's pid is known; the child gets the mask it had back.
  sigset_t forwarded;
  sigset_t before;
  sigemptyset(&forwarded);
  for (int sig : kForwarded) sigaddset(&forwarded, sig);
  sigprocmask(SIG_BLOCK, &forwarded, &before);
  // vfork: the child borrows this process's memory until its execve (no copy of the page
  // tables on the run's way to its command). It only moves descriptors and execs; a failed
  // execve leaves its errno here for the message below.
  g_exec_errno = 0;
  const pid_t child = ::vfork();
  if (child < 0) fail("vfork failed");
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &before, nullptr);
    if (::dup2(in, 0) < 0 || ::dup2(fds[0], 1) < 0 || ::dup2(fds[1], 2) < 0) {
      g_exec_errno = -1;
      ::_exit(127);
    }
    // Everything else is close-on-exec: the control socket and the received originals.
    // execvp searches the PATH of the environment it gets, as bwrap's own execvp does after
    // --setenv.
    environ = envp;
    ::execvp(argv[0], argv);
    g_exec_errno = errno;
    ::_exit(1);
  }
  if (g_exec_errno > 0) {
    // The same words and status as bwrap when a cold start's command cannot be executed.
    dprintf(fds[1], "bwrap: execvp %s: %s\n", argv[0], std::strerror(g_exec_errno));
  }
  g_child = child;
  for (int fd : {fds[0], fds[1], fds[2], in}) {
    if (fd >= 0) ::close(fd);
  }
  g_run_stderr = -1;
  struct sigaction sa {};
  sa.sa_handler = forward;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig : kForwarded) sigaction(sig, &sa, nullptr);
  sigprocmask(SIG_SETMASK, &before, nullptr);

  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) fail("waitpid failed");
  }
  // As bwrap's init reports its child (propagate_exit_status).
  const int code = WIFEXITED(status)     ? WEXITSTATUS(status)
                   : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                         : 255;
  const char report[8] = {
      'P', 'D', 'K', 'X', static_cast<char>(code & 0xff), static_cast<char>((code >> 8) & 0xff),
      0,   0};
  (void)::send(kControlFd, report, sizeof report, MSG_NOSIGNAL);
  // The spawner kills the sandbox once it has told the run's end. Until then the helper waits
  // here instead of exiting: its exit would make the sandbox's init exit and the kernel tear the
  // sandbox down at once, on the CPUs the run's end is being told on. Bounded, in case the
  // spawner is gone (then the socket closes and the wait ends at once).
  pollfd pfd{kControlFd, POLLIN, 0};
  (void)::poll(&pfd, 1, 5000);
  return code;
}
