#pragma once
/// The audit log: one JSON object per line, appended to [log] audit_log, for every mutating
/// request (who, method, path, status) and, later, every spawn and exit. Writing never breaks
/// serving: a failure is logged once (and again only after a success), the entry is dropped.

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace paddock::api {

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
};

}  // namespace paddock::api
