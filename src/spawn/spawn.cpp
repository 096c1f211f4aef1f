#include "paddock/spawn/spawn.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "child.hpp"

#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

namespace paddock::spawn {

namespace {

using detail::ChildReport;
using detail::ChildSetup;
using detail::Step;
using util::UniqueFd;

/// struct clone_args, version 2 (88 bytes); version 0 is its first 64 bytes.
struct CloneArgs {
  std::uint64_t flags = 0;
  std::uint64_t pidfd = 0;
  std::uint64_t child_tid = 0;
  std::uint64_t parent_tid = 0;
  std::uint64_t exit_signal = 0;
  std::uint64_t stack = 0;
  std::uint64_t stack_size = 0;
  std::uint64_t tls = 0;
  std::uint64_t set_tid = 0;
  std::uint64_t set_tid_size = 0;
  std::uint64_t cgroup = 0;
};
constexpr std::size_t kCloneArgsSizeVer0 = 64;
static_assert(sizeof(CloneArgs) == 88);

Error sys_error(const std::string& call, int err) {
  return make_error("spawn_failed", util::syscall_error(call, err));
}

Result<std::pair<UniqueFd, UniqueFd>> make_pipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return sys_error("pipe2(O_CLOEXEC)", errno);
  return std::pair{UniqueFd(p[0]), UniqueFd(p[1])};
}

/// Moves `pid` into the cgroup whose directory is open as `cgroup_fd`.
Result<void> write_cgroup_procs(int cgroup_fd, pid_t pid) {
  UniqueFd procs(::openat(cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC));
  if (!procs) return sys_error("openat(<leaf>, cgroup.procs)", errno);
  const std::string text = std::to_string(pid);
  if (::write(procs.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return sys_error("write(<leaf>/cgroup.procs, " + text + ")", errno);
  }
  return {};
}

/// A sealed, read-only-from-now-on memfd holding `data`, positioned at offset 0.
Result<UniqueFd> sealed_memfd(const char* name, std::string_view data) {
  UniqueFd fd(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return sys_error(std::string("memfd_create(") + name + ")", errno);
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error(std::string("write(") + name + ")", errno);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) return sys_error("lseek(memfd, 0)", errno);
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) !=
      0) {
    return sys_error("fcntl(F_ADD_SEALS)", errno);
  }
  return fd;
}

std::string rlimit_name(int resource) {
  switch (resource) {
    case RLIMIT_NPROC:
      return "RLIMIT_NPROC";
    case RLIMIT_NOFILE:
      return "RLIMIT_NOFILE";
    case RLIMIT_CORE:
      return "RLIMIT_CORE";
    case RLIMIT_FSIZE:
      return "RLIMIT_FSIZE";
    case RLIMIT_AS:
      return "RLIMIT_AS";
    case RLIMIT_CPU:
      return "RLIMIT_CPU";
    default:
      return "resource " + std::to_string(resource);
  }
}

Error report_error(const sandbox::SandboxPlan& plan, const ChildReport& r) {
  const auto step = static_cast<Step>(r.step);
  std::string call = detail::step_name(step);
  switch (step) {
    case Step::Setresuid:
    case Step::Setresgid:
      call += "(" + std::to_string(r.arg) + ")";
      break;
    case Step::Dup2:
    case Step::DupHigh:
    case Step::ClearCloexec:
      call += " for fd " + std::to_string(r.arg);
      break;
    case Step::Setrlimit:
      call += "(" + rlimit_name(r.arg) + ")";
      break;
    case Step::Execve:
      call += "(" + plan.bwrap_path + ")";
      break;
    case Step::SetuidCheck:
      return make_error("spawn_failed", "setuid(0) succeeded after dropping to uid " +
                                            std::to_string(plan.uid) +
                                            "; refusing to start the worker");
    case Step::IdCheck:
      return make_error("spawn_failed",
                        "after dropping, getresuid/getresgid/getgroups did not show exactly uid " +
                            std::to_string(plan.uid) + " and gid " + std::to_string(plan.gid) +
                            " with no supplementary group; refusing to start the worker");
    default:
      break;
  }
  Error e = sys_error(call, r.err);
  if (step == Step::Execve && r.err == ENOENT) {
    e.message += "; install bubblewrap or set [process] bwrap_path";
  }
  return e;
}

}  // namespace

