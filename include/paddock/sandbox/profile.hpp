#pragma once
/// SandboxProfile: what one kind of workload (shell, python, r, ...) sees inside its sandbox.
/// Profiles live in <sandbox_profiles_dir>/<name>.toml; profiles/sandbox/*.toml documents each key.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "paddock/util/result.hpp"

namespace paddock::sandbox {

struct SandboxProfile {
  std::string name;         ///< the file name without .toml
  std::string source_file;  ///< where it was loaded from ("" when built in code)
  std::string description;
  /// Host paths bound read-only at the same place; each must exist (bwrap --ro-bind).
  std::vector<std::string> ro_paths;
  /// Like ro_paths but skipped when missing on the host (bwrap --ro-bind-try).
  std::vector<std::string> ro_paths_try;
  /// (target, link) pairs: a symlink at `link` pointing to `target` (bwrap --symlink).
  std::vector<std::pair<std::string, std::string>> symlinks;
  /// Where the bundle appears, read-only.
  std::string bundle_mount = "/app";
  /// Where the per-worker writable directory <data_root>/<worker id> appears; "" for none.
  std::string data_mount;
  /// HOME inside: "/tmp" or the data_mount.
  std::string home = "/tmp";
  /// Working directory inside; "" means the bundle mount when there is a bundle, else HOME.
  std::string workdir;
  /// Environment every worker of this profile gets (before the request's variables).
  std::map<std::string, std::string> env;
  /// Names a request may set; an entry ending in '*' allows every name with that prefix.
  std::vector<std::string> env_allow;
  /// Command when the request gives none.
  std::vector<std::string> command;
  /// Generate a minimal /etc/passwd and /etc/group naming the worker's uid and gid.
  bool passwd = true;
  std::string hostname = "sandbox";
  /// RLIMIT_AS in MiB; unset: no address-space limit (memory is limited by the cgroup).
  std::optional<std::uint64_t> rlimit_as_mb;
  /// RLIMIT_CPU in seconds of CPU time; unset: none.
  std::optional<std::uint64_t> rlimit_cpu_seconds;
};

/// Parses a profile. `name` becomes profile.name; `file_name` is used in messages, which read
/// "file:line:col: ..." for unknown keys (with a suggestion), wrong types and bad values.
/// Error code "invalid_profile".
Result<SandboxProfile> load_profile_string(const std::string& toml_text, const std::string& name,
                                           const std::string& file_name);

/// Reads <dir>/<name>.toml. `name` must be a plain name ([A-Za-z0-9_-]+); a missing file is an
/// error with code "unknown_profile" that lists the profiles present in `dir`.
Result<SandboxProfile> load_profile(const std::string& dir, const std::string& name);

/// Loads every *.toml in `dir`, keyed by name; the first broken file makes it fail.
Result<std::map<std::string, SandboxProfile>> load_profiles_dir(const std::string& dir);

}  // namespace paddock::sandbox
