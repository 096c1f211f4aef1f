#include "paddock/sandbox/paths.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "paddock/util/fd.hpp"

namespace paddock::sandbox {

namespace {

Error bundle_error(std::string_view path, const std::string& why) {
  std::string shown(path.substr(0, 200));
  for (auto& c : shown) {
    if (c == '\0') c = '?';
  }
  if (path.size() > 200) shown += "...";
  return make_error("invalid_bundle", "bundle path '" + shown + "' " + why, "bundle");
}

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    const std::size_t start = i;
    while (i < path.size() && path[i] != '/') ++i;
    if (i > start) out.push_back(path.substr(start, i - start));
  }
  return out;
}

std::string join(const std::vector<std::string_view>& parts) {
  if (parts.empty()) return "/";
  std::string out;
  for (auto p : parts) {
    out += '/';
    out += p;
  }
  return out;
}

std::string roots_list(const std::vector<std::string>& roots) {
  std::string out;
  for (const auto& r : roots) out += (out.empty() ? "" : ", ") + r;
  return out;
}

}  // namespace

bool is_normal_absolute_path(std::string_view path) {
  if (path.empty() || path[0] != '/' || path.size() > kMaxPathBytes) return false;
  if (path.find('\0') != std::string_view::npos) return false;
  if (path == "/") return true;
  if (path.back() == '/') return false;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const auto part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || part.size() > kMaxComponentBytes) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

bool is_plain_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

bool path_is_within(std::string_view path, std::string_view dir) {
  if (dir == "/") return true;
  if (path.size() < dir.size() || path.substr(0, dir.size()) != dir) return false;
  return path.size() == dir.size() || path[dir.size()] == '/';
}

std::string parent_dir(std::string_view path) {
  const auto slash = path.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

Result<std::string> check_bundle_path_lexical(std::string_view path,
                                              const std::vector<std::string>& roots) {
  if (path.empty()) return bundle_error(path, "is empty; give an absolute directory");
  if (path.find('\0') != std::string_view::npos) return bundle_error(path, "contains a NUL byte");
  if (path.size() > kMaxPathBytes) {
    return bundle_error(path, "is longer than " + std::to_string(kMaxPathBytes) + " bytes");
  }
  if (path[0] != '/') {
    return bundle_error(path,
                        "is relative; give an absolute path below one of: " + roots_list(roots));
  }
  const auto parts = components(path);
  for (auto part : parts) {
    if (part == "..") return bundle_error(path, "contains '..'; give the path without it");
    if (part == ".") return bundle_error(path, "contains '.' components; give a clean path");
    if (part.size() > kMaxComponentBytes) {
      return bundle_error(
          path, "has a component longer than " + std::to_string(kMaxComponentBytes) + " bytes");
    }
  }
  const std::string clean = join(parts);
  for (const auto& root : roots) {
    if (is_normal_absolute_path(root) && root != "/" && path_is_within(clean, root) &&
        clean != root) {
      return clean;
    }
  }
  return bundle_error(
      path, "is not below a bundle root ([process] bundle_roots: " + roots_list(roots) + ")");
}

Result<FileKind> RealFileSystem::kind(const std::string& path) const {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return FileKind::Missing;
    return util::errno_error("lstat(" + path + ")", err);
  }
  if (S_ISLNK(st.st_mode)) return FileKind::Symlink;
  if (S_ISDIR(st.st_mode)) return FileKind::Directory;
  return FileKind::Other;
}

Result<std::string> RealFileSystem::read_link(const std::string& path) const {
  std::string buf(kMaxPathBytes + 1, '\0');
  const ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
  if (n < 0) {
    const int err = errno;
    return util::errno_error("readlink(" + path + ")", err);
  }
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

Result<std::string> resolve_path(std::string_view path, const FileSystem& fs) {
  if (path.empty() || path[0] != '/' || path.find('\0') != std::string_view::npos) {
    return make_error("invalid_path",
                      "cannot resolve '" + std::string(path) + "': not an absolute path");
  }
  // Work list of components still to walk (front = next), and the resolved prefix.
  std::vector<std::string> pending;
  for (auto p : components(path)) pending.emplace_back(p);
  std::reverse(pending.begin(), pending.end());
  std::vector<std::string> done;
  int links = 0;
  while (!pending.empty()) {
    std::string part = std::move(pending.back());
    pending.pop_back();
    if (part == ".") continue;
    if (part == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    done.push_back(part);
    std::vector<std::string_view> views(done.begin(), done.end());
    const std::string current = join(views);
    auto k = fs.kind(current);
    if (!k) return k.error();
    if (*k == FileKind::Missing) {
      return make_error("not_found", "'" + current + "' does not exist (while resolving '" +
                                         std::string(path) + "')");
    }
    if (*k != FileKind::Symlink) continue;
    if (++links > 40) {
      return make_error("ELOOP",
                        "too many levels of symbolic links resolving '" + std::string(path) + "'");
    }
    auto target = fs.read_link(current);
    if (!target) return target.error();
    done.pop_back();
    if (!target->empty() && (*target)[0] == '/') done.clear();
    auto tparts = components(*target);
    for (auto it = tparts.rbegin(); it != tparts.rend(); ++it) pending.emplace_back(*it);
  }
  std::vector<std::string_view> views(done.begin(), done.end());
  return join(views);
}

Result<std::string> resolve_bundle_path(std::string_view path,
                                        const std::vector<std::string>& roots,
                                        const FileSystem& fs) {
  auto clean = check_bundle_path_lexical(path, roots);
  if (!clean) return clean.error();
  auto real = resolve_path(*clean, fs);
  if (!real) {
    return bundle_error(path, "cannot be resolved: " + real.error().message);
  }
  bool inside = false;
  for (const auto& root : roots) {
    auto real_root = resolve_path(root, fs);
    if (!real_root) continue;  // a missing root holds no bundle
    if (*real_root != "/" && path_is_within(*real, *real_root) && *real != *real_root) {
      inside = true;
      break;
    }
  }
  if (!inside) {
    return bundle_error(path, "resolves to '" + *real +
                                  "', which is outside every bundle root; a symlink must not "
                                  "point out of the bundle roots");
  }
  auto k = fs.kind(*real);
  if (!k) return k.error();
  if (*k != FileKind::Directory) return bundle_error(path, "is not a directory");
  return real;
}

}  // namespace paddock::sandbox
