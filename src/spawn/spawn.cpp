#include "paddock/spawn/spawn.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "child.hpp"
#include "paddock/spawn/net_helper.hpp"

#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PADDOCK_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define PADDOCK_ASAN 1
#endif

// AddressSanitizer keeps its own view of each thread's stack and cannot follow a child that runs
// on another stack in the same memory: sanitized builds clone with a copy of memory instead.
#if defined(__x86_64__) && !defined(PADDOCK_ASAN)
#define PADDOCK_CLONE_ON_STACK 1
#endif

#ifdef PADDOCK_CLONE_ON_STACK
// clone3 onto a stack of its own, then fn(arg) and exit in the child: what glibc's clone() does
// for clone(2), which cannot pass CLONE_INTO_CGROUP. Returns the child's pid in the parent or
// -errno. fn and arg ride in r8/r9 (the syscall instruction keeps them; the child starts with
// the parent's registers and the new stack pointer).
extern "C" long paddock_clone3_on_stack(void* args, std::size_t size, int (*fn)(void*), void* arg);
asm(R"(
    .pushsection .text
    .p2align 4
    .globl paddock_clone3_on_stack
    .hidden paddock_clone3_on_stack
    .type paddock_clone3_on_stack, @function
paddock_clone3_on_stack:
    .cfi_startproc
    mov %rdx, %r8
    mov %rcx, %r9
    mov $435, %eax
    syscall
    test %rax, %rax
    jz 1f
    ret
1:
    .cfi_undefined rip
    xor %ebp, %ebp
    and $-16, %rsp
    mov %r9, %rdi
    call *%r8
    mov %eax, %edi
    mov $60, %eax
    syscall
    hlt
    .cfi_endproc
    .size paddock_clone3_on_stack, .-paddock_clone3_on_stack
    .popsection
)");
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

#ifdef PADDOCK_CLONE_ON_STACK
int child_on_stack(void* setup) { detail::child_main(*static_cast<const ChildSetup*>(setup)); }
#endif

/// clone3 with `args` (`size` bytes of them); the child runs child_main(setup). With
/// `share_memory` (and an architecture the trampoline above exists for) the child borrows the
/// caller's memory until its execve (CLONE_VM|CLONE_VFORK, on a stack of its own, the caller
/// suspended meanwhile), as posix_spawn does: no copy of the caller's page tables to make and
/// throw away again at the exec, which is most of what a spawn costs the spawner. Returns the
/// pid, or -1 with errno.
long clone_child(CloneArgs args, std::size_t size, const ChildSetup& setup, bool share_memory) {
#ifdef PADDOCK_CLONE_ON_STACK
  if (share_memory) {
    alignas(64) static thread_local char stack[64 * 1024];
    args.flags |= CLONE_VM | CLONE_VFORK;
    args.stack = reinterpret_cast<std::uintptr_t>(stack);
    args.stack_size = sizeof stack;
    const long r =
        paddock_clone3_on_stack(&args, size, child_on_stack, const_cast<ChildSetup*>(&setup));
    if (r < 0) {
      errno = static_cast<int>(-r);
      return -1;
    }
    return r;
  }
#else
  (void)share_memory;
#endif
  const long pid = ::syscall(SYS_clone3, &args, size);
  if (pid == 0) detail::child_main(setup);
  return pid;
}

