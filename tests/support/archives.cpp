#include "support/archives.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <stdexcept>

namespace paddock::test {
namespace {

la_ssize_t append(struct archive*, void* out, const void* buf, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

void check(struct archive* a, int r, const char* what) {
  if (r != ARCHIVE_OK) {
    throw std::runtime_error(std::string(what) + ": " +
                             (archive_error_string(a) ? archive_error_string(a) : "?"));
  }
}

}  // namespace

std::string make_archive(ArchiveFormat format, const std::vector<ArchiveEntry>& entries) {
  std::string out;
  struct archive* a = archive_write_new();
  if (format == ArchiveFormat::Zip) {
    archive_write_set_format_zip(a);
  } else {
    archive_write_set_format_pax_restricted(a);
    if (format == ArchiveFormat::TarGz) archive_write_add_filter_gzip(a);
    if (format == ArchiveFormat::TarZst) archive_write_add_filter_zstd(a);
  }
  archive_write_set_bytes_in_last_block(a, 1);
  check(a, archive_write_open(a, &out, nullptr, append, nullptr), "archive_write_open");
  const std::string zeros(1 << 20, '\0');
  for (const auto& e : entries) {
    archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.path.c_str());
    archive_entry_set_perm(ae, e.perm);
    archive_entry_set_uid(ae, 1234);
    archive_entry_set_gid(ae, 1234);
    if (e.hardlink) {
      archive_entry_set_hardlink(ae, e.link.c_str());
      archive_entry_set_filetype(ae, AE_IFREG);
      archive_entry_set_size(ae, 0);
    } else {
      archive_entry_set_filetype(ae, e.type);
      if (e.type == AE_IFLNK) archive_entry_set_symlink(ae, e.link.c_str());
      if (e.type == AE_IFCHR || e.type == AE_IFBLK) archive_entry_set_rdev(ae, makedev(1, 3));
      const std::uint64_t size = e.zeros ? e.zeros : e.content.size();
      archive_entry_set_size(ae, e.type == AE_IFREG ? static_cast<la_int64_t>(size) : 0);
    }
    const int r = archive_write_header(a, ae);
    archive_entry_free(ae);
    check(a, r, "archive_write_header");
    if (!e.hardlink && e.type == AE_IFREG) {
      for (std::uint64_t left = e.zeros; left > 0;) {
        const std::size_t n = std::min<std::uint64_t>(left, zeros.size());
        archive_write_data(a, zeros.data(), n);
        left -= n;
      }
      if (!e.zeros && !e.content.empty()) archive_write_data(a, e.content.data(), e.content.size());
    }
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

}  // namespace paddock::test
