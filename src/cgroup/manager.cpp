#include "paddock/cgroup/manager.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <sstream>
#include <thread>
#include <vector>

#include "paddock/sandbox/paths.hpp"

namespace paddock::cgroup {

namespace {

Error sys(const std::string& call, int err) {
  Error e = util::errno_error(call, err);
  e.code = "cgroup_failed";
  return e;
}

/// Writes `text` with one write(2), as cgroupfs wants. O_CREAT|O_TRUNC behave like a shell's
/// `echo x > file` on cgroupfs and create the file in a fixture directory.
Result<void> write_file(const std::string& path, const std::string& text) {
  util::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return sys("open(" + path + ")", errno);
  ssize_t n;
  do {
    n = ::write(fd.get(), text.data(), text.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return sys("write(" + path + ", \"" + text + "\")", errno);
  if (static_cast<std::size_t>(n) != text.size()) {
    return make_error("cgroup_failed", "short write to " + path);
  }
  return {};
}

Result<void> make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return sys("mkdir(" + path + ")", errno);
  }
  return {};
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

Controllers intersect(const Controllers& a, const Controllers& b) {
  return {a.memory && b.memory, a.cpu && b.cpu, a.pids && b.pids};
}

/// Enables `want` in <dir>/cgroup.subtree_control (all at once, else one by one) and returns
/// what the file says is enabled afterwards. Refusals are appended to `warning`.
Controllers enable(const std::string& dir, const Controllers& want, std::string& warning) {
  if (!want.any()) return {};
  const std::string file = dir + "/cgroup.subtree_control";
  if (!write_file(file, enable_line(want))) {
    for (auto [on, name] : {std::pair{want.memory, "memory"}, std::pair{want.cpu, "cpu"},
                            std::pair{want.pids, "pids"}}) {
      if (!on) continue;
      if (auto r = write_file(file, std::string("+") + name); !r) {
        if (!warning.empty()) warning += "; ";
        warning += r.error().message;
      }
    }
  }
  return intersect(parse_controllers(util::read_small_file(file)), want);
}

}  // namespace

Manager::Manager(std::string own, Controllers enabled, bool has_kill)
    : own_(std::move(own)), workers_(own_ + "/workers"), enabled_(enabled), has_kill_(has_kill) {}

Result<void> Manager::check_writable(const std::string& own_dir) {
  struct stat st {};
  if (own_dir.empty() || ::stat(own_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return make_error("not_found", "the daemon's cgroup directory '" + own_dir +
                                       "' does not exist; is cgroup2 mounted?");
  }
  for (const std::string& p :
       {own_dir, own_dir + "/cgroup.procs", own_dir + "/cgroup.subtree_control"}) {
    if (::faccessat(AT_FDCWD, p.c_str(), W_OK, AT_EACCESS) != 0) {
      return make_error("not_writable",
                        util::syscall_error("access(" + p + ", W_OK)", errno) +
                            "; run paddockd under systemd with Delegate=yes so it owns its cgroup, "
                            "or set [process] cgroup = \"off\"");
    }
  }
  return {};
}

Result<std::unique_ptr<Manager>> Manager::setup(const std::string& own_dir, pid_t self,
                                                SetupReport* report) {
  SetupReport local;
  SetupReport& rep = report != nullptr ? *report : local;
  rep = SetupReport{};
  if (auto r = check_writable(own_dir); !r) return r.error();
  if (auto r = make_dir(own_dir + "/daemon"); !r) return r.error();
  if (self > 0) {
    if (auto r = write_file(own_dir + "/daemon/cgroup.procs", std::to_string(self)); !r) {
      return r.error();
    }
    rep.moved_self = true;
  }
  rep.available = parse_controllers(util::read_small_file(own_dir + "/cgroup.controllers"));
  const Controllers at_own = enable(own_dir, rep.available, rep.warning);
  const std::string workers = own_dir + "/workers";
  if (auto r = make_dir(workers); !r) return r.error();
  rep.enabled = enable(workers, at_own, rep.warning);
  if (!rep.warning.empty()) {
    rep.warning += "; other processes left in " + own_dir +
                   " block enabling controllers (cgroup v2 lets only leaves hold processes)";
  }
  rep.has_kill = exists(workers + "/cgroup.kill");
  return std::unique_ptr<Manager>(new Manager(own_dir, rep.enabled, rep.has_kill));
}

std::string Manager::leaf_path(const std::string& worker_id) const {
  return workers_ + "/" + worker_id;
}

Result<std::vector<pid_t>> Manager::procs(const std::string& worker_id) const {
  // A leaf's pids are a few lines; more than 1 MiB is an error, not a list.
  auto text = util::read_file_no_symlinks(leaf_path(worker_id) + "/cgroup.procs", 1 << 20);
  if (!text) return text.error();
  std::vector<pid_t> out;
  std::istringstream in(*text);
  for (long pid = 0; in >> pid;) out.push_back(static_cast<pid_t>(pid));
  return out;
}

Result<Leaf> Manager::create_leaf(const std::string& worker_id, const sandbox::Limits& limits) {
  if (!sandbox::is_plain_name(worker_id)) {
    return make_error("cgroup_failed", "'" + worker_id + "' is not a valid cgroup leaf name");
  }
  Leaf leaf;
  leaf.path = leaf_path(worker_id);
  leaf.controllers = enabled_;
  if (::mkdir(leaf.path.c_str(), 0755) != 0) {
    if (errno != EEXIST) return sys("mkdir(" + leaf.path + ")", errno);
    // Left by this worker's previous process tree (ids are never reused, so nobody else's).
    // That tree was killed and reaped, but its last processes (the sandbox's init) may still be
    // exiting: kill what is left and wait for it, bounded, before refusing to share. The old
    // leaf is then removed and made anew, never reused: a leaf that was ever killed through
    // cgroup.kill kills every process later cloned into it with CLONE_INTO_CGROUP on kernels
    // that compare the cloning parent's kill count with the leaf's (seen on 6.18).
    const auto populated = [&] {
      return util::read_small_file(leaf.path + "/cgroup.procs").find_first_not_of(" \n") !=
             std::string::npos;
    };
    bool removed = false;
    for (int i = 0; i < 100; ++i) {
      if (populated()) {
        if (has_kill_ && i % 10 == 0) (void)write_file(leaf.path + "/cgroup.kill", "1");
      } else if (auto r = remove_leaf(worker_id); r) {
        removed = true;
        break;
      } else if (r.error().code != "busy") {
        return r.error();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!removed) {
      return make_error("cgroup_failed", "the cgroup " + leaf.path +
                                             " already holds processes; refusing to share it");
    }
    if (::mkdir(leaf.path.c_str(), 0755) != 0) return sys("mkdir(" + leaf.path + ")", errno);
  }
  auto fail = [&](Error e) -> Result<Leaf> {
    (void)remove_leaf(worker_id);
    return e;
  };
  leaf.dir.reset(::open(leaf.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!leaf.dir) return fail(sys("open(" + leaf.path + ", O_DIRECTORY)", errno));
  if (enabled_.memory) {
    if (auto r = write_file(leaf.path + "/memory.max", memory_max_value(limits)); !r) {
      return fail(r.error());
    }
    // Absent when the kernel does not account swap; then there is no swap to limit.
    (void)write_file(leaf.path + "/memory.swap.max", "0");
  }
  if (enabled_.cpu) {
    if (auto r = write_file(leaf.path + "/cpu.max", cpu_max_value(limits)); !r) {
      return fail(r.error());
    }
  }
  if (enabled_.pids) {
    if (auto r = write_file(leaf.path + "/pids.max", pids_max_value(limits)); !r) {
      return fail(r.error());
    }
  }
  return leaf;
}

Result<void> Manager::kill(const std::string& worker_id) {
  if (!has_kill_) {
    return make_error("unsupported", "cgroup.kill needs Linux 5.14 or newer");
  }
  return write_file(leaf_path(worker_id) + "/cgroup.kill", "1");
}

Result<void> Manager::remove_leaf(const std::string& worker_id) {
  const std::string path = leaf_path(worker_id);
  if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return {};
  const int err = errno;
  if (err == EBUSY) {
    return make_error("busy", util::syscall_error("rmdir(" + path + ")", err));
  }
  struct statfs fs {};
  if (err == ENOTEMPTY && ::statfs(path.c_str(), &fs) == 0 &&
      fs.f_type != static_cast<decltype(fs.f_type)>(CGROUP2_SUPER_MAGIC)) {
    // A plain directory standing in for cgroupfs: its "interface files" are real files.
    if (DIR* d = ::opendir(path.c_str())) {
      while (dirent* e = ::readdir(d)) {
        if (e->d_type == DT_REG) ::unlinkat(::dirfd(d), e->d_name, 0);
      }
      ::closedir(d);
    }
    if (::rmdir(path.c_str()) == 0) return {};
  }
  return sys("rmdir(" + path + ")", err);
}

Usage Manager::usage(const std::string& worker_id) const {
  return read_usage(leaf_path(worker_id), enabled_);
}

std::optional<std::uint64_t> Manager::oom_kills(const std::string& worker_id) const {
  return flat_keyed_value(util::read_small_file(leaf_path(worker_id) + "/memory.events"),
                          "oom_kill");
}

Usage read_usage(const std::string& leaf, const Controllers& on) {
  Usage u;
  auto read = [&](const char* name) { return util::read_small_file(leaf + "/" + name); };
  // A controller's files exist only where it is enabled: not opening the others saves two
  // thirds of a pass over every leaf on a host without them.
  if (on.memory) {
    u.memory_bytes = single_value(read("memory.current"));
    u.oom_kills = flat_keyed_value(read("memory.events"), "oom_kill");
  }
  u.cpu_usec = flat_keyed_value(read("cpu.stat"), "usage_usec");  // in every cgroup v2 leaf
  if (on.pids) u.pids = single_value(read("pids.current"));
  return u;
}

std::size_t Manager::remove_empty_leaves() {
  std::size_t removed = 0;
  DIR* d = ::opendir(workers_.c_str());
  if (d == nullptr) return 0;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (e->d_type == DT_DIR && name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  for (const auto& n : names) {
    if (::rmdir((workers_ + "/" + n).c_str()) == 0) ++removed;
  }
  return removed;
}

}  // namespace paddock::cgroup
