#include "paddock/bundles/store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "paddock/util/crypto.hpp"
#include "paddock/util/fd.hpp"

namespace paddock::bundles {
namespace {

constexpr std::size_t kIdHexDigits = 24;

std::string now_rfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json to_json(const BundleInfo& b) {
  return {{"id", b.id},
          {"sha256", b.sha256},
          {"size_bytes", b.size_bytes},
          {"extracted_bytes", b.extracted_bytes},
          {"files", b.files},
          {"created_at", b.created_at}};
}

std::optional<BundleInfo> read_meta(const std::string& dir, const std::string& id) {
  std::string text = util::read_small_file(dir + "/" + id + "/meta.json");
  if (text.empty()) return std::nullopt;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  BundleInfo b;
  b.id = id;
  b.sha256 = j.value("sha256", "");
  b.size_bytes = j.value("size_bytes", std::uint64_t{0});
  b.extracted_bytes = j.value("extracted_bytes", std::uint64_t{0});
  b.files = j.value("files", std::uint64_t{0});
  b.created_at = j.value("created_at", "");
  return b;
}

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Result<void> mkdir_mode(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return util::errno_error("mkdir(" + path + ")", errno);
  }
  if (::chmod(path.c_str(), mode) != 0) return util::errno_error("chmod(" + path + ")", errno);
  return {};
}

}  // namespace

