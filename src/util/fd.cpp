#include "paddock/util/fd.hpp"

#include <fcntl.h>
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

}  // namespace paddock::util
