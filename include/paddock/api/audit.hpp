#pragma once
/// The audit log: one JSON object per line, appended to [log] audit_log, for every mutating
/// request (who, method, path, status) and, later, every spawn and exit. Writing never breaks
/// serving: a failure is logged once (and again only after a success), the entry is dropped.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace paddock::api {

/// At most `limit` events per `window`; the rest are counted, not let through. Pure (the time
/// is passed in), not thread-safe.
class RateWindow {
 public:
  RateWindow(std::uint32_t limit, std::chrono::milliseconds window)
      : limit_(limit), window_(window) {}
  /// True when the event at `now` fits in the current window.
  bool allow(std::chrono::steady_clock::time_point now);
  /// Events refused since the last call (and resets the count).
  std::uint64_t take_suppressed();

 private:
  std::uint32_t limit_;
  std::chrono::milliseconds window_;
  std::chrono::steady_clock::time_point start_{};
  bool started_ = false;
  std::uint32_t used_ = 0;
  std::uint64_t suppressed_ = 0;
};

class AuditLog {
 public:
  /// `path` "" disables the log. The parent directory is created (mode 0750) on first write;
  /// the file is created with mode 0640 and opened O_APPEND.
  explicit AuditLog(std::string path);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  bool enabled() const { return !path_.empty(); }
  const std::string& path() const { return path_; }

  /// Appends `entry` as one line, adding "ts" (UTC, RFC 3339 with milliseconds) when absent.
  /// Returns false when the entry could not be written.
  bool record(nlohmann::json entry);

  /// One mutating request: {"ts", "event": "request", "who", "method", "path", "status",
  /// "remote"}. `who` is "token:<name>", "uid:<n>" or "anonymous"; never a token.
  bool request(const std::string& who, const std::string& method, const std::string& path,
               unsigned status, const std::string& remote);

  /// A request refused before it reached a route (the server's own 400/413/431/503, or a
  /// 401/403 decided on the headers): {"ts", "event": "reject", "who", "method", "path",
  /// "status", "code", "remote"}. Rate-limited (kRejectsPerWindow per kRejectWindow) so a flood
  /// cannot fill the disk; the first entry after a suppressed stretch is preceded by
  /// {"event": "rejects_suppressed", "count"}. Returns false when the entry was not written.
  bool reject(const std::string& who, const std::string& method, const std::string& path,
              unsigned status, const std::string& code, const std::string& remote);
  static constexpr std::uint32_t kRejectsPerWindow = 50;
  static constexpr std::chrono::seconds kRejectWindow{10};

  /// Closes the file so the next write reopens it (after log rotation).
  void reopen();

  /// True for methods that change state (anything but GET, HEAD and OPTIONS).
  static bool is_mutating(const std::string& method);

  /// The current time as "2024-05-01T12:00:00.123Z".
  static std::string now_rfc3339();

 private:
  bool open_locked();
  std::string path_;
  std::mutex mutex_;
  int fd_ = -1;
  bool failing_ = false;
  std::mutex rejects_mutex_;
  RateWindow rejects_{kRejectsPerWindow, kRejectWindow};
};

}  // namespace paddock::api
