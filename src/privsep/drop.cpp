#include "paddock/privsep/drop.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string_view>

#include "paddock/config/config.hpp"
#include "paddock/util/fd.hpp"

namespace paddock::privsep {

namespace {

using util::errno_error;
using util::UniqueFd;

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

/// Absolute, lexically normal, without a trailing slash ("/" stays "/").
std::string normal(const std::string& path) {
  std::string n = std::filesystem::path(path).lexically_normal().string();
  while (n.size() > 1 && n.back() == '/') n.pop_back();
  return n;
}

/// True when `dir` is `path` or one of its ancestors (both normal and absolute).
bool is_at_or_above(const std::string& dir, const std::string& path) {
  if (dir == path) return true;
  if (dir == "/") return true;
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

std::vector<std::string> components(const std::string& normal_abs) {
  std::vector<std::string> out;
  for (const auto& part : std::filesystem::path(normal_abs).relative_path()) {
    if (!part.empty()) out.push_back(part.string());
  }
  return out;
}

Error how_to_create(const std::string& name) {
  return make_error(
      "no_daemon_user",
      "the account '" + name +
          "' ([server] user) does not exist; the HTTP-facing daemon runs as it. Create it with "
          "the package's sysusers file (systemd-sysusers /usr/lib/sysusers.d/paddock.conf) or "
          "with: useradd --system --no-create-home --home-dir /nonexistent --shell "
          "/usr/sbin/nologin " +
          name,
      "server.user");
}

}  // namespace

// ---- The account --------------------------------------------------------------------------

Result<void> check_daemon_user(const DaemonUser& u, uid_t worker_first, uid_t worker_last,
                               std::optional<gid_t> worker_gid) {
  const std::string who = "the account '" + u.name + "' ([server] user)";
  if (u.uid == 0) {
    return make_error("invalid_daemon_user",
                      who +
                          " has uid 0; the daemon must run as an unprivileged system user such "
                          "as 'paddock'",
                      "server.user");
  }
  if (u.gid == 0) {
    return make_error("invalid_daemon_user",
                      who + " has primary group 0 (root); give it its own group (usermod -g " +
                          u.name + " " + u.name + ")",
                      "server.user");
  }
  if (u.uid >= worker_first && u.uid <= worker_last) {
    return make_error("invalid_daemon_user",
                      who + " has uid " + std::to_string(u.uid) + ", inside [process] " +
                          "worker_uid_range " + std::to_string(worker_first) + ".." +
                          std::to_string(worker_last) +
                          "; a worker could then signal and read the daemon: use a system "
                          "user outside the range",
                      "server.user");
  }
  if (worker_gid && u.gid == *worker_gid) {
    return make_error("invalid_daemon_user",
                      who + " has primary group " + std::to_string(u.gid) +
                          ", the workers' [process] worker_gid; workers could read the daemon's "
                          "group-readable files (the tokens file): give it its own group",
                      "server.user");
  }
  return {};
}

Result<DaemonUser> lookup_daemon_user(const std::string& name) {
  if (name.empty()) return how_to_create(name);
  std::vector<char> buf(4096);
  for (;;) {
    struct passwd pw {};
    struct passwd* found = nullptr;
    const int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc == ERANGE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc != 0) return errno_error("getpwnam_r(" + name + ")", rc);
    if (found == nullptr) return how_to_create(name);
    return DaemonUser{name, pw.pw_uid, pw.pw_gid};
  }
}

Result<DaemonUser> lookup_daemon_user(const std::string& name, uid_t worker_first,
                                      uid_t worker_last, std::optional<gid_t> worker_gid) {
  auto u = lookup_daemon_user(name);
  if (!u) return u;
  if (auto r = check_daemon_user(*u, worker_first, worker_last, worker_gid); !r) return r.error();
  return u;
}

Result<DaemonUser> lookup_daemon_user(const config::Config& cfg) {
  return lookup_daemon_user(cfg.server.user, cfg.process.worker_uid_range_start,
                            cfg.process.worker_uid_range_end, cfg.process.worker_gid);
}

// ---- Pure rules -----------------------------------------------------------------------------

bool permits(mode_t mode, uid_t owner, gid_t group, uid_t uid, gid_t gid, unsigned want) {
  want &= 7;
  unsigned bits = 0;
  if (owner == uid) {
    bits = (mode >> 6) & 7;
  } else if (group == gid) {
    bits = (mode >> 3) & 7;
  } else {
    bits = mode & 7;
  }
  return (bits & want) == want;
}

bool readable_by(mode_t mode, uid_t owner, gid_t group, uid_t uid, gid_t gid) {
  return permits(mode, owner, group, uid, gid, 4);
}

bool is_shared_system_dir(const std::string& path) {
  static const std::vector<std::string_view> shared{
      "/",          "/bin",       "/boot",        "/dev",     "/etc",       "/home",
      "/lib",       "/lib32",     "/lib64",       "/libx32",  "/media",     "/mnt",
      "/opt",       "/proc",      "/root",        "/run",     "/sbin",      "/srv",
      "/sys",       "/tmp",       "/usr",         "/var",     "/run/user",  "/usr/local",
      "/var/lib",   "/var/log",   "/var/cache",   "/var/tmp", "/var/spool", "/var/mail",
      "/var/opt",   "/var/local", "/var/backups", "/var/run", "/var/lock",  "/run/lock",
      "/usr/share", "/usr/lib",   "/usr/libexec", "/usr/bin", "/usr/sbin"};
  const std::string n = normal(path);
  return std::find(shared.begin(), shared.end(), n) != shared.end();
}

std::vector<std::string> daemon_writable_dirs(const config::Config& cfg) {
  std::vector<std::string> candidates{cfg.process.state_dir, cfg.log.worker_log_dir};
  if (!cfg.log.audit_log.empty()) {
    candidates.push_back(std::filesystem::path(normal(cfg.log.audit_log)).parent_path().string());
  }
  candidates.push_back(cfg.bundles.dir);
  // Trees the workers' side owns stay root's: a daemon owning data_root's parent could swap
  // data_root for a symlink before the spawner creates a worker's directory in it.
  std::vector<std::string> keep_root{normal(cfg.process.data_root)};
  for (const auto& b : cfg.process.bundle_roots) keep_root.push_back(normal(b));
  std::vector<std::string> out;
  for (const auto& c : candidates) {
    if (c.empty()) continue;
    const std::string n = normal(c);
    if (std::any_of(keep_root.begin(), keep_root.end(),
                    [&](const std::string& k) { return is_at_or_above(n, k); })) {
      continue;
    }
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  return out;
}

// ---- Handing over ------------------------------------------------------------------------------

namespace {

Error refuse(const std::string& dir, const std::string& why) {
  return make_error("unsafe_path", "cannot hand " + dir + " over to the daemon's user: " + why,
                    dir);
}

/// The next component below `parent`, opened without following a symlink.
Result<UniqueFd> open_component(int parent, const std::string& name, const std::string& so_far) {
  const int fd = ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) return UniqueFd(fd);
  const int err = errno;
  if (err == ELOOP || err == ENOTDIR) {
    struct stat st {};
    if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
      return make_error("unsafe_path",
                        so_far +
                            " is a symlink; give the real path (symlinks are refused so "
                            "that no one can redirect what root hands over)",
                        so_far);
    }
  }
  return errno_error("openat(" + so_far + ", O_DIRECTORY|O_NOFOLLOW)", err);
}

Result<void> hand_over_dir(const std::string& given, const DaemonUser& u) {
  if (given.empty() || given[0] != '/') {
    return refuse(given, "not an absolute path");
  }
  const std::string dir = normal(given);
  if (dir == "/") return refuse(given, "it is the root directory");
  if (is_shared_system_dir(dir)) {
    return refuse(dir,
                  "it is a shared system directory; give the daemon a directory of its own "
                  "below it (for example " +
                      dir + "/paddock)");
  }
  UniqueFd cur(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cur) return errno_error("open(/)", errno);
  const auto parts = components(dir);
  std::string so_far;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const bool last = i + 1 == parts.size();
    struct stat pst {};
    if (::fstat(cur.get(), &pst) != 0) return errno_error("fstat(" + so_far + "/)", errno);
    const std::string parent = so_far.empty() ? "/" : so_far;
    if (!permits(pst.st_mode, pst.st_uid, pst.st_gid, u.uid, u.gid, 1)) {
      return refuse(dir, parent + " (mode " + octal(pst.st_mode) + ", owner uid " +
                             std::to_string(pst.st_uid) + ") is not searchable by " + u.name +
                             ", so the daemon could not reach " + dir +
                             " after dropping to it: run 'chmod o+x " + parent +
                             "' or choose a directory elsewhere");
    }
    so_far += "/" + parts[i];
    bool created = false;
    auto next = open_component(cur.get(), parts[i], so_far);
    if (!next && next.error().code == "ENOENT") {
      const mode_t mode = last ? 0750 : 0755;
      if (::mkdirat(cur.get(), parts[i].c_str(), mode) != 0 && errno != EEXIST) {
        return errno_error("mkdirat(" + so_far + ", " + octal(mode) + ")", errno);
      }
      next = open_component(cur.get(), parts[i], so_far);
      if (next) {
        created = true;
        // The mode asked for, whatever the umask (the unit's is 0077).
        if (::fchmod(next->get(), mode) != 0) {
          return errno_error("fchmod(" + so_far + ", " + octal(mode) + ")", errno);
        }
      }
    }
    if (!next) return next.error();
    cur = std::move(*next);
    if (!last) continue;
    struct stat st {};
    if (::fstat(cur.get(), &st) != 0) return errno_error("fstat(" + dir + ")", errno);
    if (st.st_uid != 0 && st.st_uid != u.uid) {
      return refuse(dir, "it is owned by uid " + std::to_string(st.st_uid) + ", neither root nor " +
                             u.name + "; choose a directory of the daemon's own, or chown it to " +
                             u.name + " yourself");
    }
    if ((st.st_mode & S_ISVTX) != 0) {
      return refuse(dir, "it has the sticky bit (mode " + octal(st.st_mode) +
                             "), the mark of a directory shared by many users");
    }
    const gid_t group = created ? u.gid : static_cast<gid_t>(-1);
    if (::fchown(cur.get(), u.uid, group) != 0) {
      return errno_error("fchown(" + dir + ", " + std::to_string(u.uid) + ")", errno);
    }
  }
  return {};
}

}  // namespace

