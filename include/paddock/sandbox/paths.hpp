#pragma once
/// Path checks for what gets mounted into a sandbox: a pure lexical part and a resolving part
/// that follows symlinks through a small FileSystem interface (faked in unit tests).

#include <string>
#include <string_view>
#include <vector>

#include "paddock/util/result.hpp"

namespace paddock::sandbox {

/// Longest path accepted (PATH_MAX including the terminating NUL) and longest component.
inline constexpr std::size_t kMaxPathBytes = 4095;
inline constexpr std::size_t kMaxComponentBytes = 255;

/// True for "/" and for "/a/b" style paths: absolute, no NUL, no empty, "." or ".." component,
/// no trailing slash, within kMaxPathBytes / kMaxComponentBytes.
bool is_normal_absolute_path(std::string_view path);

/// True for 1-64 characters of [A-Za-z0-9_-]: safe as a single file or directory name (worker
/// ids name data directories, profile names name files).
bool is_plain_name(std::string_view name);

/// True when `path` is `dir` or lies below it. Both must be normal absolute paths; purely lexical.
bool path_is_within(std::string_view path, std::string_view dir);

/// The parent directory of a normal absolute path ("/" for "/x" and for "/").
std::string parent_dir(std::string_view path);

/// Lexical bundle check: absolute, no NUL, no ".." or "." components, not too long, and strictly
/// below one of `roots` (a root itself is refused: it would expose every bundle). Repeated and
/// trailing slashes are folded. Returns the normalised path; errors have code "invalid_bundle",
/// field "bundle", and name the path.
Result<std::string> check_bundle_path_lexical(std::string_view path,
                                              const std::vector<std::string>& roots);

/// What lstat says about one path.
enum class FileKind { Missing, Directory, Symlink, Other };

/// The few filesystem questions path resolution asks.
class FileSystem {
 public:
  virtual ~FileSystem() = default;
  /// lstat(path): the kind, or an error for anything but "exists" and ENOENT/ENOTDIR.
  virtual Result<FileKind> kind(const std::string& path) const = 0;
  /// readlink(path) of a symlink.
  virtual Result<std::string> read_link(const std::string& path) const = 0;
};

/// The host's filesystem (lstat, readlink).
class RealFileSystem final : public FileSystem {
 public:
  Result<FileKind> kind(const std::string& path) const override;
  Result<std::string> read_link(const std::string& path) const override;
};

/// realpath(3) through `fs`: follows every symlink (at most 40), folds "." and "..".
/// A missing component is an error with code "not_found".
Result<std::string> resolve_path(std::string_view path, const FileSystem& fs);

/// The full bundle check: lexical check, then resolution through symlinks, then the resolved
/// path must still be strictly below one of the (resolved) roots and be a directory.
/// Returns the resolved path, which is what gets mounted.
Result<std::string> resolve_bundle_path(std::string_view path,
                                        const std::vector<std::string>& roots,
                                        const FileSystem& fs);

}  // namespace paddock::sandbox
