#include "paddock/bundles/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <vector>

#include "paddock/util/strings.hpp"

namespace paddock::bundles {
namespace {

std::string hex(const unsigned char* p, unsigned n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (unsigned i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 15]);
  }
  return out;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) out.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Error entry_error(const std::string& entry, const std::string& why) {
  return make_error("invalid_entry", "archive entry \"" + entry + "\": " + why, entry);
}

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};

/// Opens (creating when missing) the directory `components` under `root`, one component at a
/// time with O_NOFOLLOW: an existing symlink or non-directory on the way is an error.
Result<util::UniqueFd> open_dir_chain(int root, const std::vector<std::string>& components,
                                      std::size_t count, const std::string& entry,
                                      ExtractStats& stats) {
  util::UniqueFd cur(::fcntl(root, F_DUPFD_CLOEXEC, 0));
  if (!cur) return util::errno_error("fcntl(F_DUPFD_CLOEXEC)", errno);
  for (std::size_t i = 0; i < count; ++i) {
    const std::string& c = components[i];
    if (::mkdirat(cur.get(), c.c_str(), 0755) == 0) {
      ++stats.dirs;
    } else if (errno != EEXIST) {
      return util::errno_error("mkdirat(" + entry + ")", errno);
    }
    int fd = ::openat(cur.get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ELOOP || errno == ENOTDIR) {
        return entry_error(entry,
                           "\"" + c + "\" on its path is not a directory (a symlink or file)");
      }
      return util::errno_error("openat(" + entry + ")", errno);
    }
    if (::fchmod(fd, 0755) != 0) {
      int err = errno;
      ::close(fd);
      return util::errno_error("fchmod(" + entry + ")", err);
    }
    cur.reset(fd);
  }
  return cur;
}

}  // namespace

// ---- Upload ----

Result<Upload> Upload::create(const std::string& dir, std::uint64_t max_bytes) {
  Upload u;
  std::string tmpl = dir + "/.upload-XXXXXX";
  int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return util::errno_error("mkostemp(" + tmpl + ")", errno);
  u.fd_.reset(fd);
  u.path_ = tmpl;
  u.max_bytes_ = max_bytes;
  auto* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx);
    return make_error("internal", "EVP_DigestInit_ex(sha256) failed");
  }
  u.ctx_ = ctx;
  return u;
}

Upload::Upload(Upload&& other) noexcept
    : fd_(std::move(other.fd_)),
      path_(std::exchange(other.path_, {})),
      ctx_(std::exchange(other.ctx_, nullptr)),
      size_(other.size_),
      max_bytes_(other.max_bytes_) {}

Upload& Upload::operator=(Upload&& other) noexcept {
  if (this != &other) {
    this->~Upload();
    new (this) Upload(std::move(other));
  }
  return *this;
}

Upload::~Upload() {
  if (ctx_ != nullptr) EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
  discard();
}

void Upload::discard() {
  if (!path_.empty()) ::unlink(path_.c_str());
  path_.clear();
  fd_.reset();
}

Result<void> Upload::write(std::string_view bytes) {
  if (bytes.size() > max_bytes_ - size_ || size_ > max_bytes_) {
    size_ = max_bytes_ + 1;
    return make_error("too_large", "the archive is larger than the limit of " +
                                       std::to_string(max_bytes_) +
                                       " bytes ([bundles] max_archive_bytes)");
  }
  if (EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), bytes.data(), bytes.size()) != 1) {
    return make_error("internal", "EVP_DigestUpdate failed");
  }
  if (!write_all(fd_.get(), bytes.data(), bytes.size()))
    return util::errno_error("write(upload)", errno);
  size_ += bytes.size();
  return {};
}

Result<std::string> Upload::finish() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned len = 0;
  if (EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md.data(), &len) != 1) {
    return make_error("internal", "EVP_DigestFinal_ex failed");
  }
  return hex(md.data(), len);
}

// ---- paths ----