Result<void> hand_over_paths(const std::vector<std::string>& dirs, const DaemonUser& u) {
  // Parents before children ("/a" sorts before "/a/b"): a directory that is both handed over
  // and the parent of another is created with its own mode, not as a plain parent.
  std::vector<std::string> sorted;
  for (const auto& d : dirs) sorted.push_back(d.empty() || d[0] != '/' ? d : normal(d));
  std::sort(sorted.begin(), sorted.end());
  for (const auto& d : sorted) {
    if (auto r = hand_over_dir(d, u); !r) return r;
  }
  return {};
}

Result<void> hand_over_file(const std::string& file, const DaemonUser& u) {
  if (file.empty()) return {};
  if (file[0] != '/') return refuse(file, "not an absolute path");
  auto fd = util::open_no_symlinks(normal(file), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (!fd) {
    if (fd.error().code == "ENOENT") return {};
    return fd.error();
  }
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return errno_error("fstat(" + file + ")", errno);
  if (!S_ISREG(st.st_mode)) return refuse(file, "it is not a regular file");
  if (st.st_uid != 0 && st.st_uid != u.uid) {
    return refuse(
        file, "it is owned by uid " + std::to_string(st.st_uid) + ", neither root nor " + u.name);
  }
  if (st.st_nlink != 1) {
    return refuse(file, "it has " + std::to_string(st.st_nlink) +
                            " hard links; another name for the same file could be a system "
                            "file: move it away and let the daemon create a new one");
  }
  if (st.st_uid == u.uid) return {};
  if (::fchown(fd->get(), u.uid, static_cast<gid_t>(-1)) != 0) {
    return errno_error("fchown(" + file + ", " + std::to_string(u.uid) + ")", errno);
  }
  return {};
}

Result<void> check_readable_by(const std::string& file, const DaemonUser& u) {
  if (file.empty()) return {};
  const std::string path = normal(file);
  // Every parent must be searchable (stat follows symlinks, as the daemon's own open will).
  std::vector<std::string> parents{"/"};
  const auto parts = components(path);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    parents.push_back((parents.size() == 1 ? "" : parents.back()) + "/" + parts[i]);
  }
  for (const auto& dir : parents) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
      if (errno == ENOENT) return {};
      return errno_error("stat(" + dir + ")", errno);
    }
    if (!permits(st.st_mode, st.st_uid, st.st_gid, u.uid, u.gid, 1)) {
      return make_error(
          "unreadable_by_daemon",
          dir + " (mode " + octal(st.st_mode) + ", owner uid " + std::to_string(st.st_uid) +
              ") is not searchable by " + u.name + ", so the daemon cannot read " + path +
              " after dropping to it: run 'chmod o+x " + dir + "' or keep the file elsewhere",
          path);
    }
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return errno_error("stat(" + path + ")", errno);
  }
  if (!readable_by(st.st_mode, st.st_uid, st.st_gid, u.uid, u.gid)) {
    return make_error("unreadable_by_daemon",
                      path + " (mode " + octal(st.st_mode) + ", owner uid " +
                          std::to_string(st.st_uid) + ", group " + std::to_string(st.st_gid) +
                          ") cannot be read by " + u.name + ", the daemon's user: run 'chgrp " +
                          u.name + " " + path + " && chmod 0640 " + path + "'",
                      path);
  }
  return {};
}

