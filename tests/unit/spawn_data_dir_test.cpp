// spawn::remove_data_dir: what a worker can leave in its data directory, and what must survive.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "paddock/spawn/spawn.hpp"

namespace fs = std::filesystem;
using paddock::spawn::remove_data_dir;

namespace {

class RemoveDataDir : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "paddock-rmdata-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(root_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(root_, ec);
  }
  fs::path root_;
};

TEST_F(RemoveDataDir, GivenAnEmptyDirectory_ThenItIsGone) {
  const fs::path d = root_ / "r-empty";
  ASSERT_TRUE(fs::create_directory(d));
  ASSERT_TRUE(remove_data_dir(d.string()));
  EXPECT_FALSE(fs::exists(fs::symlink_status(d)));
}

TEST_F(RemoveDataDir, GivenAMissingDirectory_ThenNoError) {
  EXPECT_TRUE(remove_data_dir((root_ / "r-never-made").string()));
}

TEST_F(RemoveDataDir, GivenFilesLockedDirectoriesAndLinksOut_ThenAllIsGoneAndTheTargetsStay) {
  const fs::path outside = root_ / "outside";
  ASSERT_TRUE(fs::create_directory(outside));
  std::ofstream(outside / "keep") << "host file";

  const fs::path d = root_ / "r-full";
  ASSERT_TRUE(fs::create_directories(d / "a" / "b"));
  std::ofstream(d / "a" / "b" / "file") << "x";
  std::ofstream(d / "top") << "y";
  fs::create_symlink(outside, d / "link-to-dir");
  fs::create_symlink(outside / "keep", d / "a" / "link-to-file");
  // Modes a worker may leave: nothing readable, nothing writable.
  ASSERT_EQ(::chmod((d / "a" / "b").c_str(), 0), 0);
  ASSERT_EQ(::chmod((d / "a").c_str(), 0), 0);
  ASSERT_EQ(::chown((d / "a").c_str(), 4321, 4321), 0);

  auto r = remove_data_dir(d.string());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(fs::exists(fs::symlink_status(d)));
  EXPECT_TRUE(fs::exists(outside / "keep"));
  std::ifstream in(outside / "keep");
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "host file");
}

TEST_F(RemoveDataDir, GivenTheDirectoryReplacedByASymlink_ThenOnlyTheLinkGoes) {
  const fs::path target = root_ / "target";
  ASSERT_TRUE(fs::create_directory(target));
  std::ofstream(target / "keep") << "k";
  const fs::path d = root_ / "r-link";
  fs::create_symlink(target, d);

  ASSERT_TRUE(remove_data_dir(d.string()));
  EXPECT_FALSE(fs::exists(fs::symlink_status(d)));
  EXPECT_TRUE(fs::exists(target / "keep"));
}

}  // namespace
