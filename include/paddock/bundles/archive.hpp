#pragma once
/// Archive intake: a .tar.gz, .tar.zst or .zip streamed to a temporary file (sha256 computed on
/// the way) and extracted with libarchive into an empty directory, refusing every entry that
/// could reach outside it (absolute paths, "..", escaping symlinks and hardlinks, special
/// files) and stopping as soon as a size or count limit is crossed.

#include <cstdint>
#include <string>
#include <string_view>

#include "paddock/util/fd.hpp"
#include "paddock/util/result.hpp"

namespace paddock::bundles {

/// Bounds on one archive; every one of them is an error (naming the entry) when crossed.
struct Limits {
  /// Size of the archive itself as uploaded.
  std::uint64_t max_compressed_bytes = 256ULL << 20;
  /// Sum of the sizes of the extracted regular files.
  std::uint64_t max_extracted_bytes = 1ULL << 30;
  /// Number of entries (files, directories, links).
  std::uint64_t max_entries = 100000;
  /// Length in bytes of an entry's path.
  std::size_t max_path_length = 1024;
  /// Number of components of an entry's path.
  std::size_t max_depth = 64;
};

/// What an extraction produced.
struct ExtractStats {
  std::uint64_t files = 0;  ///< regular files and links
  std::uint64_t dirs = 0;   ///< directories created or named by entries
  std::uint64_t bytes = 0;  ///< sum of regular-file sizes
};

/// A body being received into an unlinked-on-destruction temporary file, hashed as it arrives.
/// Move-only; the temporary file is removed when the object is destroyed.
class Upload {
 public:
  /// A new empty temporary file in `dir` (which must exist); at most `max_bytes` may be written.
  static Result<Upload> create(const std::string& dir, std::uint64_t max_bytes);
  Upload(Upload&& other) noexcept;
  Upload& operator=(Upload&& other) noexcept;
  Upload(const Upload&) = delete;
  Upload& operator=(const Upload&) = delete;
  ~Upload();

  /// Appends bytes; error "too_large" once more than max_bytes were given.
  Result<void> write(std::string_view bytes);
  /// Ends the body: the lower-case hex sha256 of everything written.
  Result<std::string> finish();
  /// Removes the temporary file now (the destructor does it otherwise).
  void discard();
  /// Bytes written so far.
  std::uint64_t size() const { return size_; }
  /// The temporary file, open for reading and writing.
  int fd() const { return fd_.get(); }

 private:
  Upload() = default;
  util::UniqueFd fd_;
  std::string path_;
  void* ctx_ = nullptr;  // EVP_MD_CTX
  std::uint64_t size_ = 0;
  std::uint64_t max_bytes_ = 0;
};

/// The normalised relative form of an archive entry's path ("./a//b/" → "a/b"; "" for the root
/// itself), or an error "invalid_entry" for an absolute path, a ".." component, a NUL byte, or a
/// path longer or deeper than the limits.
Result<std::string> normalize_entry_path(std::string_view path, const Limits& limits);

/// True when a symlink at relative path `link_path` (already normalised) with target `target`
/// stays inside the tree: the target is relative and, resolved lexically from the link's
/// directory, never climbs above the root.
bool symlink_target_inside(std::string_view link_path, std::string_view target);

/// Extracts the archive read from `archive_fd` (read from offset 0, whatever its position)
/// into the empty directory `dest_dirfd`. Only tar (gzip, zstd or uncompressed) and zip are
/// accepted. Files become 0644 (0755 when any execute bit was set), directories 0755, owned by
/// the caller; setuid/setgid/sticky bits, owners, xattrs and ACLs are dropped. Paths are walked
/// one component at a time with O_NOFOLLOW, so no entry can be written through a symlink made by
/// an earlier entry. On error the directory may hold a partial tree: the caller removes it.
/// Errors: "invalid_archive" (unreadable or unsupported), "invalid_entry" (a refused entry, its
/// path in `field`), "limit_exceeded" (a limit crossed), "no_space" (`max_total_bytes` of new
/// content crossed), or an errno code.
Result<ExtractStats> extract_archive(int archive_fd, int dest_dirfd, const Limits& limits,
                                     std::uint64_t space_left = UINT64_MAX);

/// Removes `name` in `dirfd` and everything under it, without following symlinks.
Result<void> remove_tree_at(int dirfd, const std::string& name);

}  // namespace paddock::bundles