Result<void> prepare_daemon_files(const config::Config& cfg, const DaemonUser& u) {
  if (auto r = hand_over_paths(daemon_writable_dirs(cfg), u); !r) return r;
  if (auto r = hand_over_file(cfg.log.audit_log, u); !r) return r;
  return check_readable_by(cfg.server.token_file, u);
}

// ---- The drop ---------------------------------------------------------------------------------

namespace {

Error step_failed(const std::string& step, int err) {
  Error e = errno_error(step, err);
  e.message = "dropping privileges failed at " + e.message;
  return e;
}

Error check_failed(const std::string& what) {
  return make_error("privilege_drop", "dropping privileges did not hold: " + what);
}

int last_cap() {
  const std::string text = util::read_small_file("/proc/sys/kernel/cap_last_cap");
  int n = -1;
  if (std::sscanf(text.c_str(), "%d", &n) == 1 && n >= 0 && n < 64) return n;
  return CAP_LAST_CAP;
}

/// The "Threads:" count of /proc/self/status (0 when unreadable).
int thread_count() {
  const std::string status = util::read_small_file("/proc/self/status");
  const auto at = status.find("\nThreads:");
  if (at == std::string::npos) return 0;
  int n = 0;
  std::sscanf(status.c_str() + at + 9, "%d", &n);
  return n;
}

struct CapSets {
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
};

bool get_caps(CapSets& out) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  return ::syscall(SYS_capget, &hdr, out.data) == 0;
}

}  // namespace

