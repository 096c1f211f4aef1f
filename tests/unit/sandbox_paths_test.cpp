// Bundle path validation: the lexical rules and symlink resolution through a fake filesystem.
#include <gtest/gtest.h>

#include <map>

#include "paddock/sandbox/paths.hpp"

using namespace paddock;
using sandbox::FileKind;

namespace {

const std::vector<std::string> kRoots{"/srv/bundles"};

/// A filesystem made of a few directories and symlinks.
class FakeFs : public sandbox::FileSystem {
 public:
  void dir(const std::string& p) { kinds_[p] = FileKind::Directory; }
  void file(const std::string& p) { kinds_[p] = FileKind::Other; }
  void link(const std::string& p, const std::string& target) {
    kinds_[p] = FileKind::Symlink;
    links_[p] = target;
  }
  Result<FileKind> kind(const std::string& path) const override {
    if (path == "/") return FileKind::Directory;
    auto it = kinds_.find(path);
    return it == kinds_.end() ? FileKind::Missing : it->second;
  }
  Result<std::string> read_link(const std::string& path) const override { return links_.at(path); }

 private:
  std::map<std::string, FileKind> kinds_;
  std::map<std::string, std::string> links_;
};

FakeFs base_fs() {
  FakeFs fs;
  fs.dir("/srv");
  fs.dir("/srv/bundles");
  fs.dir("/srv/bundles/app");
  fs.dir("/srv/bundles/app/sub");
  fs.file("/srv/bundles/file.txt");
  fs.dir("/etc");
  fs.dir("/etc/paddock");
  return fs;
}

}  // namespace

TEST(BundlePathLexical, GivenACleanPathBelowARoot_ThenItIsAccepted) {
  auto r = sandbox::check_bundle_path_lexical("/srv/bundles/app", kRoots);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, "/srv/bundles/app");
  EXPECT_EQ(*sandbox::check_bundle_path_lexical("/srv//bundles/app/", kRoots), "/srv/bundles/app");
}

TEST(BundlePathLexical, GivenBadPaths_ThenEachIsRefusedWithTheReason) {
  const std::string nul("/srv/bundles/a\0b", 16);
  const std::string long_path = "/srv/bundles/" + std::string(5000 - 13, 'x');
  const std::string long_component = "/srv/bundles/" + std::string(300, 'y');
  const std::vector<std::pair<std::string, std::string>> cases{
      {"/srv/bundles/../../etc/paddock", "'..'"},
      {"/srv/bundles/app/..", "'..'"},
      {"/srv/bundles/./app", "'.'"},
      {"srv/bundles/app", "relative"},
      {"", "empty"},
      {nul, "NUL"},
      {long_path, "longer than"},
      {long_component, "component longer"},
      {"/etc/paddock", "not below a bundle root"},
      {"/srv/bundles", "not below a bundle root"},  // the root itself exposes every bundle
      {"/srv/bundlesX/app", "not below a bundle root"},
  };
  for (const auto& [path, why] : cases) {
    auto r = sandbox::check_bundle_path_lexical(path, kRoots);
    ASSERT_FALSE(r) << path;
    EXPECT_EQ(r.error().code, "invalid_bundle");
    EXPECT_EQ(r.error().field, "bundle");
    EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
  }
}

TEST(BundlePathLexical, GivenA5000CharPath_ThenTheMessageStaysShort) {
  const std::string long_path = "/srv/bundles/" + std::string(4987, 'x');
  auto r = sandbox::check_bundle_path_lexical(long_path, kRoots);
  ASSERT_FALSE(r);
  EXPECT_LT(r.error().message.size(), 400u);
}

TEST(BundlePathResolve, GivenASymlinkInsideTheRoots_ThenTheTargetIsReturned) {
  FakeFs fs = base_fs();
  fs.link("/srv/bundles/current", "app");
  auto r = sandbox::resolve_bundle_path("/srv/bundles/current", kRoots, fs);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, "/srv/bundles/app");
}

TEST(BundlePathResolve, GivenASymlinkEscapingTheRoots_ThenItIsRefused) {
  FakeFs fs = base_fs();
  fs.link("/srv/bundles/evil", "/etc/paddock");
  fs.link("/srv/bundles/evil2", "../../etc");
  fs.link("/srv/bundles/app/up", "../..");
  for (const char* p : {"/srv/bundles/evil", "/srv/bundles/evil2", "/srv/bundles/app/up"}) {
    auto r = sandbox::resolve_bundle_path(p, kRoots, fs);
    ASSERT_FALSE(r) << p;
    EXPECT_EQ(r.error().code, "invalid_bundle");
    EXPECT_NE(r.error().message.find("outside every bundle root"), std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find(p), std::string::npos);
  }
}

TEST(BundlePathResolve, GivenASymlinkedRoot_ThenBundlesBelowItAreAccepted) {
  FakeFs fs;
  fs.dir("/data");
  fs.dir("/data/bundles");
  fs.dir("/data/bundles/app");
  fs.dir("/srv");
  fs.link("/srv/bundles", "/data/bundles");
  auto r = sandbox::resolve_bundle_path("/srv/bundles/app", kRoots, fs);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, "/data/bundles/app");
}

TEST(BundlePathResolve, GivenMissingFilesLoopsOrNonDirectories_ThenClearErrors) {
  FakeFs fs = base_fs();
  fs.link("/srv/bundles/loop", "loop");
  EXPECT_FALSE(sandbox::resolve_bundle_path("/srv/bundles/missing", kRoots, fs));
  auto loop = sandbox::resolve_bundle_path("/srv/bundles/loop", kRoots, fs);
  ASSERT_FALSE(loop);
  EXPECT_NE(loop.error().message.find("symbolic links"), std::string::npos);
  auto file = sandbox::resolve_bundle_path("/srv/bundles/file.txt", kRoots, fs);
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().message.find("not a directory"), std::string::npos);
}

TEST(Paths, WithinAndNormalForm) {
  EXPECT_TRUE(sandbox::path_is_within("/a/b", "/a"));
  EXPECT_TRUE(sandbox::path_is_within("/a", "/a"));
  EXPECT_FALSE(sandbox::path_is_within("/ab", "/a"));
  EXPECT_TRUE(sandbox::path_is_within("/anything", "/"));
  EXPECT_TRUE(sandbox::is_normal_absolute_path("/"));
  EXPECT_FALSE(sandbox::is_normal_absolute_path("/a/"));
  EXPECT_FALSE(sandbox::is_normal_absolute_path("/a//b"));
  EXPECT_FALSE(sandbox::is_normal_absolute_path("/a/../b"));
  EXPECT_EQ(sandbox::parent_dir("/run/paddock/paddock.sock"), "/run/paddock");
  EXPECT_EQ(sandbox::parent_dir("/x"), "/");
}
