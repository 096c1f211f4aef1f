#pragma once
/// The host files the preflight checks read (/proc, /sys, /etc), behind a small interface so the
/// decision logic can be tested with fixture directories instead of the real host.

#include <optional>
#include <string>
#include <vector>

namespace paddock::preflight {

/// Read-only questions about host paths. Paths are absolute host paths ("/proc/self/cgroup").
class HostFs {
 public:
  virtual ~HostFs() = default;
  /// The whole file, or nullopt when it cannot be read.
  virtual std::optional<std::string> read_file(const std::string& path) const = 0;
  /// True when the path exists (lstat).
  virtual bool exists(const std::string& path) const = 0;
  /// access(path, W_OK) for this process.
  virtual bool writable(const std::string& path) const = 0;
  /// The value of an extended attribute, or nullopt when it is absent or unreadable.
  virtual std::optional<std::string> xattr(const std::string& path,
                                           const std::string& name) const = 0;
  /// Names in a directory (without "." and ".."); empty when it cannot be read.
  virtual std::vector<std::string> list_dir(const std::string& path) const = 0;
};

/// Reads the host's files below `root`: "/" for the real host, a fixture directory in tests
/// (read_file("/proc/self/cgroup") then reads <root>/proc/self/cgroup).
class RootedFs : public HostFs {
 public:
  explicit RootedFs(std::string root = "/");
  std::optional<std::string> read_file(const std::string& path) const override;
  bool exists(const std::string& path) const override;
  bool writable(const std::string& path) const override;
  std::optional<std::string> xattr(const std::string& path, const std::string& name) const override;
  std::vector<std::string> list_dir(const std::string& path) const override;
  /// The real path of a host path under root.
  std::string real(const std::string& path) const;

 private:
  std::string root_;
};

}  // namespace paddock::preflight
