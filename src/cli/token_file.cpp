#include "paddock/cli/token_file.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <vector>

#include "paddock/api/auth.hpp"
#include "paddock/util/crypto.hpp"
#include "paddock/util/fd.hpp"

namespace paddock::cli {

namespace {

/// The group of the daemon's default user ([server] user = "paddock"), when it exists.
std::optional<gid_t> daemon_group_id() {
  std::vector<char> buf(4096);
  struct group gr {};
  struct group* found = nullptr;
  if (::getgrnam_r("paddock", &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return gr.gr_gid;
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

}  // namespace

Result<std::string> token_line(const std::string& name, const std::string& scope,
                               const std::string& token, std::string_view existing,
                               const std::string& file_name) {
  if (!valid_name(name)) {
    return make_error("usage",
                      "--name must be 1-64 letters, digits, '_', '-' or '.', got '" + name + "'",
                      "--name");
  }
  if (scope != "read" && scope != "write") {
    return make_error("usage", "--scope must be read or write, got '" + scope + "'", "--scope");
  }
  auto entries = api::parse_token_file(existing, file_name);
  if (!entries) {
    return make_error("invalid_token_file",
                      entries.error().message + "; fix the file before adding a token");
  }
  for (const auto& e : *entries) {
    if (e.name == name) {
      return make_error("token_exists",
                        "a token named '" + name + "' already exists in " + file_name +
                            "; choose another name or remove that line first",
                        "--name");
    }
  }
  return name + " " + scope + " sha256:" + util::sha256_hex(token) + "\n";
}

Result<std::string> create_token(const std::string& path, const std::string& name,
                                 const std::string& scope) {
  // Arguments are checked before the file is touched (or created).
  if (auto checked = token_line(name, scope, "", "", path); !checked) return checked.error();
  util::UniqueFd fd(
      ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) {
    const int err = errno;
    std::string hint;
    if (err == ENOENT) hint = " (does its directory exist?)";
    if (err == EACCES || err == EPERM) hint = " (run as root)";
    return make_error("io", util::syscall_error("open(" + path + ")", err) + hint);
  }
  if (::flock(fd.get(), LOCK_EX) != 0) {
    return make_error("io", util::syscall_error("flock(" + path + ")", errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return make_error("io", util::syscall_error("fstat(" + path + ")", errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return make_error("io", path + " is not a regular file");
  }
  // A file this command just created (or found empty) gets exactly 0640 group paddock, whatever
  // the umask: the daemon reads it after dropping to the user paddock. Without that group
  // (paddock not installed here) it is 0600, root's alone. A file with tokens keeps its mode.
  if (st.st_size == 0) {
    const auto group = daemon_group_id();
    const mode_t mode = group ? 0640 : 0600;
    if (group && st.st_gid != *group && ::fchown(fd.get(), static_cast<uid_t>(-1), *group) != 0) {
      return make_error("io", util::syscall_error("fchown(" + path + ", group paddock)", errno));
    }
    if ((st.st_mode & 07777) != mode && ::fchmod(fd.get(), mode) != 0) {
      return make_error("io", util::syscall_error("fchmod(" + path + ")", errno));
    }
  }
  std::string existing;
  char buf[8192];
  off_t off = 0;
  for (;;) {
    const ssize_t n = ::pread(fd.get(), buf, sizeof buf, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error("io", util::syscall_error("read(" + path + ")", errno));
    }
    if (n == 0) break;
    existing.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  const std::string token = util::random_token();
  auto line = token_line(name, scope, token, existing, path);
  if (!line) return line.error();
  std::string data = *line;
  if (!existing.empty() && existing.back() != '\n') data = "\n" + data;
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error("io", util::syscall_error("write(" + path + ")", errno));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) {
    return make_error("io", util::syscall_error("fsync(" + path + ")", errno));
  }
  return token;
}

}  // namespace paddock::cli
