#include "paddock/util/fd.hpp"

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

}  // namespace paddock::util
