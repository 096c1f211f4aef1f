#include "paddock/runfiles/runfiles.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>
#include <utility>

namespace paddock::runfiles {

using util::UniqueFd;

namespace {

std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const auto slash = path.find('/', start);
    out.push_back(path.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

/// "" when `path` is a usable relative path (or pattern), else why not.
std::string path_problem(std::string_view path, const Caps& caps) {
  if (path.empty()) return "is empty";
  if (path.size() > caps.max_path_length) {
    return "is longer than " + std::to_string(caps.max_path_length) + " bytes";
  }
  if (path.find('\0') != std::string_view::npos) return "contains a NUL byte";
  if (path.front() == '/') return "is absolute; give a path relative to the working directory";
  const auto parts = split(path);
  if (parts.size() > caps.max_depth) {
    return "is deeper than " + std::to_string(caps.max_depth) + " components";
  }
  for (auto p : parts) {
    if (p.empty()) return "has an empty component";
    if (p == "..") return "has a '..' component";
    if (p == ".") return "has a '.' component";
  }
  return "";
}

Error sys(const std::string& what, int err) {
  return make_error("io", what + ": " + util::errno_name(err));
}

Result<void> write_all(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys("write(" + what + ")", errno);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

/// Switches the calling thread's filesystem UID/GID for its lifetime (only when root).
class FsIds {
 public:
  FsIds(uid_t uid, gid_t gid) : active_(::geteuid() == 0) {
    if (!active_) return;
    ::setfsgid(gid);
    ::setfsuid(uid);
  }
  ~FsIds() {
    if (!active_) return;
    ::setfsuid(0);
    ::setfsgid(0);
  }
  FsIds(const FsIds&) = delete;
  FsIds& operator=(const FsIds&) = delete;

 private:
  bool active_;
};

/// The names in a directory (without . and ..), sorted.
std::vector<std::string> list_dir(int dirfd) {
  std::vector<std::string> names;
  const int dup = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0) return names;
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    return names;
  }
  while (const dirent* e = ::readdir(d)) {
    const std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

struct Walk {
  const Caps& caps;
  Budget budget;
  std::vector<Collected> out;
  std::set<std::string> seen;
  bool full = false;

  bool room() {
    if (out.size() < caps.max_collect_entries) return true;
    if (!full) {
      full = true;
      Collected c;
      c.error = "more than " + std::to_string(caps.max_collect_entries) +
                " entries; the rest were not collected";
      out.push_back(std::move(c));
    }
    return false;
  }

  void error(const std::string& pattern, const std::string& path, std::string why) {
    if (!room()) return;
    Collected c;
    c.pattern = pattern;
    c.path = path;
    c.error = std::move(why);
    out.push_back(std::move(c));
  }

  void file(int dirfd, const std::string& name, const std::string& rel,
            const std::string& pattern) {
    if (!seen.insert(rel).second) return;
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      error(pattern, rel, "cannot stat: " + util::errno_name(errno));
      return;
    }
    if (S_ISLNK(st.st_mode)) {
      error(pattern, rel, "a symlink; symlinks are not followed");
      return;
    }
    if (!S_ISREG(st.st_mode)) {
      error(pattern, rel, "not a regular file");
      return;
    }
    UniqueFd fd(
        ::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!fd) {
      error(pattern, rel, "cannot open: " + util::errno_name(errno));
      return;
    }
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      error(pattern, rel, "not a regular file");
      return;
    }
    if (!room()) return;
    Collected c;
    c.pattern = pattern;
    c.path = rel;
    c.size = static_cast<std::uint64_t>(st.st_size);
    const std::uint64_t want = budget.take(c.size);
    c.content.resize(want);
    std::size_t got = 0;
    while (got < want) {
      const ssize_t n = ::read(fd.get(), c.content.data() + got, want - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    c.content.resize(got);
    c.truncated = got < c.size;
    out.push_back(std::move(c));
  }

  /// Matches parts[i..] below dirfd (whose relative path is `prefix`); returns the matches.
  std::size_t match(int dirfd, const std::vector<std::string_view>& parts, std::size_t i,
                    const std::string& prefix, const std::string& pattern) {
    std::size_t matched = 0;
    const bool last = i + 1 == parts.size();
    for (const auto& name : list_dir(dirfd)) {
      if (full) break;
      if (!component_matches(parts[i], name)) continue;
      const std::string rel = prefix.empty() ? name : prefix + "/" + name;
      if (last) {
        ++matched;
        file(dirfd, name, rel, pattern);
        continue;
      }
      struct stat st {};
      if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (!S_ISDIR(st.st_mode)) {
        // A literal component that is no directory is worth an error; a glob just skips it.
        if (!has_magic(parts[i])) {
          error(pattern, rel,
                S_ISLNK(st.st_mode) ? "a symlink; symlinks are not followed" : "not a directory");
        }
        continue;
      }
      UniqueFd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) {
        error(pattern, rel, "cannot open the directory: " + util::errno_name(errno));
        continue;
      }
      matched += match(sub.get(), parts, i + 1, rel, pattern);
    }
    return matched;
  }
};

}  // namespace

Caps caps_from(const config::RunsConfig& runs) {
  Caps c;
  c.max_files = runs.max_files;
  c.max_files_bytes = runs.max_files_bytes;
  c.collect_file_bytes = runs.collect_file_bytes;
  c.collect_total_bytes = runs.collect_total_bytes;
  return c;
}

Result<std::string> check_relative_path(std::string_view path, const Caps& caps) {
  if (auto why = path_problem(path, caps); !why.empty()) {
    return make_error("invalid_field", "path '" + std::string(path.substr(0, 128)) + "' " + why);
  }
  return std::string(path);
}

Result<void> check_inputs(const std::vector<InputFile>& files, const Caps& caps) {
  if (files.size() > caps.max_files) {
    return make_error("files_limit",
                      "files has " + std::to_string(files.size()) + " entries; the limit is " +
                          std::to_string(caps.max_files) + " ([runs] max_files)",
                      "files");
  }
  std::uint64_t total = 0;
  std::set<std::string> paths;
  std::set<std::string> dirs;
  for (const auto& f : files) {
    const std::string field = "files." + f.path.substr(0, 128);
    if (auto p = check_relative_path(f.path, caps); !p) {
      Error e = p.error();
      e.field = field;
      return e;
    }
    total += f.content.size();
    if (total > caps.max_files_bytes) {
      return make_error("files_limit",
                        "the files together are larger than " +
                            std::to_string(caps.max_files_bytes) +
                            " bytes ([runs] max_files_bytes)",
                        "files");
    }
    if (!paths.insert(f.path).second) {
      return make_error("invalid_field", "path '" + f.path + "' is given twice", field);
    }
    for (auto slash = f.path.find('/'); slash != std::string::npos;
         slash = f.path.find('/', slash + 1)) {
      dirs.insert(f.path.substr(0, slash));
    }
  }
  for (const auto& d : dirs) {
    if (paths.count(d) != 0) {
      return make_error("invalid_field", "path '" + d + "' is both a file and a directory",
                        "files." + d.substr(0, 128));
    }
  }
  return {};
}

std::string pattern_problem(std::string_view pattern, const Caps& caps) {
  return path_problem(pattern, caps);
}

bool component_matches(std::string_view pattern, std::string_view name) {
  const std::string p(pattern);
  const std::string n(name);
  return ::fnmatch(p.c_str(), n.c_str(), FNM_PERIOD) == 0;
}

bool has_magic(std::string_view component) {
  return component.find_first_of("*?[\\") != std::string_view::npos;
}

std::uint64_t Budget::take(std::uint64_t size) {
  const std::uint64_t n = std::min({size, per_file_, left_});
  left_ -= n;
  return n;
}

namespace {

/// Creates the file `rel` below `root` (parents 0755 with mkdirat; nothing followed), writes
/// `content`, mode 0644; owned by `owner` when given. Only with `replace` may it exist already
/// (a regular file; it is truncated).
Result<UniqueFd> create_below(int root, std::string_view rel, std::string_view content,
                              bool replace, std::optional<std::pair<uid_t, gid_t>> owner) {
  const auto parts = split(rel);
  UniqueFd parent(::fcntl(root, F_DUPFD_CLOEXEC, 3));
  if (!parent) return sys("dup", errno);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::string name(parts[i]);
    const bool made = ::mkdirat(parent.get(), name.c_str(), 0755) == 0;
    if (!made && errno != EEXIST) return sys("mkdir " + name, errno);
    UniqueFd sub(
        ::openat(parent.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) return sys("open directory " + name, errno);
    if (made && owner &&
        (::fchmod(sub.get(), 0755) != 0 || ::fchown(sub.get(), owner->first, owner->second) != 0)) {
      return sys("fchown " + name, errno);
    }
    parent = std::move(sub);
  }
  const std::string name(parts.back());
  const int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC |
                    (replace ? O_TRUNC : O_EXCL);
  UniqueFd fd(::openat(parent.get(), name.c_str(), flags, 0644));
  if (!fd) return sys("create " + std::string(rel), errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return make_error("io", std::string(rel) + " exists and is not a regular file");
  }
  if (auto w = write_all(fd.get(), content, std::string(rel)); !w) return w.error();
  if (owner &&
      (::fchmod(fd.get(), 0644) != 0 || ::fchown(fd.get(), owner->first, owner->second) != 0)) {
    return sys("fchown " + std::string(rel), errno);
  }
  return fd;
}

}  // namespace

Result<void> write_below(int dirfd, std::string_view rel, std::string_view content, bool replace) {
  if (auto p = check_relative_path(rel, Caps{}); !p) return p.error();
  auto fd = create_below(dirfd, rel, content, replace, std::nullopt);
  if (!fd) return fd.error();
  return {};
}

Result<void> write_inputs(const std::string& dir, const std::vector<InputFile>& files, uid_t uid,
                          gid_t gid, const Caps& caps) {
  if (auto ok = check_inputs(files, caps); !ok) return ok.error();
  if (::mkdir(dir.c_str(), 0700) != 0) {
    // A run's working directory is always new: an existing one is not reused.
    return sys("mkdir(" + dir + ")", errno);
  }
  UniqueFd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root) return sys("open(" + dir + ")", errno);
  for (const auto& f : files) {
    auto fd = create_below(root.get(), f.path, f.content, false, std::make_pair(uid, gid));
    if (!fd) return fd.error();
  }
  // The directory itself last: until now nothing in it was the worker's.
  if (::fchmod(root.get(), 0700) != 0) return sys("fchmod(" + dir + ")", errno);
  if (::fchown(root.get(), uid, gid) != 0) return sys("fchown(" + dir + ")", errno);
  return {};
}

Result<void> write_inputs_as(const std::string& dir, const std::vector<InputFile>& files, uid_t uid,
                             gid_t gid, const Caps& caps) {
  if (auto ok = check_inputs(files, caps); !ok) return ok.error();
  // As the worker: its directory opens without DAC override, and what is made is its own.
  FsIds as_worker(uid, gid);
  UniqueFd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root) return sys("open(" + dir + ")", errno);
  for (const auto& f : files) {
    // Modes set as write_inputs sets them (whatever the umask); chown to itself is allowed.
    auto fd = create_below(root.get(), f.path, f.content, false, std::make_pair(uid, gid));
    if (!fd) return fd.error();
  }
  return {};
}

