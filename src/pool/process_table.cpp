#include "paddock/pool/process_table.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "paddock/util/fd.hpp"

namespace paddock::pool {

namespace {

/// Adds the four ids of a "Uid:\tr\te\ts\tfs" line that fall in [first, last].
void collect_uids(std::string_view status, uid_t first, uid_t last, std::set<uid_t>& out) {
  const auto at = status.find("\nUid:");
  if (at == std::string_view::npos) return;
  std::size_t pos = at + 5;
  const auto eol = status.find('\n', pos);
  const std::string_view line = status.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    uid_t uid = 0;
    if (i > start && std::from_chars(line.data() + start, line.data() + i, uid).ec == std::errc{} &&
        uid >= first && uid <= last) {
      out.insert(uid);
    }
  }
}

}  // namespace

Result<std::set<uid_t>> ProcProcessTable::live_uids(uid_t first, uid_t last) const {
  DIR* dir = ::opendir(root_.c_str());
  if (dir == nullptr) {
    const int err = errno;
    return util::errno_error("opendir(" + root_ + ")", err);
  }
  std::set<uid_t> out;
  char buf[4096];
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    const std::string path = root_ + "/" + e->d_name + "/status";
    util::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) continue;  // the process is gone
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) continue;
    collect_uids(std::string_view(buf, static_cast<std::size_t>(n)), first, last, out);
  }
  ::closedir(dir);
  return out;
}

}  // namespace paddock::pool