Result<void> drop_privileges(const DaemonUser& u) {
  if (u.uid == 0 || u.gid == 0) {
    return make_error("invalid_daemon_user", "refusing to drop to uid/gid 0 ('" + u.name + "')");
  }
  if (const int n = thread_count(); n != 1) {
    return make_error("privilege_drop",
                      "drop_privileges needs a single-threaded process (the bounding set and "
                      "no_new_privs are per thread); this one has " +
                          std::to_string(n) + " threads");
  }
  const int top = last_cap();
  for (int cap = 0; cap <= top; ++cap) {
    const int in_set = ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (in_set < 0) {
      if (errno == EINVAL) continue;  // not known to this kernel
      return step_failed("prctl(PR_CAPBSET_READ, " + std::to_string(cap) + ")", errno);
    }
    if (in_set == 0) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      Error e = step_failed("prctl(PR_CAPBSET_DROP, " + std::to_string(cap) + ")", errno);
      e.message +=
          "; emptying the bounding set needs CAP_SETPCAP (the unit's CapabilityBoundingSet "
          "must keep it)";
      return e;
    }
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
    return step_failed("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", errno);
  }
  const gid_t groups[1] = {u.gid};
  if (::setgroups(1, groups) != 0) {
    return step_failed("setgroups({" + std::to_string(u.gid) + "})", errno);
  }
  if (::setresgid(u.gid, u.gid, u.gid) != 0) {
    return step_failed("setresgid(" + std::to_string(u.gid) + ")", errno);
  }
  if (::setresuid(u.uid, u.uid, u.uid) != 0) {
    return step_failed("setresuid(" + std::to_string(u.uid) + ")", errno);
  }
  // The kernel clears the sets when every UID leaves 0, unless SECBIT_NO_SETUID_FIXUP was set;
  // clearing them explicitly covers that case too (lowering capabilities is always allowed).
  {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    CapSets none;
    if (::syscall(SYS_capset, &hdr, none.data) != 0) return step_failed("capset(empty)", errno);
  }

  // Verify, never trust.
  uid_t ru = 0, eu = 0, su = 0;
  gid_t rg = 0, eg = 0, sg = 0;
  if (::getresuid(&ru, &eu, &su) != 0) return step_failed("getresuid", errno);
  if (::getresgid(&rg, &eg, &sg) != 0) return step_failed("getresgid", errno);
  if (ru != u.uid || eu != u.uid || su != u.uid) {
    return check_failed("getresuid is " + std::to_string(ru) + "/" + std::to_string(eu) + "/" +
                        std::to_string(su) + ", not " + std::to_string(u.uid));
  }
  if (rg != u.gid || eg != u.gid || sg != u.gid) {
    return check_failed("getresgid is " + std::to_string(rg) + "/" + std::to_string(eg) + "/" +
                        std::to_string(sg) + ", not " + std::to_string(u.gid));
  }
  gid_t now[4] = {};
  const int ng = ::getgroups(4, now);
  if (ng < 0 || ng > 1 || (ng == 1 && now[0] != u.gid)) {
    return check_failed("supplementary groups are not just " + std::to_string(u.gid));
  }
  if (::setuid(0) == 0) return check_failed("setuid(0) succeeded");
  if (::setgid(0) == 0) return check_failed("setgid(0) succeeded");
  CapSets caps;
  if (!get_caps(caps)) return step_failed("capget", errno);
  for (const auto& d : caps.data) {
    if (d.effective != 0 || d.permitted != 0 || d.inheritable != 0) {
      return check_failed("capget shows capabilities left (effective/permitted/inheritable)");
    }
  }
  for (int cap = 0; cap <= top; ++cap) {
    if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) > 0) {
      return check_failed("capability " + std::to_string(cap) + " is still in the bounding set");
    }
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return step_failed("prctl(PR_SET_NO_NEW_PRIVS)", errno);
  }
  return {};
}

