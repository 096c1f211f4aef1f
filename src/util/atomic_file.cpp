#include "paddock/util/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace paddock::util {

Result<void> write_file_atomically(const std::string& path, std::string_view data, mode_t mode,
                                   bool exact_mode) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return make_error("io", "open(" + tmp + "): " + std::strerror(errno), path);
  auto fail = [&](const std::string& call, int err) -> Result<void> {
    ::unlink(tmp.c_str());
    return make_error("io", call + "(" + tmp + "): " + std::strerror(err), path);
  };
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return fail("write", e);
    }
    done += static_cast<std::size_t>(n);
  }
  if (exact_mode && ::fchmod(fd, mode) != 0) {
    const int e = errno;
    ::close(fd);
    return fail("fchmod", e);
  }
  if (::fsync(fd) != 0) {
    const int e = errno;
    ::close(fd);
    return fail("fsync", e);
  }
  if (::close(fd) != 0) return fail("close", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return make_error("io", "rename(" + tmp + ", " + path + "): " + std::strerror(e), path);
  }
  return {};
}

}  // namespace paddock::util