Result<Spawned> spawn(const sandbox::SandboxPlan& plan, SpawnInputs inputs) {
  if (plan.uid == 0 || plan.gid == 0) {
    return make_error("spawn_failed", "refusing to run a worker as uid or gid 0");
  }
  if (plan.argv.empty() || plan.bwrap_path.empty()) {
    return make_error("spawn_failed", "the plan has no bwrap command line");
  }
  if (plan.fds.size() + 3 > detail::kMaxChildFds ||
      plan.rlimits.size() > static_cast<std::size_t>(detail::kMaxRlimits)) {
    return make_error("spawn_failed", "the plan has too many descriptors or limits");
  }

  // argv/envp as C arrays pointing into the plan (which outlives the exec).
  std::vector<char*> argv;
  const auto& words = plan.exec_argv.empty() ? plan.argv : plan.exec_argv;
  argv.reserve(words.size() + 1);
  for (const auto& a : words) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(plan.envp.size() + 1);
  for (const auto& e : plan.envp) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  Spawned out;
  // Descriptors that only the child needs; closed here once it exists.
  std::vector<UniqueFd> child_side;
  ChildSetup setup;
  auto pass = [&](UniqueFd fd, int target) {
    setup.sources[setup.nfds] = fd.get();
    setup.targets[setup.nfds] = target;
    ++setup.nfds;
    if (target + 1 > setup.first_free) setup.first_free = target + 1;
    child_side.push_back(std::move(fd));
  };

  if (inputs.stdin_pipe) {
    auto p = make_pipe();
    if (!p) return p.error();
    out.stdin_fd = std::move(p->second);
    pass(std::move(p->first), 0);
  } else {
    UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!null) return sys_error("open(/dev/null)", errno);
    pass(std::move(null), 0);
  }
  auto out_pipe = make_pipe();
  if (!out_pipe) return out_pipe.error();
  out.stdout_fd = std::move(out_pipe->first);
  pass(std::move(out_pipe->second), 1);
  auto err_pipe = make_pipe();
  if (!err_pipe) return err_pipe.error();
  out.stderr_fd = std::move(err_pipe->first);
  pass(std::move(err_pipe->second), 2);

  for (const auto& f : plan.fds) {
    switch (f.role) {
      case sandbox::FdRole::Seccomp: {
        if (inputs.seccomp_bpf.empty() || inputs.seccomp_bpf.size() % 8 != 0) {
          return make_error("spawn_failed",
                            "no valid seccomp program was given (need a non-empty BPF whose "
                            "size is a multiple of 8); check [process] seccomp_profile");
        }
        auto fd = sealed_memfd("paddock-seccomp", inputs.seccomp_bpf);
        if (!fd) return fd.error();
        pass(std::move(fd.value()), f.target);
        break;
      }
      case sandbox::FdRole::Status: {
        auto p = make_pipe();
        if (!p) return p.error();
        out.status_fd = std::move(p->first);
        pass(std::move(p->second), f.target);
        break;
      }
      case sandbox::FdRole::PathSource: {
        auto fd = util::open_no_symlinks(f.data, O_PATH | O_DIRECTORY);
        if (!fd) {
          return make_error("spawn_failed",
                            "cannot open '" + f.data + "' to mount it: " + fd.error().message);
        }
        pass(std::move(fd.value()), f.target);
        break;
      }
      case sandbox::FdRole::Data: {
        auto fd = sealed_memfd("paddock-data", f.data);
        if (!fd) return fd.error();
        pass(std::move(fd.value()), f.target);
        break;
      }
    }
  }
  auto report = make_pipe();
  if (!report) return report.error();
  // Placement pipe for the fallback path (child waits until the parent moved it).
  UniqueFd go_read;
  UniqueFd go_write;
  if (inputs.cgroup_fd >= 0) {
    auto go = make_pipe();
    if (!go) return go.error();
    go_read = std::move(go->first);
    go_write = std::move(go->second);
  }

  setup.path = plan.bwrap_path.c_str();
  setup.argv = argv.data();
  setup.envp = envp.data();
  setup.uid = plan.uid;
  setup.gid = plan.gid;
  for (const auto& l : plan.rlimits) {
    setup.resources[setup.nlimits] = l.resource;
    setup.limits[setup.nlimits].rlim_cur = l.soft;
    setup.limits[setup.nlimits].rlim_max = l.hard;
    ++setup.nlimits;
  }
  setup.report_fd = report->second.get();
  setup.parent = ::getpid();

  // Block every signal so no handler of the daemon runs in the child before it resets them.
  sigset_t all;
  sigset_t old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);

  int pidfd = -1;
  CloneArgs args;
  args.flags = CLONE_PIDFD | CLONE_CLEAR_SIGHAND;
  args.pidfd = reinterpret_cast<std::uintptr_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  long pid = -1;
  int into_cgroup_errno = 0;
  if (inputs.cgroup_fd >= 0 && !inputs.cgroup_via_procs) {
    CloneArgs in_leaf = args;
    in_leaf.flags |= CLONE_INTO_CGROUP;
    in_leaf.cgroup = static_cast<std::uint64_t>(inputs.cgroup_fd);
    pid = ::syscall(SYS_clone3, &in_leaf, sizeof in_leaf);
    if (pid == 0) detail::child_main(setup);
    if (pid > 0) {
      out.cgroup_placement = CgroupPlacement::Clone3;
    } else {
      into_cgroup_errno = errno;
    }
  }
  bool forked = false;
  if (pid < 0) {
    if (inputs.cgroup_fd >= 0) {
      setup.go_fd = go_read.get();
      setup.go_write_fd = go_write.get();
    }
    pid = ::syscall(SYS_clone3, &args, kCloneArgsSizeVer0);
    if (pid < 0 && (errno == ENOSYS || errno == EINVAL)) {
      // Kernels before 5.5 (or filters that hide clone3): fork, then ask for a pidfd. The child
      // cannot be reaped by anyone else in between, so the pidfd names the right process.
      pid = ::fork();
      forked = true;
    }
    if (pid == 0) detail::child_main(setup);
  }
  const int clone_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return sys_error(forked ? "fork" : "clone3(CLONE_PIDFD)", clone_errno);

  out.pid = static_cast<pid_t>(pid);
  auto abandon = [&out](Error e) -> Result<Spawned> {
    ::kill(out.pid, SIGKILL);
    while (::waitpid(out.pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return e;
  };
  if (forked) {
    pidfd = static_cast<int>(::syscall(SYS_pidfd_open, out.pid, 0));
    if (pidfd < 0) {
      // Not fatal for the exec itself, but the supervisor relies on it; report it.
      return abandon(sys_error("pidfd_open(" + std::to_string(out.pid) + ")", errno));
    }
  }
  out.pidfd.reset(pidfd);
  if (inputs.cgroup_fd >= 0 && out.cgroup_placement == CgroupPlacement::None) {
    if (auto moved = write_cgroup_procs(inputs.cgroup_fd, out.pid); !moved) {
      Error e = moved.error();
      e.message = "cannot place the worker in its cgroup: " + e.message;
      if (into_cgroup_errno != 0) {
        e.message +=
            " (after " + util::syscall_error("clone3(CLONE_INTO_CGROUP)", into_cgroup_errno) + ")";
      }
      return abandon(e);
    }
    const char go = 'g';
    if (::write(go_write.get(), &go, 1) != 1) {
      return abandon(sys_error("write(placement pipe)", errno));
    }
    out.cgroup_placement = CgroupPlacement::ProcsFile;
  }
  go_write.reset();
  go_read.reset();
  // The port is released for the workload: the child's copy closes at execve.
  inputs.port_listener.reset();
  child_side.clear();
  report->second.reset();

  ChildReport r;
  ssize_t n;
  do {
    n = ::read(report->first.get(), &r, sizeof r);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return out;  // EOF: execve succeeded and closed the report pipe

  int status = 0;
  while (::waitpid(out.pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n == static_cast<ssize_t>(sizeof r)) return report_error(plan, r);
  return make_error("spawn_failed", "the child exited before exec without saying why (status " +
                                        std::to_string(status) + ")");
}

Result<void> prepare_data_dir(const sandbox::SandboxPlan& plan) {
  if (plan.data_dir.empty()) return {};
  if (::mkdir(plan.data_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return sys_error("mkdir(" + plan.data_dir + ")", errno);
  }
  {
    // O_PATH: a directory the worker already owns (0700) cannot be opened for reading without
    // CAP_DAC_OVERRIDE, which the shipped unit does not have.
    UniqueFd path(::open(plan.data_dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!path) return sys_error("open(" + plan.data_dir + ", O_PATH|O_NOFOLLOW)", errno);
    struct stat st {};
    if (::fstat(path.get(), &st) != 0) return sys_error("fstat(" + plan.data_dir + ")", errno);
    if (st.st_uid == plan.uid && st.st_gid == plan.gid && (st.st_mode & 07777) == 0700) {
      return {};  // a restart: already this worker's
    }
  }
  UniqueFd dir(::open(plan.data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) return sys_error("open(" + plan.data_dir + ", O_DIRECTORY|O_NOFOLLOW)", errno);
  // Mode first, while the daemon still owns the directory: without CAP_FOWNER (the shipped
  // unit) it may no longer change the mode once the worker owns it.
  if (::fchmod(dir.get(), 0700) != 0) return sys_error("fchmod(" + plan.data_dir + ")", errno);
  if (::fchown(dir.get(), plan.uid, plan.gid) != 0) {
    return sys_error("fchown(" + plan.data_dir + ", " + std::to_string(plan.uid) + ")", errno);
  }
  return {};
}

namespace {

/// Removes `name` in the directory `parent`; see remove_data_dir.
Result<void> remove_entry(int parent, const std::string& name, const std::string& where,
                          int depth) {
  struct stat st {};
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return sys_error("fstatat(" + where + ")", errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(parent, name.c_str(), 0) != 0 && errno != ENOENT) {
      return sys_error("unlinkat(" + where + ")", errno);
    }
    return {};
  }
  if (depth > 512) return make_error("too_deep", where + " nests more than 512 directories");
  if (::fchownat(parent, name.c_str(), ::geteuid(), ::getegid(), AT_SYMLINK_NOFOLLOW) != 0) {
    return sys_error("fchownat(" + where + ")", errno);
  }
  // A directory (checked above, and nothing of the worker runs any more): chmod follows no link.
  if (::fchmodat(parent, name.c_str(), 0700, 0) != 0) {
    return sys_error("fchmodat(" + where + ")", errno);
  }
  UniqueFd dir(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) return sys_error("openat(" + where + ")", errno);
  std::vector<std::string> names;
  {
    UniqueFd listing(::fcntl(dir.get(), F_DUPFD_CLOEXEC, 0));
    if (!listing) return sys_error("fcntl(F_DUPFD_CLOEXEC)", errno);
    DIR* d = ::fdopendir(listing.get());
    if (d == nullptr) return sys_error("fdopendir(" + where + ")", errno);
    (void)listing.release();
    while (const dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
  }
  for (const auto& n : names) {
    if (auto r = remove_entry(dir.get(), n, where + "/" + n, depth + 1); !r) return r;
  }
  if (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return sys_error("unlinkat(" + where + ", AT_REMOVEDIR)", errno);
  }
  return {};
}

}  // namespace

Result<void> remove_data_dir(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos || slash + 1 == path.size()) {
    return make_error("invalid_path", "'" + path + "' is not an absolute path of a directory");
  }
  const std::string parent_path = slash == 0 ? "/" : path.substr(0, slash);
  UniqueFd parent(::open(parent_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!parent) {
    if (errno == ENOENT) return {};
    return sys_error("open(" + parent_path + ")", errno);
  }
  return remove_entry(parent.get(), path.substr(slash + 1), path, 0);
}

}  // namespace paddock::spawn