// ---- The daemon's seccomp filter ---------------------------------------------------------------

const std::vector<DeniedSyscalls>& daemon_seccomp_denylist() {
  // A deny list, not an allow list: the daemon's needs (sockets, accept4, epoll, timerfd,
  // eventfd, SCM_RIGHTS, openat, renameat2, unlinkat, mkdirat, fchmod, getdents64, pidfd_open,
  // futex, mmap, kill/tgkill of itself, ...) stay allowed without a list that rots. execve
  // stays allowed on purpose (an in-place re-exec on upgrade): no_new_privs makes setuid and
  // file-capability binaries harmless, and the filter is inherited by whatever is executed.
  static const std::vector<DeniedSyscalls> list{
      {"inspecting or tampering with other processes",
       {"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
        "process_madvise"},
       EPERM},
      {"mounts and file system views",
       {"mount", "umount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
        "fsmount", "fsconfig", "fspick", "mount_setattr"},
       EPERM},
      {"namespaces (clone with CLONE_NEW* is denied by an argument rule)",
       {"setns", "unshare"},
       EPERM},
      {"new threads use clone: ENOSYS makes glibc fall back to it, whose flags the filter can see",
       {"clone3"},
       ENOSYS},
      {"kernel attack surface the daemon never uses",
       {"bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
        "io_uring_register", "keyctl", "add_key", "request_key", "memfd_secret"},
       EPERM},
      {"kernel modules, kexec and reboot",
       {"init_module", "finit_module", "delete_module", "create_module", "kexec_load",
        "kexec_file_load", "reboot"},
       EPERM},
      {"host administration",
       {"swapon",      "swapoff",        "acct",        "settimeofday",  "clock_settime",
        "adjtimex",    "clock_adjtime",  "sethostname", "setdomainname", "quotactl",
        "quotactl_fd", "syslog",         "vhangup",     "iopl",          "ioperm",
        "personality", "lookup_dcookie", "nfsservctl",  "_sysctl",       "uselib",
        "ustat",       "sysfs",          "mknod",       "mknodat",       "fanotify_init"},
       EPERM},
      {"file handles that bypass path permissions",
       {"open_by_handle_at", "name_to_handle_at"},
       EPERM},
      {"identity and capabilities: the drop is final",
       {"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
        "setfsuid", "setfsgid", "capset"},
       EPERM},
  };
  return list;
}

