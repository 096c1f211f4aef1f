// Archive intake: every hostile archive is refused with an error naming the entry, limits stop
// bombs, and the store never shows a partial bundle. Archives are generated here with
// libarchive's writer in the three accepted formats.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "paddock/bundles/archive.hpp"
#include "paddock/bundles/pack.hpp"
#include "paddock/bundles/store.hpp"
#include "paddock/util/crypto.hpp"
#include "support/archives.hpp"
#include "support/temp_dir.hpp"

// Entries are written as brace lists that name only the leading fields they need.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace fs = std::filesystem;
using namespace paddock;
using namespace paddock::bundles;

namespace {

using Fmt = paddock::test::ArchiveFormat;
using Entry = paddock::test::ArchiveEntry;

/// A temporary directory named for this test file.
class TempDir : public paddock::test::TempDir {
 public:
  TempDir() : paddock::test::TempDir("paddock-bundles") {}
};

/// Writes the entries as an archive to `file`.
void write_archive(const std::string& file, Fmt fmt, const std::vector<Entry>& entries) {
  std::ofstream(file, std::ios::binary) << paddock::test::make_archive(fmt, entries);
}

std::string read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// Extracts `entries` written in `fmt` into a fresh directory under `tmp`.
Result<ExtractStats> extract(const TempDir& tmp, Fmt fmt, const std::vector<Entry>& entries,
                             const Limits& limits = {}, const std::string& sub = "out") {
  std::string file = tmp.path() + "/" + sub + ".archive";
  write_archive(file, fmt, entries);
  std::string dest = tmp.path() + "/" + sub;
  fs::create_directory(dest);
  util::UniqueFd afd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  util::UniqueFd dfd(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return extract_archive(afd.get(), dfd.get(), limits);
}

const char* fmt_name(Fmt f) {
  return f == Fmt::TarGz ? "tar.gz" : f == Fmt::TarZst ? "tar.zst" : "zip";
}

}  // namespace

TEST(BundlesPaths, NormalizeAndRefuse) {
  Limits l;
  EXPECT_EQ(*normalize_entry_path("./a//b/", l), "a/b");
  EXPECT_EQ(*normalize_entry_path("./", l), "");
  EXPECT_EQ(normalize_entry_path("/etc/x", l).error().code, "invalid_entry");
  EXPECT_EQ(normalize_entry_path("a/../../x", l).error().code, "invalid_entry");
  EXPECT_EQ(normalize_entry_path("a/../b", l).error().field, "a/../b");
  l.max_depth = 3;
  EXPECT_TRUE(normalize_entry_path("a/b/c", l).ok());
  EXPECT_EQ(normalize_entry_path("a/b/c/d", l).error().code, "limit_exceeded");
  l.max_path_length = 8;
  EXPECT_EQ(normalize_entry_path("abcdefghi", l).error().code, "limit_exceeded");
}

TEST(BundlesPaths, SymlinkTargets) {
  EXPECT_TRUE(symlink_target_inside("a/link", "../b"));
  EXPECT_TRUE(symlink_target_inside("link", "sub/./x"));
  EXPECT_FALSE(symlink_target_inside("link", "../x"));
  EXPECT_FALSE(symlink_target_inside("a/link", "../../x"));
  EXPECT_FALSE(symlink_target_inside("a/link", "/etc"));
  EXPECT_FALSE(symlink_target_inside("a/link", ""));
  EXPECT_FALSE(symlink_target_inside("a/b/link", "x/../../../../etc"));
}

class BundlesFormats : public ::testing::TestWithParam<Fmt> {};

TEST_P(BundlesFormats, ExtractsTreeWithSafeModes) {
  TempDir tmp;
  auto r = extract(tmp, GetParam(),
                   {{"app/", AE_IFDIR, "", "", false, 0777},
                    {"app/main.py", AE_IFREG, "print(1)\n", "", false, 06777},
                    {"app/data.txt", AE_IFREG, "hello", "", false, 01666},
                    {"app/lib/mod.py", AE_IFREG, "x = 1\n"},
                    {"app/current", AE_IFLNK, "", "lib/mod.py", false, 0777}});
  ASSERT_TRUE(r.ok()) << fmt_name(GetParam()) << ": " << r.error().message;
  EXPECT_EQ(r->files, 4u);
  EXPECT_EQ(r->bytes, 9u + 5u + 6u);
  std::string out = tmp.path() + "/out/app";
  EXPECT_EQ(read_file(out + "/main.py"), "print(1)\n");
  struct stat st {};
  ASSERT_EQ(::stat((out + "/main.py").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u) << "setuid/setgid/sticky dropped, exec kept";
  EXPECT_EQ(st.st_uid, ::geteuid()) << "ownership from the archive is dropped";
  ASSERT_EQ(::stat((out + "/data.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(::stat((out + "/lib").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(fs::read_symlink(out + "/current").string(), "lib/mod.py");
}

TEST_P(BundlesFormats, RefusesDotDot) {
  TempDir tmp;
  auto r = extract(tmp, GetParam(), {{"ok.txt", AE_IFREG, "x"}, {"../../etc/x", AE_IFREG, "pwn"}});
  ASSERT_FALSE(r.ok()) << fmt_name(GetParam());
  EXPECT_EQ(r.error().code, "invalid_entry");
  EXPECT_NE(r.error().message.find("../../etc/x"), std::string::npos) << r.error().message;
  EXPECT_FALSE(fs::exists(tmp.path() + "/etc/x"));
}

TEST_P(BundlesFormats, RefusesAbsolutePath) {
  TempDir tmp;
  std::string target = tmp.path() + "/abs-target";
  auto r = extract(tmp, GetParam(), {{target, AE_IFREG, "pwn"}});
  ASSERT_FALSE(r.ok()) << fmt_name(GetParam());
  EXPECT_EQ(r.error().code, "invalid_entry");
  EXPECT_NE(r.error().message.find("absolute"), std::string::npos) << r.error().message;
  EXPECT_FALSE(fs::exists(target));
}

TEST_P(BundlesFormats, RefusesSymlinkOutside) {
  TempDir tmp;
  auto r = extract(tmp, GetParam(), {{"etc", AE_IFLNK, "", "/etc"}, {"etc/x", AE_IFREG, "pwn"}});
  ASSERT_FALSE(r.ok()) << fmt_name(GetParam());
  EXPECT_EQ(r.error().code, "invalid_entry");
  EXPECT_EQ(r.error().field, "etc");
  EXPECT_NE(r.error().message.find("outside"), std::string::npos) << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(All, BundlesFormats, ::testing::Values(Fmt::TarGz, Fmt::TarZst, Fmt::Zip),
                         [](const auto& p) {
                           return p.param == Fmt::TarGz    ? std::string("TarGz")
                                  : p.param == Fmt::TarZst ? std::string("TarZst")
                                                           : std::string("Zip");
                         });

TEST(BundlesArchive, RefusesWritingThroughAnInsideSymlink) {
  TempDir tmp;
  // The link itself stays inside, but an entry written through it must not follow it.
  auto r =
      extract(tmp, Fmt::TarGz,
              {{"real/", AE_IFDIR}, {"alias", AE_IFLNK, "", "real"}, {"alias/x", AE_IFREG, "y"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_entry");
  EXPECT_EQ(r.error().field, "alias/x");
  EXPECT_FALSE(fs::exists(tmp.path() + "/out/real/x"));
}

TEST(BundlesArchive, RefusesEscapingRelativeSymlink) {
  TempDir tmp;
  auto r = extract(tmp, Fmt::TarZst, {{"a/b/up", AE_IFLNK, "", "../../../outside"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "a/b/up");
}

TEST(BundlesArchive, RefusesHardlinkOutside) {
  TempDir tmp;
  auto r = extract(tmp, Fmt::TarGz, {{"shadow", AE_IFREG, "", "/etc/shadow", true}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_entry");
  EXPECT_EQ(r.error().field, "shadow");
  EXPECT_NE(r.error().message.find("hardlink"), std::string::npos) << r.error().message;
  auto r2 = extract(tmp, Fmt::TarGz, {{"x", AE_IFREG, "", "../x", true}}, {}, "out2");
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().field, "x");
}

TEST(BundlesArchive, AcceptsHardlinkInside) {
  TempDir tmp;
  auto r = extract(tmp, Fmt::TarGz,
                   {{"a.txt", AE_IFREG, "same"}, {"b.txt", AE_IFREG, "", "a.txt", true}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(read_file(tmp.path() + "/out/b.txt"), "same");
}

TEST(BundlesArchive, RefusesSpecialFiles) {
  TempDir tmp;
  auto dev = extract(tmp, Fmt::TarGz, {{"null", AE_IFCHR}}, {}, "d1");
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.error().field, "null");
  EXPECT_NE(dev.error().message.find("device"), std::string::npos);
  auto blk = extract(tmp, Fmt::TarGz, {{"sda", AE_IFBLK}}, {}, "d2");
  ASSERT_FALSE(blk.ok());
  EXPECT_EQ(blk.error().field, "sda");
  auto fifo = extract(tmp, Fmt::TarZst, {{"pipe", AE_IFIFO}}, {}, "d3");
  ASSERT_FALSE(fifo.ok());
  EXPECT_NE(fifo.error().message.find("fifo"), std::string::npos);
  EXPECT_FALSE(fs::exists(tmp.path() + "/d1/null"));
}

TEST(BundlesArchive, RefusesDuplicateEntry) {
  TempDir tmp;
  auto r = extract(tmp, Fmt::TarGz, {{"a", AE_IFREG, "1"}, {"a", AE_IFREG, "2"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("twice"), std::string::npos);
}

TEST(BundlesArchive, BombStopsAtTheLimit) {
  TempDir tmp;
  Limits l;
  l.max_extracted_bytes = 4 << 20;
  Entry bomb{"zeros.bin"};
  bomb.zeros = 64ULL << 20;
  auto r = extract(tmp, Fmt::TarZst, {bomb}, l);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "limit_exceeded");
  EXPECT_EQ(r.error().field, "zeros.bin");
  struct stat st {};
  ASSERT_EQ(::stat((tmp.path() + "/out/zeros.bin").c_str(), &st), 0);
  EXPECT_LE(static_cast<std::uint64_t>(st.st_size), l.max_extracted_bytes)
      << "writing stopped at the limit";
}

TEST(BundlesArchive, EntryCountLimit) {
  TempDir tmp;
  Limits l;
  l.max_entries = 50;
  std::vector<Entry> many;
  for (int i = 0; i < 200; ++i) many.push_back({"f" + std::to_string(i), AE_IFREG});
  auto r = extract(tmp, Fmt::TarGz, many, l);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "limit_exceeded");
  EXPECT_NE(r.error().message.find("more than 50 entries"), std::string::npos);
}

TEST(BundlesArchive, DeepPathRefused) {
  TempDir tmp;
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += "a/";
  deep += "x";
  auto r = extract(tmp, Fmt::TarGz, {{deep, AE_IFREG, "x"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "limit_exceeded");
  EXPECT_FALSE(fs::exists(tmp.path() + "/out/a"));
}

TEST(BundlesArchive, NotAnArchive) {
  TempDir tmp;
  std::string file = tmp.path() + "/plain";
  std::ofstream(file) << "just some text, not an archive\n";
  util::UniqueFd afd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  util::UniqueFd dfd(::open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto r = extract_archive(afd.get(), dfd.get(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_archive");
}

// ---- Store ----

namespace {

Result<AddResult> add_file(Store& store, const std::string& file) {
  auto up = store.begin_upload();
  if (!up) return up.error();
  std::string body = read_file(file);
  // Feed it in pieces, as the HTTP server does.
  for (std::size_t off = 0; off < body.size(); off += 1000) {
    if (auto w = up->write(std::string_view(body).substr(off, 1000)); !w) return w.error();
  }
  auto sha = up->finish();
  if (!sha) return sha.error();
  EXPECT_EQ(*sha, util::sha256_hex(body));
  return store.add(*up, *sha);
}

std::size_t count_entries(const std::string& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST(BundlesStore, SameArchiveSameIdNoSecondCopy) {
  TempDir tmp;
  StoreConfig cfg;
  cfg.dir = tmp.path() + "/store";
  auto store = Store::open(cfg);
  ASSERT_TRUE(store.ok()) << store.error().message;
  std::string file = tmp.path() + "/app.tar.gz";
  write_archive(file, Fmt::TarGz, {{"app.py", AE_IFREG, "print('hi')\n"}});
  auto a = add_file(**store, file);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_TRUE(a->created);
  EXPECT_TRUE(valid_bundle_id(a->info.id)) << a->info.id;
  EXPECT_EQ(a->info.files, 1u);
  EXPECT_EQ(a->info.size_bytes, fs::file_size(file));
  auto b = add_file(**store, file);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->created);
  EXPECT_EQ(b->info.id, a->info.id);
  EXPECT_EQ((*store)->list().size(), 1u);
  EXPECT_EQ(count_entries(cfg.dir), 2u) << "one bundle and .tmp";
  EXPECT_EQ(count_entries(cfg.dir + "/.tmp"), 0u) << "uploads and extractions cleaned up";
  std::string content = (*store)->content_path(a->info.id);
  EXPECT_EQ(read_file(content + "/app.py"), "print('hi')\n");
  struct stat st {};
  ASSERT_EQ(::stat(cfg.dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);

  ASSERT_TRUE((*store)->remove(a->info.id).ok());
  EXPECT_FALSE((*store)->get(a->info.id));
  EXPECT_FALSE(fs::exists(cfg.dir + "/" + a->info.id));
  EXPECT_EQ((*store)->remove(a->info.id).error().code, "not_found");
}

TEST(BundlesStore, HostileArchiveLeavesNothing) {
  TempDir tmp;
  StoreConfig cfg;
  cfg.dir = tmp.path() + "/store";
  auto store = Store::open(cfg);
  ASSERT_TRUE(store.ok());
  std::string file = tmp.path() + "/bad.zip";
  write_archive(file, Fmt::Zip, {{"fine.txt", AE_IFREG, "ok"}, {"../escape", AE_IFREG, "x"}});
  auto r = add_file(**store, file);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "../escape");
  EXPECT_TRUE((*store)->list().empty());
  EXPECT_EQ(count_entries(cfg.dir), 1u);
  EXPECT_EQ(count_entries(cfg.dir + "/.tmp"), 0u);
}

TEST(BundlesStore, QuotaAndUploadLimit) {
  TempDir tmp;
  StoreConfig cfg;
  cfg.dir = tmp.path() + "/store";
  cfg.max_total_bytes = 1500;
  cfg.limits.max_compressed_bytes = 4096;
  auto store = Store::open(cfg);
  ASSERT_TRUE(store.ok());
  std::string a = tmp.path() + "/a.tar.gz";
  std::string b = tmp.path() + "/b.tar.gz";
  write_archive(a, Fmt::TarGz, {{"a", AE_IFREG, std::string(1000, 'a')}});
  write_archive(b, Fmt::TarGz, {{"b", AE_IFREG, std::string(1000, 'b')}});
  ASSERT_TRUE(add_file(**store, a).ok());
  auto full = add_file(**store, b);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, "no_space");
  EXPECT_EQ((*store)->list().size(), 1u);
  EXPECT_EQ((*store)->total_bytes(), 1000u);

  auto up = (*store)->begin_upload();
  ASSERT_TRUE(up.ok());
  EXPECT_TRUE(up->write(std::string(4096, 'x')).ok());
  auto over = up->write("y");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, "too_large");
}

TEST(BundlesStore, RefusesUnsearchableParent) {
  TempDir tmp;
  std::string parent = tmp.path() + "/private";
  ASSERT_EQ(::mkdir(parent.c_str(), 0700), 0);
  StoreConfig cfg;
  cfg.dir = parent + "/store";
  auto store = Store::open(cfg);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().field, "bundles.dir");
  EXPECT_NE(store.error().message.find(parent), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find("searchable"), std::string::npos);
}

TEST(BundlesPack, PackedDirectoryExtractsToTheSameTreeWithLinksKept) {
  TempDir tmp;
  const std::string src = tmp.path() + "/src";
  fs::create_directories(src + "/www");
  std::ofstream(src + "/www/index.html") << "<h1>hi</h1>";
  std::ofstream(src + "/run.sh") << "echo";
  fs::permissions(src + "/run.sh", fs::perms::owner_exec, fs::perm_options::add);
  fs::create_symlink("www/index.html", src + "/index");
  auto packed = pack_directory(src);
  ASSERT_TRUE(packed.ok()) << packed.error().message;
  const std::string file = tmp.path() + "/packed.tar.gz";
  std::ofstream(file, std::ios::binary) << *packed;
  fs::create_directory(tmp.path() + "/out");
  util::UniqueFd afd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  util::UniqueFd dfd(::open((tmp.path() + "/out").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto r = extract_archive(afd.get(), dfd.get(), {});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->files, 3u);
  EXPECT_EQ(read_file(tmp.path() + "/out/www/index.html"), "<h1>hi</h1>");
  EXPECT_EQ(fs::read_symlink(tmp.path() + "/out/index").string(), "www/index.html");
  struct stat st {};
  ASSERT_EQ(::stat((tmp.path() + "/out/run.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  EXPECT_EQ(pack_directory(tmp.path() + "/missing").error().field, "dir");
}