bool valid_bundle_id(const std::string& id) {
  if (id.size() != 2 + kIdHexDigits || id.rfind("b-", 0) != 0) return false;
  return std::all_of(id.begin() + 2, id.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Result<void> check_traversable(const std::string& dir) {
  if (dir.empty() || dir.front() != '/') {
    return make_error("invalid_config", "[bundles] dir must be an absolute path", "bundles.dir");
  }
  std::string path = dir;
  for (;;) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return util::errno_error("lstat(" + path + ")", errno);
    if (S_ISLNK(st.st_mode)) {
      return make_error("invalid_config",
                        "[bundles] dir: " + path + " is a symlink; give the real path",
                        "bundles.dir");
    }
    if ((st.st_mode & S_IXOTH) == 0) {
      return make_error("invalid_config",
                        "[bundles] dir: " + path + " is not searchable by other users (mode " +
                            octal(st.st_mode) +
                            "); bwrap opens bundles as the worker's UID, so every "
                            "parent of the store must have o+x (e.g. chmod 0711 " +
                            path + "), or put the store elsewhere",
                        "bundles.dir");
    }
    if ((st.st_mode & S_IWOTH) != 0 && (st.st_mode & S_ISVTX) == 0) {
      return make_error("invalid_config",
                        "[bundles] dir: " + path +
                            " is writable by every user; choose a directory "
                            "whose parents only root can write",
                        "bundles.dir");
    }
    if (path == "/") break;
    auto slash = path.find_last_of('/');
    path = slash == 0 ? "/" : path.substr(0, slash);
  }
  return {};
}

Result<std::unique_ptr<Store>> Store::open(StoreConfig config) {
  while (config.dir.size() > 1 && config.dir.back() == '/') config.dir.pop_back();
  if (config.dir.empty() || config.dir.front() != '/') {
    return make_error("invalid_config", "[bundles] dir must be an absolute path", "bundles.dir");
  }
  if (auto r = mkdir_mode(config.dir, 0711); !r) return r.error();
  if (auto r = check_traversable(config.dir); !r) return r.error();
  util::UniqueFd dirfd(::open(config.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dirfd) return util::errno_error("open(" + config.dir + ")", errno);
  if (auto r = remove_tree_at(dirfd.get(), ".tmp"); !r) return r.error();
  if (auto r = mkdir_mode(config.dir + "/.tmp", 0700); !r) return r.error();
  // Half-made bundles cannot exist (they are renamed in whole); stray "b-*" without meta.json
  // would be from a crash during remove(): finish removing them.
  DIR* d = ::opendir(config.dir.c_str());
  if (d != nullptr) {
    std::vector<std::string> stray;
    while (dirent* de = ::readdir(d)) {
      std::string name = de->d_name;
      if (valid_bundle_id(name) && !read_meta(config.dir, name)) stray.push_back(name);
    }
    ::closedir(d);
    for (const auto& s : stray) (void)remove_tree_at(dirfd.get(), s);
  }
  return std::unique_ptr<Store>(new Store(std::move(config)));
}

Result<Upload> Store::begin_upload() const {
  return Upload::create(config_.dir + "/.tmp", config_.limits.max_compressed_bytes);
}

Result<AddResult> Store::add(Upload& upload, const std::string& sha256) {
  std::lock_guard lock(mu_);
  std::string id = "b-" + sha256.substr(0, kIdHexDigits);
  if (auto existing = read_meta(config_.dir, id)) return AddResult{*existing, false};

  std::uint64_t used = 0;
  for (const auto& b : list_unlocked_()) used += b.extracted_bytes;
  std::uint64_t space_left = used >= config_.max_total_bytes ? 0 : config_.max_total_bytes - used;

  std::string tmp_rel = ".tmp/" + util::random_id("x-");
  std::string tmp = config_.dir + "/" + tmp_rel;
  util::UniqueFd storefd(::open(config_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!storefd) return util::errno_error("open(" + config_.dir + ")", errno);
  auto cleanup = [&] { (void)remove_tree_at(storefd.get(), tmp_rel); };
  if (::mkdir(tmp.c_str(), 0755) != 0) return util::errno_error("mkdir(" + tmp + ")", errno);
  if (::mkdir((tmp + "/root").c_str(), 0755) != 0 || ::chmod(tmp.c_str(), 0755) != 0 ||
      ::chmod((tmp + "/root").c_str(), 0755) != 0) {
    int err = errno;
    cleanup();
    return util::errno_error("mkdir(" + tmp + "/root)", err);
  }
  util::UniqueFd rootfd(
      ::open((tmp + "/root").c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!rootfd) {
    int err = errno;
    cleanup();
    return util::errno_error("open(" + tmp + "/root)", err);
  }
  auto stats = extract_archive(upload.fd(), rootfd.get(), config_.limits, space_left);
  rootfd.reset();
  if (!stats) {
    cleanup();
    return stats.error();
  }
  BundleInfo info{id, sha256, upload.size(), stats->bytes, stats->files, now_rfc3339()};
  std::string meta = to_json(info).dump(2) + "\n";
  util::UniqueFd mfd(
      ::open((tmp + "/meta.json").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!mfd || ::write(mfd.get(), meta.data(), meta.size()) != static_cast<ssize_t>(meta.size()) ||
      ::fsync(mfd.get()) != 0) {
    int err = errno;
    cleanup();
    return util::errno_error("write(" + tmp + "/meta.json)", err);
  }
  mfd.reset();
  if (::renameat(storefd.get(), tmp_rel.c_str(), storefd.get(), id.c_str()) != 0) {
    int err = errno;
    cleanup();
    if (err == EEXIST || err == ENOTEMPTY) {
      if (auto existing = read_meta(config_.dir, id)) return AddResult{*existing, false};
    }
    return util::errno_error("rename(" + tmp + ", " + id + ")", err);
  }
  return AddResult{info, true};
}

std::vector<BundleInfo> Store::list_unlocked_() const {
  std::vector<BundleInfo> out;
  DIR* d = ::opendir(config_.dir.c_str());
  if (d == nullptr) return out;
  while (dirent* de = ::readdir(d)) {
    std::string name = de->d_name;
    if (!valid_bundle_id(name)) continue;
    if (auto b = read_meta(config_.dir, name)) out.push_back(std::move(*b));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

std::vector<BundleInfo> Store::list() const {
  std::lock_guard lock(mu_);
  return list_unlocked_();
}

std::optional<BundleInfo> Store::get(const std::string& id) const {
  if (!valid_bundle_id(id)) return std::nullopt;
  std::lock_guard lock(mu_);
  return read_meta(config_.dir, id);
}

Result<void> Store::remove(const std::string& id) {
  if (!valid_bundle_id(id)) return make_error("not_found", "no bundle " + id, "id");
  std::lock_guard lock(mu_);
  if (!read_meta(config_.dir, id)) return make_error("not_found", "no bundle " + id, "id");
  util::UniqueFd storefd(::open(config_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!storefd) return util::errno_error("open(" + config_.dir + ")", errno);
  // meta.json first: from then on the id is gone, even if removing the tree is interrupted.
  std::string meta_rel = id + "/meta.json";
  if (::unlinkat(storefd.get(), meta_rel.c_str(), 0) != 0) {
    return util::errno_error("unlink(" + meta_rel + ")", errno);
  }
  return remove_tree_at(storefd.get(), id);
}

std::string Store::content_path(const std::string& id) const {
  if (!get(id)) return "";
  return config_.dir + "/" + id + "/root";
}

std::uint64_t Store::total_bytes() const {
  std::uint64_t sum = 0;
  for (const auto& b : list()) sum += b.extracted_bytes;
  return sum;
}

}  // namespace paddock::bundles