std::vector<Collected> collect(const std::string& dir, const std::vector<std::string>& patterns,
                               uid_t uid, gid_t gid, const Caps& caps) {
  Walk walk{caps, Budget(caps), {}, {}, false};
  UniqueFd root(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  FsIds as_worker(uid, gid);
  UniqueFd readable;
  if (root) readable.reset(::openat(root.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  for (const auto& pattern : patterns) {
    if (walk.full) break;
    if (auto why = pattern_problem(pattern, caps); !why.empty()) {
      walk.error(pattern, "", "pattern " + why);
      continue;
    }
    if (!readable) {
      walk.error(pattern, "", "the working directory cannot be read");
      continue;
    }
    const auto before = walk.out.size();
    const auto parts = split(pattern);
    const auto matched = walk.match(readable.get(), parts, 0, "", pattern);
    if (matched == 0 && walk.out.size() == before) {
      walk.error(pattern, "", has_magic(pattern) ? "matched nothing" : "no such file");
    }
  }
  return std::move(walk.out);
}

Result<UniqueFd> sealed_blob(std::string_view data) {
  UniqueFd fd(::memfd_create("paddock-files", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return sys("memfd_create", errno);
  if (auto w = write_all(fd.get(), data, "memfd"); !w) return w.error();
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) !=
      0) {
    return sys("fcntl(F_ADD_SEALS)", errno);
  }
  return fd;
}

Result<std::string> read_sealed_blob(int fd, std::uint64_t max_bytes) {
  const int seals = ::fcntl(fd, F_GET_SEALS);
  constexpr int kNeeded = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK;
  if (seals < 0 || (seals & kNeeded) != kNeeded) {
    return make_error("bad_message", "the files descriptor is not a sealed memfd");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return make_error("bad_message", "the files descriptor is not a regular memfd");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > max_bytes) {
    return make_error("bad_message", "the files descriptor holds " + std::to_string(size) +
                                         " bytes; the limit is " + std::to_string(max_bytes));
  }
  std::string out(size, '\0');
  std::size_t got = 0;
  while (got < size) {
    const ssize_t n = ::pread(fd, out.data() + got, size - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return sys("pread(memfd)", n < 0 ? errno : EIO);
    got += static_cast<std::size_t>(n);
  }
  return out;
}

}  // namespace paddock::runfiles