Error sys_error(const std::string& call, int err) {
  return make_error("spawn_failed", util::syscall_error(call, err));
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

/// A child cloned by start_child(), past its exec (or its hook's setup).
struct Started {
  pid_t pid = -1;
  UniqueFd pidfd;
  CgroupPlacement placement = CgroupPlacement::None;
};

/// Clones a child that runs child_main(setup), inside the cgroup leaf open as `cgroup_fd` when
/// it is >= 0 (CLONE_INTO_CGROUP, else through cgroup.procs before the child goes on), closes
/// the child's descriptors here and waits on the report pipe: EOF means the child exec'd (or its
/// hook closed the pipe). `describe` turns a failure report into an Error.
Result<Started> start_child(ChildSetup& setup, std::vector<UniqueFd>& child_side, int cgroup_fd,
                            bool via_procs,
                            const std::function<Error(const ChildReport&)>& describe) {
  Started out;
  auto report = make_pipe();
  if (!report) return report.error();
  // Placement pipe for the fallback path (child waits until the parent moved it).
  UniqueFd go_read;
  UniqueFd go_write;
  if (cgroup_fd >= 0) {
    auto go = make_pipe();
    if (!go) return go.error();
    go_read = std::move(go->first);
    go_write = std::move(go->second);
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
  // A hook that does not exec (the port relay) needs memory of its own.
  const bool can_share = setup.hook == nullptr || setup.hook_execs;
  if (cgroup_fd >= 0 && !via_procs) {
    CloneArgs in_leaf = args;
    in_leaf.flags |= CLONE_INTO_CGROUP;
    in_leaf.cgroup = static_cast<std::uint64_t>(cgroup_fd);
    pid = clone_child(in_leaf, sizeof in_leaf, setup, can_share);
    if (pid > 0) {
      out.placement = CgroupPlacement::Clone3;
    } else {
      into_cgroup_errno = errno;
    }
  }
  bool forked = false;
  if (pid < 0) {
    if (cgroup_fd >= 0) {
      setup.go_fd = go_read.get();
      setup.go_write_fd = go_write.get();
    }
    // The placement pipe needs the caller running while the child waits: no shared memory then.
    pid = clone_child(args, kCloneArgsSizeVer0, setup, can_share && cgroup_fd < 0);
    if (pid < 0 && (errno == ENOSYS || errno == EINVAL)) {
      // Kernels before 5.5 (or filters that hide clone3): fork, then ask for a pidfd. The child
      // cannot be reaped by anyone else in between, so the pidfd names the right process.
      pid = ::fork();
      forked = true;
      if (pid == 0) detail::child_main(setup);
    }
  }
  const int clone_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return sys_error(forked ? "fork" : "clone3(CLONE_PIDFD)", clone_errno);

  out.pid = static_cast<pid_t>(pid);
  auto abandon = [&out](Error e) -> Result<Started> {
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
  if (cgroup_fd >= 0 && out.placement == CgroupPlacement::None) {
    if (auto moved = write_cgroup_procs(cgroup_fd, out.pid); !moved) {
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
    out.placement = CgroupPlacement::ProcsFile;
  }
  go_write.reset();
  go_read.reset();
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
  if (n == static_cast<ssize_t>(sizeof r)) return describe(r);
  return make_error("spawn_failed", "the child exited before exec without saying why (status " +
                                        std::to_string(status) + ")");
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
      case sandbox::FdRole::WarmControl: {
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
          return sys_error("socketpair(AF_UNIX)", errno);
        }
        out.control_fd.reset(pair[0]);
        pass(UniqueFd(pair[1]), f.target);
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
  auto started = start_child(setup, child_side, inputs.cgroup_fd, inputs.cgroup_via_procs,
                             [&plan](const ChildReport& r) { return report_error(plan, r); });
  // The port is released for the workload: the child's copy closed at execve.
  inputs.port_listener.reset();
  if (!started) return started.error();
  out.pid = started->pid;
  out.pidfd = std::move(started->pidfd);
  out.cgroup_placement = started->placement;
  return out;
}

Result<std::pair<UniqueFd, UniqueFd>> make_pipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return sys_error("pipe2(O_CLOEXEC)", errno);
  return std::pair{UniqueFd(p[0]), UniqueFd(p[1])};
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
  // A directory (checked above). A process of the worker that was killed a moment ago may still
  // finish a system call (a warm run's end is known before its sandbox is torn down), so the
  // name is not trusted to stay a directory: the chmod follows no link either (glibc does it
  // through an O_PATH descriptor and /proc/self/fd; a symlink gets EOPNOTSUPP).
  if (::fchmodat(parent, name.c_str(), 0700, AT_SYMLINK_NOFOLLOW) != 0) {
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

/// What a network helper's hook needs, in plain memory prepared before clone.
struct NsHookArg {
  char netns_path[64] = {};
  bool relay = false;
};

/// After the uid drop: opens the worker's network namespace and its owning user namespace (the
/// parent of the one bwrap's workload shows) as fds 3 and 4 (exec mode), or enters both and
/// serves sockets made inside on fd 3 (relay mode, never returns).
int ns_hook(const void* raw, int report_fd, int* step) {
  const auto* arg = static_cast<const NsHookArg*>(raw);
  const int net = ::open(arg->netns_path, O_RDONLY | O_CLOEXEC);
  if (net < 0) {
    *step = static_cast<int>(Step::OpenNetns);
    return errno;
  }
  const int user = ::ioctl(net, NS_GET_USERNS);
  if (user < 0) {
    *step = static_cast<int>(Step::NsGetUserns);
    return errno;
  }
  if (!arg->relay) {
    // dup2 leaves the copies without FD_CLOEXEC: they survive execve as /proc/self/fd/3 and 4.
    if (::dup2(net, kHelperNetnsFd) < 0 || ::dup2(user, kHelperUsernsFd) < 0) {
      *step = static_cast<int>(Step::Dup2);
      return errno;
    }
    // dup2 onto itself keeps FD_CLOEXEC; these two must survive execve.
    if (::fcntl(kHelperNetnsFd, F_SETFD, 0) != 0 || ::fcntl(kHelperUsernsFd, F_SETFD, 0) != 0) {
      *step = static_cast<int>(Step::ClearCloexec);
      return errno;
    }
    return 0;
  }
  if (::setns(user, CLONE_NEWUSER) != 0) {
    *step = static_cast<int>(Step::SetnsUser);
    return errno;
  }
  if (::setns(net, CLONE_NEWNET) != 0) {
    *step = static_cast<int>(Step::SetnsNet);
    return errno;
  }
  // The relay never execs, so close-on-exec protects nothing here: close every descriptor it
  // inherited from the daemon but its socket (the namespace fds and the report pipe included;
  // closing the report pipe tells the parent the relay is set up).
  const unsigned first_to_close = static_cast<unsigned>(kHelperRelayFd + 1);
  if (static_cast<unsigned>(report_fd) < first_to_close) ::close(report_fd);  // parked above
  if (::syscall(SYS_close_range, first_to_close, ~0U, 0) != 0) {
    *step = static_cast<int>(Step::ReportClose);
    return errno;
  }
  // What ps and top show for it (it would otherwise carry the spawner's name).
  ::prctl(PR_SET_NAME, "paddock-relay", 0, 0, 0);
  // One request byte in, one TCP socket (made in this namespace) out; an errno instead when
  // socket() fails. Ends when the daemon closes its end (or dies: PDEATHSIG).
  for (;;) {
    char want = 0;
    const ssize_t n = ::read(kHelperRelayFd, &want, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(0);
    const int family = want == '6' ? AF_INET6 : AF_INET;
    const int sock = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int err = sock < 0 ? errno : 0;
    struct iovec iov {};
    iov.iov_base = &err;
    iov.iov_len = sizeof err;
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (sock >= 0) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      __builtin_memcpy(CMSG_DATA(c), &sock, sizeof sock);
    }
    const ssize_t sent = ::sendmsg(kHelperRelayFd, &msg, MSG_NOSIGNAL);
    if (sock >= 0) ::close(sock);
    if (sent < 0 && errno != EINTR) ::_exit(0);
  }
}

Error helper_error(const NetHelper& h, const ChildReport& r) {
  const auto step = static_cast<Step>(r.step);
  std::string call = detail::step_name(step);
  if (step == Step::Setresuid || step == Step::Setresgid) call += "(" + std::to_string(r.arg) + ")";
  if (step == Step::Execve) call += "(" + h.path + ")";
  if (step == Step::OpenNetns) call = "open(/proc/" + std::to_string(h.target) + "/ns/net)";
  Error e = sys_error(call, r.err);
  if (step == Step::Execve && r.err == ENOENT) {
    e.message += "; install " + h.path + " (Debian package slirp4netns)";
  }
  return e;
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
  const std::string name = path.substr(slash + 1);
  // Most runs leave their directory empty: one rmdir then, which follows no link (a symlink in
  // its place gets ENOTDIR) and removes nothing but an empty directory. Anything else is walked.
  if (::unlinkat(parent.get(), name.c_str(), AT_REMOVEDIR) == 0 || errno == ENOENT) return {};
  return remove_entry(parent.get(), name, path, 0);
}

Result<SpawnedHelper> spawn_net_helper(NetHelper helper) {
  if (helper.uid == 0 || helper.gid == 0) {
    return make_error("spawn_failed", "refusing to run a network helper as uid or gid 0");
  }
  const bool relay = helper.relay.valid();
  if (!relay && (helper.argv.empty() || helper.path.empty())) {
    return make_error("spawn_failed", "a network helper needs a program or a relay socket");
  }
  NsHookArg arg;
  std::snprintf(arg.netns_path, sizeof arg.netns_path, "/proc/%d/ns/net",
                static_cast<int>(helper.target));
  arg.relay = relay;

  std::vector<char*> argv;
  for (const auto& a : helper.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  static char* const kEmptyEnv[] = {const_cast<char*>("PATH=/usr/sbin:/usr/bin:/sbin:/bin"),
                                    nullptr};

  ChildSetup setup;
  std::vector<UniqueFd> child_side;
  auto pass = [&](UniqueFd fd, int target) {
    setup.sources[setup.nfds] = fd.get();
    setup.targets[setup.nfds] = target;
    ++setup.nfds;
    child_side.push_back(std::move(fd));
  };
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null) return sys_error("open(/dev/null)", errno);
  for (int target : {0, 1}) {
    UniqueFd copy(::fcntl(null.get(), F_DUPFD_CLOEXEC, 3));
    if (!copy) return sys_error("fcntl(F_DUPFD_CLOEXEC)", errno);
    pass(std::move(copy), target);
  }
  pass(helper.stderr_fd ? std::move(helper.stderr_fd) : std::move(null), 2);
  if (relay) pass(std::move(helper.relay), kHelperRelayFd);
  if (helper.ready_fd) pass(std::move(helper.ready_fd), kHelperReadyFd);
  // Above the fixed numbers the hook and the helper's argv use.
  setup.first_free = kHelperReadyFd + 1;

  setup.path = relay ? "/" : helper.path.c_str();
  setup.argv = argv.data();
  setup.envp = kEmptyEnv;
  setup.uid = helper.uid;
  setup.gid = helper.gid;
  setup.hook = ns_hook;
  setup.hook_arg = &arg;
  // slirp4netns: the hook only opens and moves descriptors, then execve. The relay never execs.
  setup.hook_execs = !relay;
  auto started = start_child(setup, child_side, helper.cgroup_fd, false,
                             [&helper](const ChildReport& r) { return helper_error(helper, r); });
  if (!started) return started.error();
  SpawnedHelper out;
  out.pid = started->pid;
  out.pidfd = std::move(started->pidfd);
  return out;
}

}  // namespace paddock::spawn
