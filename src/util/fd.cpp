#include "paddock/util/fd.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace paddock::util {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0 && fd_ != fd) ::close(fd_);
  fd_ = fd;
}

std::string errno_name(int err) {
  // strerrorname_np is glibc >= 2.32 (Debian 12 and Ubuntu 24.04 have it).
  if (const char* name = ::strerrorname_np(err); name != nullptr) return name;
  return "errno " + std::to_string(err);
}

std::string syscall_error(const std::string& call, int err) {
  return call + ": " + errno_name(err) + " (" + std::strerror(err) + ")";
}

Error errno_error(const std::string& call, int err) {
  return make_error(errno_name(err), syscall_error(call, err));
}

std::string read_small_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return {};
  std::string out;
  char buf[1024];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

Result<UniqueFd> open_no_symlinks(const std::string& path, int flags) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd = -1;
  do {
    fd = ::syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how);
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  if (fd < 0) {
    const int err = errno;
    Error e = errno_error("openat2(" + path + ", RESOLVE_NO_SYMLINKS)", err);
    if (err == ELOOP) e.message += "; a component of the path is a symlink: use the real path";
    return e;
  }
  return UniqueFd(static_cast<int>(fd));
}

Result<std::string> read_file_no_symlinks(const std::string& path, std::size_t limit) {
  auto fd = open_no_symlinks(path, O_RDONLY);
  if (!fd) return fd.error();
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return errno_error("fstat(" + path + ")", errno);
  if (!S_ISREG(st.st_mode)) return make_error("not_regular", path + " is not a regular file");
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd->get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("read(" + path + ")", errno);
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > limit) {
      return make_error("too_large", path + " is larger than " + std::to_string(limit) + " bytes");
    }
  }
  return out;
}

}  // namespace paddock::util
