#include "paddock/preflight/host_fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>

#include "paddock/util/fd.hpp"

namespace paddock::preflight {

RootedFs::RootedFs(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  if (root_ == "/") root_.clear();
}

std::string RootedFs::real(const std::string& path) const { return root_ + path; }

std::optional<std::string> RootedFs::read_file(const std::string& path) const {
  // Plain read(2): files under /proc vanish while they are read (a process exits, read fails
  // with ESRCH), and that is "no such file", never an exception out of a stream buffer.
  util::UniqueFd fd(::open(real(path).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return text;
    text.append(buf, static_cast<std::size_t>(n));
  }
}

bool RootedFs::exists(const std::string& path) const {
  struct stat st {};
  return ::lstat(real(path).c_str(), &st) == 0;
}

bool RootedFs::writable(const std::string& path) const {
  return ::access(real(path).c_str(), W_OK) == 0;
}

std::optional<std::string> RootedFs::xattr(const std::string& path, const std::string& name) const {
  char buf[256];
  const ssize_t n = ::getxattr(real(path).c_str(), name.c_str(), buf, sizeof buf);
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<std::size_t>(n));
}

std::vector<std::string> RootedFs::list_dir(const std::string& path) const {
  std::vector<std::string> out;
  DIR* d = ::opendir(real(path).c_str());
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  ::closedir(d);
  return out;
}

}  // namespace paddock::preflight