Result<std::string> normalize_entry_path(std::string_view path, const Limits& limits) {
  std::string shown(path.substr(0, 200));
  if (path.size() > limits.max_path_length) {
    return make_error("limit_exceeded",
                      "archive entry \"" + shown + "...\": path longer than " +
                          std::to_string(limits.max_path_length) + " bytes",
                      shown);
  }
  if (path.find('\0') != std::string_view::npos) return entry_error(shown, "NUL byte in its path");
  if (!path.empty() && path.front() == '/') return entry_error(shown, "absolute path");
  std::string out;
  std::size_t depth = 0;
  for (const auto& c : split_path(path)) {
    if (c == ".") continue;
    if (c == "..") return entry_error(shown, "\"..\" in its path");
    if (++depth > limits.max_depth) {
      return make_error("limit_exceeded",
                        "archive entry \"" + shown + "\": deeper than " +
                            std::to_string(limits.max_depth) + " directories",
                        shown);
    }
    if (!out.empty()) out += '/';
    out += c;
  }
  return out;
}

bool symlink_target_inside(std::string_view link_path, std::string_view target) {
  if (target.empty() || target.front() == '/') return false;
  if (target.find('\0') != std::string_view::npos) return false;
  auto parts = split_path(link_path);
  if (!parts.empty()) parts.pop_back();  // the link's own name
  std::size_t depth = parts.size();
  for (const auto& c : split_path(target)) {
    if (c == ".") continue;
    if (c == "..") {
      if (depth == 0) return false;
      --depth;
    } else {
      ++depth;
    }
  }
  return true;
}

// ---- extraction ----

