#include "paddock/api/audit.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "paddock/log/log.hpp"

namespace paddock::api {

AuditLog::AuditLog(std::string path) : path_(std::move(path)) {}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

bool AuditLog::is_mutating(const std::string& method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

std::string AuditLog::now_rfc3339() {
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count()));
  return buf;
}

bool AuditLog::open_locked() {
  if (fd_ >= 0) return true;
  std::error_code ec;
  const auto parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty() && !std::filesystem::exists(parent, ec)) {
    std::filesystem::create_directories(parent, ec);
    if (!ec) {
      std::filesystem::permissions(parent, std::filesystem::perms(0750),
                                   std::filesystem::perm_options::replace, ec);
    }
    if (ec) {
      if (!failing_) {
        log::error(
            "cannot create the audit log directory; audit entries are dropped until it "
            "exists",
            {{"path", parent.string()}, {"error", ec.message()}});
      }
      failing_ = true;
      return false;
    }
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd_ < 0) {
    const int e = errno;
    if (!failing_) {
      log::error("open(" + path_ + ", O_APPEND|O_CREAT) failed; audit entries are dropped",
                 {{"errno", std::strerror(e)}});
    }
    failing_ = true;
    return false;
  }
  return true;
}

bool AuditLog::record(nlohmann::json entry) {
  if (path_.empty()) return true;
  if (!entry.contains("ts")) entry["ts"] = now_rfc3339();
  std::string line = entry.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  std::lock_guard lock(mutex_);
  if (!open_locked()) return false;
  // One write(2) per line with O_APPEND keeps lines whole even with other writers.
  const ssize_t n = ::write(fd_, line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size())) {
    const int e = n < 0 ? errno : EIO;
    if (!failing_) {
      log::error("write(" + path_ + ") failed; audit entries are dropped until it works again",
                 {{"errno", std::strerror(e)}});
    }
    failing_ = true;
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  if (failing_) log::info("audit log writable again", {{"path", path_}});
  failing_ = false;
  return true;
}

bool AuditLog::request(const std::string& who, const std::string& method, const std::string& path,
                       unsigned status, const std::string& remote) {
  return record({{"ts", now_rfc3339()},
                 {"event", "request"},
                 {"who", who},
                 {"method", method},
                 {"path", path},
                 {"status", status},
                 {"remote", remote}});
}

bool RateWindow::allow(std::chrono::steady_clock::time_point now) {
  if (!started_ || now - start_ >= window_) {
    started_ = true;
    start_ = now;
    used_ = 0;
  }
  if (used_ < limit_) {
    ++used_;
    return true;
  }
  ++suppressed_;
  return false;
}

std::uint64_t RateWindow::take_suppressed() {
  const auto n = suppressed_;
  suppressed_ = 0;
  return n;
}

bool AuditLog::reject(const std::string& who, const std::string& method, const std::string& path,
                      unsigned status, const std::string& code, const std::string& remote) {
  if (!enabled()) return false;
  std::uint64_t suppressed = 0;
  {
    std::lock_guard lock(rejects_mutex_);
    if (!rejects_.allow(std::chrono::steady_clock::now())) return false;
    suppressed = rejects_.take_suppressed();
  }
  if (suppressed > 0) record({{"event", "rejects_suppressed"}, {"count", suppressed}});
  return record({{"ts", now_rfc3339()},
                 {"event", "reject"},
                 {"who", who},
                 {"method", method},
                 {"path", path},
                 {"status", status},
                 {"code", code},
                 {"remote", remote}});
}

void AuditLog::reopen() {
  std::lock_guard lock(mutex_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace paddock::api
