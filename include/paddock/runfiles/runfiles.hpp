#pragma once
/// A run's files: what a client puts into the run's working directory before its command starts
/// ("files") and what it gets back afterwards ("collect"). The working directory is a fresh
/// per-run directory, [process] data_root/<run-id>, owned by the run's UID while it runs. Only
/// the process layer (the spawner, as root) writes it before the launch and reads it after every
/// process of the run's UID is gone; the daemon never touches it.
///
/// The pure parts (path checks, glob matching of one component, byte budgets) are separate from
/// the two filesystem walks (write_inputs, collect) so they can be tested on their own.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "paddock/config/config.hpp"
#include "paddock/util/fd.hpp"
#include "paddock/util/result.hpp"

namespace paddock::runfiles {

/// Bounds on a run's files, from [runs] in the config.
struct Caps {
  std::uint64_t max_files = 1000;                   ///< entries in "files"
  std::uint64_t max_files_bytes = 16ULL << 20;      ///< their contents together
  std::uint64_t collect_file_bytes = 8ULL << 20;    ///< one collected file (more: truncated)
  std::uint64_t collect_total_bytes = 32ULL << 20;  ///< all collected files together
  std::uint64_t max_collect_patterns = 64;          ///< entries in "collect"
  std::uint64_t max_collect_entries = 256;          ///< files (and error entries) collected
  std::size_t max_path_length = 1024;               ///< bytes of one path or pattern
  std::size_t max_depth = 32;                       ///< components of one path or pattern
};

/// The caps of [runs] (the rest keep their defaults).
Caps caps_from(const config::RunsConfig& runs);

/// One file given to a run.
struct InputFile {
  std::string path;  ///< relative, normalised (check_relative_path)
  std::string content;
};

/// One entry of a run's collected files: a file (content, size, truncated) or an error for a
/// path or a pattern (error set, content empty).
struct Collected {
  std::string path;        ///< relative to the working directory; "" for a pattern's error
  std::string pattern;     ///< the pattern that matched it (or failed)
  std::uint64_t size = 0;  ///< the file's whole size (content may be shorter: truncated)
  bool truncated = false;
  std::string content;
  std::string error;  ///< "" for a file
};

/// The normalised form of a relative path ("a//b/" stays an error: no empty components),
/// or an error message: absolute, "..", ".", empty components, NUL, too long or too deep.
Result<std::string> check_relative_path(std::string_view path, const Caps& caps);

/// Checks a whole "files" list: each path, the count, the total size, duplicates, and a path
/// that is both a file and a directory ("a" and "a/b"). Errors name the field "files.<path>"
/// (or "files" for the count and the total).
Result<void> check_inputs(const std::vector<InputFile>& files, const Caps& caps);

/// Why a collect pattern cannot be used ("" when it can): absolute, "..", empty components,
/// too long or too deep.
std::string pattern_problem(std::string_view pattern, const Caps& caps);

/// Whether one path component `name` matches one pattern component (fnmatch: *, ?, [...];
/// a leading '.' is matched only by a literal '.').
bool component_matches(std::string_view pattern, std::string_view name);

/// Whether a pattern component has glob characters.
bool has_magic(std::string_view component);

/// The byte budget of a collection: per file and in total.
class Budget {
 public:
  explicit Budget(const Caps& caps)
      : per_file_(caps.collect_file_bytes), left_(caps.collect_total_bytes) {}
  /// How many of a file's `size` bytes may be taken; takes them from the total.
  std::uint64_t take(std::uint64_t size);
  std::uint64_t left() const { return left_; }

 private:
  std::uint64_t per_file_;
  std::uint64_t left_;
};

/// Creates `dir` (which must not exist) mode 0700, writes `files` below it with
/// openat(O_CREAT|O_EXCL|O_NOFOLLOW) (parents with mkdirat, 0755; files 0644), then gives the
/// whole tree to uid:gid. The files are checked again first (check_inputs).
Result<void> write_inputs(const std::string& dir, const std::vector<InputFile>& files, uid_t uid,
                          gid_t gid, const Caps& caps);

/// Writes `files` into `dir`, a run's working directory that exists already and belongs to
/// uid:gid (a warm sandbox's), acting as that user (setfsuid/setfsgid): the same paths, modes
/// and checks as write_inputs.
Result<void> write_inputs_as(const std::string& dir, const std::vector<InputFile>& files, uid_t uid,
                             gid_t gid, const Caps& caps);

/// Writes `content` to the relative path `rel` below the directory `dirfd` (checked with
/// check_relative_path; parents created 0755; no symlink followed anywhere). An existing file
/// is an error unless `replace` (then a regular file there is overwritten). For `paddock run
/// --collect`, which writes below the current directory.
Result<void> write_below(int dirfd, std::string_view rel, std::string_view content, bool replace);

/// Resolves `patterns` below `dir` without following any symlink and reads the regular files
/// they match, within the caps. Runs with the filesystem UID/GID of the run (setfsuid) when
/// called as root, so it reads what the run could read and nothing else. Every problem is an
/// entry with `error` set; the result is sorted by pattern order, then path.
std::vector<Collected> collect(const std::string& dir, const std::vector<std::string>& patterns,
                               uid_t uid, gid_t gid, const Caps& caps);

/// A memfd holding `data`, sealed against writing, growing and shrinking.
Result<util::UniqueFd> sealed_blob(std::string_view data);

/// The contents of a memfd made by sealed_blob(): refused unless it is a memfd sealed with
/// F_SEAL_WRITE, F_SEAL_GROW and F_SEAL_SHRINK and at most `max_bytes` long.
Result<std::string> read_sealed_blob(int fd, std::uint64_t max_bytes);

}  // namespace paddock::runfiles