Result<ExtractStats> extract_archive(int archive_fd, int dest_dirfd, const Limits& limits,
                                     std::uint64_t space_left) {
  if (::lseek(archive_fd, 0, SEEK_SET) < 0) return util::errno_error("lseek(archive)", errno);
  std::unique_ptr<archive, ArchiveDeleter> a(archive_read_new());
  if (!a) return make_error("internal", "archive_read_new failed");
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_zstd(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  archive_read_support_format_zip(a.get());
  if (archive_read_open_fd(a.get(), archive_fd, 64 * 1024) != ARCHIVE_OK) {
    return make_error("invalid_archive", std::string("not a .tar.gz, .tar.zst or .zip archive: ") +
                                             archive_error_string(a.get()));
  }
  ExtractStats stats;
  std::uint64_t entries = 0;
  std::vector<char> buf(64 * 1024);
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return make_error("invalid_archive", std::string("unreadable archive after ") +
                                               std::to_string(entries) +
                                               " entries: " + archive_error_string(a.get()));
    }
    if (++entries > limits.max_entries) {
      return make_error("limit_exceeded", "the archive has more than " +
                                              std::to_string(limits.max_entries) +
                                              " entries ([bundles] max_entries)");
    }
    const char* raw_name = archive_entry_pathname(e);
    if (raw_name == nullptr)
      return entry_error("#" + std::to_string(entries), "entry without a path");
    auto norm = normalize_entry_path(raw_name, limits);
    if (!norm) return norm.error();
    const std::string& name = *norm;
    const std::string& shown = name.empty() ? std::string(raw_name) : name;
    mode_t type = archive_entry_filetype(e);
    const char* hardlink = archive_entry_hardlink(e);

    if (name.empty()) {
      if (type == AE_IFDIR) continue;  // "./": the root itself
      return entry_error(raw_name, "entry names the archive root");
    }
    auto parts = split_path(name);
    bool is_dir = type == AE_IFDIR;
    auto parent =
        open_dir_chain(dest_dirfd, parts, is_dir ? parts.size() : parts.size() - 1, shown, stats);
    if (!parent) return parent.error();
    if (is_dir) continue;
    const std::string& leaf = parts.back();

    if (hardlink != nullptr) {
      auto target = normalize_entry_path(hardlink, limits);
      if (!target || target->empty()) {
        return entry_error(shown,
                           std::string("hardlink to \"") + hardlink + "\" outside the bundle");
      }
      auto tparts = split_path(*target);
      auto tdir = open_dir_chain(dest_dirfd, tparts, tparts.size() - 1, shown, stats);
      if (!tdir) return tdir.error();
      struct stat st {};
      if (::fstatat(tdir->get(), tparts.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
          !S_ISREG(st.st_mode)) {
        return entry_error(shown, "hardlink to \"" + *target +
                                      "\", which is not a regular file extracted before it");
      }
      if (::linkat(tdir->get(), tparts.back().c_str(), parent->get(), leaf.c_str(), 0) != 0) {
        if (errno == EEXIST) return entry_error(shown, "appears twice in the archive");
        return util::errno_error("linkat(" + shown + ")", errno);
      }
      ++stats.files;
      continue;
    }

    switch (type) {
      case AE_IFLNK: {
        const char* target = archive_entry_symlink(e);
        if (target == nullptr || !symlink_target_inside(name, target)) {
          return entry_error(shown, std::string("symlink to \"") + (target ? target : "") +
                                        "\" points outside the bundle");
        }
        if (::symlinkat(target, parent->get(), leaf.c_str()) != 0) {
          if (errno == EEXIST) return entry_error(shown, "appears twice in the archive");
          return util::errno_error("symlinkat(" + shown + ")", errno);
        }
        ++stats.files;
        break;
      }
      case AE_IFREG: {
        mode_t mode = (archive_entry_perm(e) & 0111) != 0 ? 0755 : 0644;
        int fd = ::openat(parent->get(), leaf.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0) {
          if (errno == EEXIST) return entry_error(shown, "appears twice in the archive");
          return util::errno_error("openat(" + shown + ")", errno);
        }
        util::UniqueFd out(fd);
        if (::fchmod(fd, mode) != 0) return util::errno_error("fchmod(" + shown + ")", errno);
        for (;;) {
          la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
          if (n == 0) break;
          if (n < 0) {
            return make_error("invalid_archive",
                              "archive entry \"" + shown + "\": " + archive_error_string(a.get()),
                              shown);
          }
          stats.bytes += static_cast<std::uint64_t>(n);
          if (stats.bytes > space_left) {
            return make_error("no_space",
                              "archive entry \"" + shown +
                                  "\": the bundle store is full ([bundles] max_total_bytes)",
                              shown);
          }
          if (stats.bytes > limits.max_extracted_bytes) {
            return make_error("limit_exceeded",
                              "archive entry \"" + shown + "\": the extracted content exceeds " +
                                  std::to_string(limits.max_extracted_bytes) +
                                  " bytes ([bundles] max_extracted_bytes)",
                              shown);
          }
          if (!write_all(fd, buf.data(), static_cast<std::size_t>(n))) {
            return util::errno_error("write(" + shown + ")", errno);
          }
        }
        ++stats.files;
        break;
      }
      case AE_IFCHR:
      case AE_IFBLK:
        return entry_error(shown, "device nodes are not allowed");
      case AE_IFIFO:
        return entry_error(shown, "fifos are not allowed");
      case AE_IFSOCK:
        return entry_error(shown, "sockets are not allowed");
      default:
        return entry_error(shown, "unsupported entry type");
    }
  }
  return stats;
}

Result<void> remove_tree_at(int dirfd, const std::string& name) {
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return {};
    if (errno == ENOTDIR || errno == ELOOP) {
      if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) {
        return util::errno_error("unlinkat(" + name + ")", errno);
      }
      return {};
    }
    return util::errno_error("openat(" + name + ")", errno);
  }
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    int err = errno;
    ::close(fd);
    return util::errno_error("fdopendir(" + name + ")", err);
  }
  Result<void> result;
  while (dirent* de = ::readdir(d)) {
    std::string child = de->d_name;
    if (child == "." || child == "..") continue;
    if (de->d_type == DT_DIR) {
      auto r = remove_tree_at(::dirfd(d), child);
      if (!r && result) result = r;
    } else if (::unlinkat(::dirfd(d), child.c_str(), 0) != 0) {
      if (errno == EISDIR) {
        auto r = remove_tree_at(::dirfd(d), child);
        if (!r && result) result = r;
      } else if (errno != ENOENT && result) {
        result = util::errno_error("unlinkat(" + child + ")", errno);
      }
    }
  }
  ::closedir(d);
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT && result) {
    result = util::errno_error("rmdir(" + name + ")", errno);
  }
  return result;
}

}  // namespace paddock::bundles
