#include "paddock/bundles/pack.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <vector>

#include "paddock/util/fd.hpp"

namespace paddock::bundles {
namespace {

la_ssize_t append(struct archive*, void* out, const void* buf, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

struct WriterDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

}  // namespace

Result<std::string> pack_directory(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return make_error("invalid_argument", dir + " is not a directory", "dir");
  }
  std::vector<fs::path> paths;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::none, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    paths.push_back(it->path());
  }
  if (ec) return make_error("io_error", "cannot list " + dir + ": " + ec.message(), "dir");
  std::sort(paths.begin(), paths.end());

  std::string out;
  std::unique_ptr<struct archive, WriterDeleter> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_add_filter_gzip(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open(a.get(), &out, nullptr, append, nullptr) != ARCHIVE_OK) {
    return make_error("internal",
                      std::string("archive_write_open: ") + archive_error_string(a.get()));
  }
  std::vector<char> buf(64 * 1024);
  for (const auto& p : paths) {
    const std::string rel = p.lexically_relative(dir).string();  // never through symlinks
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) return util::errno_error("lstat(" + p.string() + ")", errno);
    std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), rel.c_str());
    archive_entry_set_perm(e.get(), st.st_mode & 0777);
    archive_entry_set_mtime(e.get(), st.st_mtime, 0);
    util::UniqueFd fd;
    if (S_ISDIR(st.st_mode)) {
      archive_entry_set_filetype(e.get(), AE_IFDIR);
    } else if (S_ISLNK(st.st_mode)) {
      std::error_code lec;
      const auto target = fs::read_symlink(p, lec);
      if (lec)
        return make_error("io_error", "cannot read link " + p.string() + ": " + lec.message());
      archive_entry_set_filetype(e.get(), AE_IFLNK);
      archive_entry_set_symlink(e.get(), target.c_str());
    } else if (S_ISREG(st.st_mode)) {
      fd.reset(::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) return util::errno_error("open(" + p.string() + ")", errno);
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_size(e.get(), st.st_size);
    } else {
      return make_error("invalid_argument",
                        p.string() +
                            " is not a regular file, directory or symlink; remove it "
                            "from the directory to push",
                        "dir");
    }
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK) {
      return make_error("internal", rel + ": " + archive_error_string(a.get()));
    }
    if (fd) {
      std::int64_t left = st.st_size;  // what the header announced, even if the file grows
      while (left > 0) {
        const ssize_t n =
            ::read(fd.get(), buf.data(),
                   static_cast<std::size_t>(std::min<std::int64_t>(left, buf.size())));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return util::errno_error("read(" + p.string() + ")", errno);
        if (n == 0) return make_error("io_error", p.string() + " shrank while being packed");
        archive_write_data(a.get(), buf.data(), static_cast<std::size_t>(n));
        left -= n;
      }
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return make_error("internal",
                      std::string("archive_write_close: ") + archive_error_string(a.get()));
  }
  return out;
}

}  // namespace paddock::bundles
