#pragma once
/// UniqueFd: sole owner of a file descriptor, closed on destruction; errno text helpers.

#include <string>
#include <utility>

#include "paddock/util/result.hpp"

namespace paddock::util {

/// Owns one file descriptor (or none: -1). Move-only; the destructor closes it.
class UniqueFd {
 public:
  UniqueFd() = default;
  /// Takes ownership of `fd` (-1 means "none").
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  /// The descriptor, still owned (-1 when empty).
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  /// Gives up ownership without closing and returns the descriptor.
  int release() { return std::exchange(fd_, -1); }
  /// Closes the current descriptor (if any) and owns `fd` instead.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

/// The symbolic name of an errno value ("EPERM", "ENOENT"); "errno N" for unknown ones.
std::string errno_name(int err);

/// "call: ENAME (description)" as used in messages about failed syscalls.
std::string syscall_error(const std::string& call, int err);

/// An Error for a failed syscall: code ENAME, message syscall_error(call, err).
Error errno_error(const std::string& call, int err);

/// The whole contents of a small file (such as one under /proc), read with open/read;
/// "" when it cannot be opened.
std::string read_small_file(const std::string& path);

/// Opens `path` (absolute) with openat2(RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS): no
/// component may be a symlink, so a link swapped in cannot redirect the open. `flags` as for
/// open(2); O_CLOEXEC is added. Errors name the call and the errno (ELOOP for a symlink).
Result<UniqueFd> open_no_symlinks(const std::string& path, int flags);

/// The whole contents of a regular file opened with open_no_symlinks, at most `limit` bytes.
Result<std::string> read_file_no_symlinks(const std::string& path, std::size_t limit);

}  // namespace paddock::util
