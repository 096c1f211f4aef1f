#include "support/spawn_support.hpp"

#include "paddock/spawn/reaper.hpp"

#include <fcntl.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace paddock::testsupport {

namespace {

void write_text(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

}  // namespace

DaemonLayout::DaemonLayout() {
  char tmpl[] = "/tmp/paddock-test-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  root_ = tmpl;
  // Traversable by the worker uids, so mounts of the bundle work; what keeps etc/ and state/
  // out of a worker is that they are never mounted, not their modes.
  ::chmod(root_.c_str(), 0755);
  for (const char* d : {"etc", "state", "state/data", "run", "log", "bundles", "bundles/app"}) {
    ::mkdir(path(d).c_str(), 0755);
  }
  write_text(path("etc/paddock.toml"), "# config-file-marker-6c1f\n", 0644);
  write_text(path("etc/tokens"), "token-file-marker-93ab\n", 0644);
  write_text(path("bundles/app/hello.txt"), "hello from the bundle\n", 0644);
}

DaemonLayout::~DaemonLayout() {
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
}

config::Config DaemonLayout::config(uid_t first_uid, uid_t count) const {
  config::Config cfg;
  cfg.source_file = path("etc/paddock.toml");
  cfg.server.token_file = path("etc/tokens");
  cfg.server.socket = path("run/paddock.sock");
  cfg.process.state_dir = path("state");
  cfg.process.data_root = path("state/data");
  cfg.process.bundle_roots = {path("bundles")};
  cfg.process.sandbox_profiles_dir = std::string(PADDOCK_SOURCE_DIR) + "/profiles/sandbox";
  cfg.process.worker_uid_range_start = first_uid;
  cfg.process.worker_uid_range_end = first_uid + count - 1;
  cfg.log.audit_log = path("log/audit.log");
  return cfg;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string test_seccomp_bpf() {
  const std::string built = std::string(PADDOCK_BINARY_DIR) + "/profiles/seccomp/default.bpf";
  if (::access(built.c_str(), R_OK) == 0) {
    std::string bytes = read_file(built);
    if (!bytes.empty() && bytes.size() % 8 == 0) return bytes;
  }
  // Stand-in until the compiled default profile is part of the build.
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) throw std::runtime_error("seccomp_init failed");
  seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(kexec_load), 0);
  seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(acct), 0);
  const int fd = ::memfd_create("bpf", MFD_CLOEXEC);
  seccomp_export_bpf(ctx, fd);
  seccomp_release(ctx);
  std::string bytes;
  ::lseek(fd, 0, SEEK_SET);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) bytes.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return bytes;
}

sandbox::SandboxProfile source_profile(const std::string& name) {
  auto p = sandbox::load_profile(std::string(PADDOCK_SOURCE_DIR) + "/profiles/sandbox", name);
  if (!p) throw std::runtime_error(p.error().message);
  return p.value();
}

Finished run_to_end(spawn::Spawned& s, std::chrono::seconds timeout) {
  Finished f;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool out_open = s.stdout_fd.valid();
  bool err_open = s.stderr_fd.valid();
  char buf[4096];
  while ((out_open || err_open) && std::chrono::steady_clock::now() < deadline) {
    pollfd p[2] = {{out_open ? s.stdout_fd.get() : -1, POLLIN, 0},
                   {err_open ? s.stderr_fd.get() : -1, POLLIN, 0}};
    if (::poll(p, 2, 200) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (p[i].revents == 0) continue;
      const ssize_t n = ::read(p[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? f.out : f.err).append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        (i == 0 ? out_open : err_open) = false;
      }
    }
  }
  if (out_open || err_open) {
    kill_and_reap(s, 0);
    f.exit_status = -2;  // timed out
    return f;
  }
  siginfo_t info{};
  if (::waitid(P_PIDFD, static_cast<id_t>(s.pidfd.get()), &info, WEXITED) == 0) {
    f.exit_status = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
  }
  return f;
}

void kill_and_reap(spawn::Spawned& s, uid_t uid) {
  ::syscall(SYS_pidfd_send_signal, s.pidfd.get(), SIGKILL, nullptr, 0);
  // bwrap's --die-with-parent can miss a sandbox that is still starting; the worker's UID is
  // its own, so killing by UID stops whatever is left.
  if (uid != 0) (void)spawn::kill_uid(uid);
  siginfo_t info{};
  ::waitid(P_PIDFD, static_cast<id_t>(s.pidfd.get()), &info, WEXITED);
}

}  // namespace paddock::testsupport