namespace {

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

// CLONE_NEWNS|CLONE_NEWCGROUP|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET
// (0x7E020000). CLONE_NEWTIME (0x80) exists only for clone3 and unshare, both denied: in
// clone()'s flags that bit belongs to the exit signal.
constexpr std::uint64_t kCloneNewFlags[] = {0x00020000, 0x02000000, 0x04000000, 0x08000000,
                                            0x10000000, 0x20000000, 0x40000000};

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PADDOCK_PRIVSEP_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(PADDOCK_PRIVSEP_ASAN)
constexpr bool kSanitizerBuild = true;
#else
constexpr bool kSanitizerBuild = false;
#endif

/// LeakSanitizer stops the world with ptrace (its tracer attaches to every thread) when the
/// process exits; in an ASan build the filter leaves ptrace allowed so the leak check still
/// runs. The drop alone already keeps ptrace to the daemon's own UID.
bool kept_for_sanitizer(std::string_view name) { return kSanitizerBuild && name == "ptrace"; }

}  // namespace

Result<void> install_daemon_seccomp() {
  std::unique_ptr<void, CtxDeleter> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return make_error("seccomp", "seccomp_init failed");
  if (const int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1); rc != 0) {
    return step_failed("seccomp_attr_set(SCMP_FLTATR_CTL_TSYNC)", -rc);
  }
  for (const auto& group : daemon_seccomp_denylist()) {
    for (const char* name : group.names) {
      const int nr = seccomp_syscall_resolve_name(name);
      // Unknown to this libseccomp (__NR_SCMP_ERROR) or absent on this architecture (a
      // negative pseudo number): nothing to deny.
      if (nr < 0 || kept_for_sanitizer(name)) continue;
      const int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(group.err), nr, 0);
      if (rc != 0) {
        return step_failed(std::string("seccomp_rule_add(") + name + ")", -rc);
      }
    }
  }
#if defined(__s390__) || defined(__s390x__)
  constexpr unsigned kFlagsArg = 1;  // clone(stack, flags, ...) on s390
#else
  constexpr unsigned kFlagsArg = 0;
#endif
  for (const std::uint64_t bit : kCloneNewFlags) {
    const scmp_arg_cmp cmp{kFlagsArg, SCMP_CMP_MASKED_EQ, bit, bit};
    const int rc =
        seccomp_rule_add_array(ctx.get(), SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, &cmp);
    if (rc != 0) return step_failed("seccomp_rule_add(clone & CLONE_NEW*)", -rc);
  }
  if (const int rc = seccomp_load(ctx.get()); rc != 0) {
    return step_failed("seccomp_load (daemon filter)", -rc);
  }
  return {};
}

namespace {

// nftw's callback takes no context; hand_over_tree runs once, single-threaded, before the drop.
uid_t tree_uid = 0;
gid_t tree_gid = 0;
std::size_t tree_changed = 0;
int tree_error = 0;

int hand_over_entry(const char* path, const struct stat* st, int type, FTW* where) {
  if (where->level == 0 || st->st_uid != 0) return 0;  // the top itself, or not root's
  if (type == FTW_SL || type == FTW_SLN) return 0;     // never through a symlink
  if (type == FTW_F && (!S_ISREG(st->st_mode) || st->st_nlink > 1)) return 0;
  if (::lchown(path, tree_uid, tree_gid) != 0) {
    tree_error = errno;
    return 1;
  }
  ++tree_changed;
  return 0;
}

}  // namespace

Result<std::size_t> hand_over_tree(const std::string& dir, const DaemonUser& u) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::size_t{0};
    return util::errno_error("lstat(" + dir + ")", errno);
  }
  if (!S_ISDIR(st.st_mode)) return make_error("unsafe_path", dir + " is not a directory", dir);
  tree_uid = u.uid;
  tree_gid = u.gid;
  tree_changed = 0;
  tree_error = 0;
  if (::nftw(dir.c_str(), hand_over_entry, 16, FTW_PHYS | FTW_MOUNT) != 0) {
    return util::errno_error("handing " + dir + " over to " + u.name,
                             tree_error ? tree_error : errno);
  }
  return tree_changed;
}

}  // namespace paddock::privsep
