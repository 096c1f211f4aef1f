#include "support/bwrap_runner.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>

namespace paddock::test_support {

namespace {

Error sys_error(const std::string& call) {
  return make_error("system", call + ": " + std::strerror(errno));
}

[[noreturn]] void child_fail(int err_fd, const char* what) {
  const int e = errno;
  (void)!write(err_fd, what, std::strlen(what));
  (void)!write(err_fd, ": ", 2);
  const char* s = std::strerror(e);
  (void)!write(err_fd, s, std::strlen(s));
  _exit(126);
}

}  // namespace

Result<BwrapRun> run_in_bwrap(const BwrapOptions& opts) {
  int seccomp_fd = -1;
  if (!opts.seccomp_bpf.empty()) {
    seccomp_fd = ::open(opts.seccomp_bpf.c_str(), O_RDONLY);  // inherited by bwrap
    if (seccomp_fd < 0) return sys_error("open(" + opts.seccomp_bpf + ")");
  }
  std::vector<std::string> args{opts.bwrap,
                                "--unshare-user",
                                "--unshare-pid",
                                "--disable-userns",
                                "--die-with-parent",
                                "--new-session",
                                "--cap-drop",
                                "ALL",
                                "--ro-bind",
                                "/usr",
                                "/usr",
                                "--symlink",
                                "usr/bin",
                                "/bin",
                                "--symlink",
                                "usr/lib",
                                "/lib",
                                "--symlink",
                                "usr/lib64",
                                "/lib64",
                                "--proc",
                                "/proc",
                                "--dev",
                                "/dev",
                                "--tmpfs",
                                "/tmp"};
  for (const auto& [host, inside] : opts.ro_binds) {
    args.insert(args.end(), {"--ro-bind", host, inside});
  }
  if (seccomp_fd >= 0) args.insert(args.end(), {"--seccomp", std::to_string(seccomp_fd)});
  args.insert(args.end(), opts.argv.begin(), opts.argv.end());
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return sys_error("pipe2");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return sys_error("pipe2");

  const pid_t pid = fork();
  if (pid < 0) return sys_error("fork");
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_pipe[1], 1) < 0 ||
        dup2(err_pipe[1], 2) < 0) {
      child_fail(err_pipe[1], "dup2");
    }
    if (setgroups(0, nullptr) != 0) child_fail(2, "setgroups(0)");
    if (setresgid(opts.gid, opts.gid, opts.gid) != 0) child_fail(2, "setresgid");
    if (setresuid(opts.uid, opts.uid, opts.uid) != 0) child_fail(2, "setresuid");
    // bwrap reads /proc/self as this user; setresuid cleared the dumpable flag.
    if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) child_fail(2, "prctl(PR_SET_DUMPABLE)");
    execv(cargv[0], cargv.data());
    child_fail(2, "execv(bwrap)");
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (seccomp_fd >= 0) close(seccomp_fd);

  BwrapRun run;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(opts.timeout_seconds);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&run.out, &run.err};
  int open_fds = 2;
  bool timed_out = false;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    const int n = poll(fds, 2, static_cast<int>(left));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buf[4096];
      const ssize_t r = read(fds[i].fd, buf, sizeof buf);
      if (r > 0) {
        sinks[i]->append(buf, static_cast<size_t>(r));
      } else if (r == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return sys_error("waitpid");
  }
  if (timed_out) {
    return make_error("timeout", "sandbox did not finish within " +
                                     std::to_string(opts.timeout_seconds) +
                                     "s; stderr: " + run.err);
  }
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) run.term_signal = WTERMSIG(status);
  return run;
}

std::vector<std::pair<std::string, std::string>> parse_probe_lines(const std::string& out) {
  std::vector<std::pair<std::string, std::string>> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    const auto sp = line.find(' ');
    if (sp == std::string::npos) continue;
    lines.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  return lines;
}

}  // namespace paddock::test_support
