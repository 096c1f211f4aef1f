#pragma once
/// Runs the built `paddock` CLI (PADDOCK_CLI_PATH) as a child process with its stdout and stderr
/// collected, for the integration tests that drive it against a real paddockd.

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

extern char** environ;  // NOLINT

namespace paddock::test {

using namespace std::chrono_literals;

struct ProcOptions {
  std::string stdin_data;
  std::optional<uid_t> uid;      ///< run as this uid (and gid 65534, no supplementary groups)
  std::vector<std::string> env;  ///< extra KEY=VALUE
};

/// The CLI binary as another user can run it: a copy in a directory every user may search,
/// made once per test process (the build tree may sit under a 0700 directory such as /root).
inline const std::string& cli_path_for_other_users() {
  static const std::string path = [] {
    char dir[] = "/tmp/paddock-cli-XXXXXX";
    if (::mkdtemp(dir) == nullptr) return std::string(PADDOCK_CLI_PATH);
    std::filesystem::permissions(dir, std::filesystem::perms(0755));
    const std::string copy = std::string(dir) + "/paddock";
    std::error_code ec;
    std::filesystem::copy_file(PADDOCK_CLI_PATH, copy, ec);
    if (ec) return std::string(PADDOCK_CLI_PATH);
    std::filesystem::permissions(copy, std::filesystem::perms(0755));
    static const std::string to_remove = dir;
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(to_remove, ignored);
    });
    return copy;
  }();
  return path;
}

/// A running `paddock` process with its stdout and stderr collected as they arrive.
class Proc {
 public:
  Proc(const std::vector<std::string>& args, const ProcOptions& o = {}) {
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 ||
        ::pipe2(err, O_CLOEXEC) != 0) {
      return;
    }
    std::vector<std::string> argv_s{o.uid ? cli_path_for_other_users()
                                          : std::string(PADDOCK_CLI_PATH)};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "PADDOCK_", 8) == 0 || std::strncmp(*e, "NO_COLOR=", 9) == 0) continue;
      env_s.emplace_back(*e);
    }
    env_s.insert(env_s.end(), o.env.begin(), o.env.end());
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      if (o.uid) {
        if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
            ::setresuid(*o.uid, *o.uid, *o.uid) != 0) {
          ::_exit(126);
        }
      }
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
    if (!o.stdin_data.empty()) (void)!::write(in[1], o.stdin_data.data(), o.stdin_data.size());
    ::close(in[1]);
  }
  ~Proc() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    if (err_fd_ >= 0) ::close(err_fd_);
  }
  Proc(const Proc&) = delete;
  Proc& operator=(const Proc&) = delete;

  /// Reads what is available for up to `slice`; true while either pipe is open.
  bool pump(std::chrono::milliseconds slice) {
    std::vector<pollfd> fds;
    if (out_fd_ >= 0) fds.push_back({out_fd_, POLLIN, 0});
    if (err_fd_ >= 0) fds.push_back({err_fd_, POLLIN, 0});
    if (fds.empty()) return false;
    if (::poll(fds.data(), fds.size(), static_cast<int>(slice.count())) <= 0) return true;
    for (const auto& p : fds) {
      if ((p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buf[8192];
      const ssize_t n = ::read(p.fd, buf, sizeof buf);
      std::string& dst = p.fd == out_fd_ ? out_ : err_;
      if (n > 0) {
        dst.append(buf, static_cast<std::size_t>(n));
      } else {
        ::close(p.fd);
        (p.fd == out_fd_ ? out_fd_ : err_fd_) = -1;
      }
    }
    return true;
  }

  /// Waits (bounded) until stdout contains `text`.
  bool wait_for_output(const std::string& text, std::chrono::milliseconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (out_.find(text) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      if (!pump(50ms) && out_.find(text) == std::string::npos) return false;
    }
    return out_.find(text) != std::string::npos;
  }

  /// Waits (bounded) for the process to exit; its exit code, 128+N for signal N, or nullopt
  /// when it was still running at the deadline.
  std::optional<int> wait(std::chrono::milliseconds limit = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!status_) {
      pump(20ms);
      int st = 0;
      const pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    }
    while (pump(20ms)) {
    }
    return status_;
  }

  void terminate() { send(SIGTERM); }
  /// Sends `sig` (e.g. SIGINT, as Ctrl-C does) while the process runs.
  void send(int sig) {
    if (pid_ > 0 && !status_) ::kill(pid_, sig);
  }

  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_, err_;
  std::optional<int> status_;
};

struct Ran {
  int code = -1;
  std::string out, err;
};

inline Ran paddock_cli(const std::vector<std::string>& args, const ProcOptions& o = {},
                       std::chrono::milliseconds limit = 60s) {
  Proc p(args, o);
  Ran r;
  r.code = p.wait(limit).value_or(-1);
  r.out = p.out();
  r.err = p.err();
  return r;
}

inline std::string describe(const Ran& r) {
  return "exit " + std::to_string(r.code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

}  // namespace paddock::test
