// A run's files: path checks, glob components, byte budgets (pure), and the two filesystem walks
// on a temporary directory holding symlinks, a fifo and nested directories.
#include "paddock/runfiles/runfiles.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace paddock;
using namespace paddock::runfiles;

namespace {

/// A temporary directory named for this test file.
class TempDir : public paddock::test::TempDir {
 public:
  TempDir() : paddock::test::TempDir("paddock-runfiles") {}
};

void write(const std::string& path, const std::string& data) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << data;
}

std::map<std::string, Collected> by_path(const std::vector<Collected>& v) {
  std::map<std::string, Collected> out;
  for (const auto& c : v) out[c.path.empty() ? "pattern:" + c.pattern : c.path] = c;
  return out;
}

}  // namespace

TEST(RunFilesPaths, GivenRelativePathsThenOnlyPlainOnesPass) {
  const Caps caps;
  EXPECT_TRUE(check_relative_path("main.py", caps));
  EXPECT_TRUE(check_relative_path("src/pkg/mod.py", caps));
  EXPECT_TRUE(check_relative_path(".hidden", caps));
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../b", "a//b", "a/", "./a", "a/."}) {
    auto r = check_relative_path(bad, caps);
    EXPECT_FALSE(r) << bad;
  }
  EXPECT_FALSE(check_relative_path(std::string("a\0b", 3), caps));
  Caps small;
  small.max_path_length = 8;
  small.max_depth = 2;
  EXPECT_FALSE(check_relative_path("abcdefghi", small));
  EXPECT_FALSE(check_relative_path("a/b/c", small));
  EXPECT_TRUE(check_relative_path("a/b", small));
}

TEST(RunFilesPaths, GivenInputListsThenCountsSizesDuplicatesAndConflictsAreRefused) {
  Caps caps;
  caps.max_files = 2;
  caps.max_files_bytes = 10;
  EXPECT_TRUE(check_inputs({{"a", "12345"}, {"b/c", "12345"}}, caps));
  auto many = check_inputs({{"a", ""}, {"b", ""}, {"c", ""}}, caps);
  ASSERT_FALSE(many);
  EXPECT_EQ(many.error().code, "files_limit");
  EXPECT_EQ(many.error().field, "files");
  auto big = check_inputs({{"a", "123456"}, {"b", "123456"}}, caps);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, "files_limit");
  auto twice = check_inputs({{"a", ""}, {"a", ""}}, caps);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().field, "files.a");
  auto conflict = check_inputs({{"a", ""}, {"a/b", ""}}, caps);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().field, "files.a");
  auto up = check_inputs({{"../x", ""}}, caps);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().field, "files.../x");
}

TEST(RunFilesGlob, GivenComponentsThenFnmatchRulesWithoutLeadingDots) {
  EXPECT_TRUE(component_matches("*.png", "plot.png"));
  EXPECT_FALSE(component_matches("*.png", "plot.pngx"));
  EXPECT_FALSE(component_matches("*", ".secret"));
  EXPECT_TRUE(component_matches(".*", ".secret"));
  EXPECT_TRUE(component_matches("r?sult.json", "result.json"));
  EXPECT_TRUE(component_matches("[ab].txt", "b.txt"));
  EXPECT_TRUE(has_magic("*.png"));
  EXPECT_FALSE(has_magic("result.json"));
  EXPECT_NE(pattern_problem("../../etc/passwd", Caps{}), "");
  EXPECT_NE(pattern_problem("/etc/passwd", Caps{}), "");
  EXPECT_EQ(pattern_problem("out/*.png", Caps{}), "");
}

TEST(RunFilesBudget, GivenCapsThenPerFileAndTotalBytesAreTaken) {
  Caps caps;
  caps.collect_file_bytes = 10;
  caps.collect_total_bytes = 25;
  Budget b(caps);
  EXPECT_EQ(b.take(4), 4u);
  EXPECT_EQ(b.take(100), 10u);
  EXPECT_EQ(b.take(100), 10u);
  EXPECT_EQ(b.take(100), 1u);
  EXPECT_EQ(b.take(1), 0u);
  EXPECT_EQ(b.left(), 0u);
}

TEST(RunFilesWalk, GivenInputsThenTheyAreWrittenFreshWithModes) {
  TempDir t;
  const std::string dir = t.path() + "/w";
  const Caps caps;
  ASSERT_TRUE(write_inputs(dir, {{"main.py", "print(1)\n"}, {"pkg/sub/m.py", "x"}}, ::getuid(),
                           ::getgid(), caps));
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(::stat((dir + "/pkg/sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(::stat((dir + "/pkg/sub/m.py").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  std::ifstream in(dir + "/main.py");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "print(1)\n");
  // Never into a directory that exists already.
  EXPECT_FALSE(write_inputs(dir, {}, ::getuid(), ::getgid(), caps));
  EXPECT_FALSE(write_inputs(t.path() + "/v", {{"../escape", "x"}}, ::getuid(), ::getgid(), caps));
  EXPECT_FALSE(fs::exists(t.path() + "/escape"));
}

TEST(RunFilesWalk, GivenSymlinksFifosAndNestedDirsThenOnlyRegularFilesInsideAreRead) {
  TempDir t;
  const std::string dir = t.path();
  write(dir + "/out/a.png", std::string(3000, 'a'));
  write(dir + "/out/b.png", "bbb");
  write(dir + "/out/deep/c.png", "ccc");
  write(dir + "/result.json", "{\"ok\":true}");
  write(dir + "/outside/secret.png", "secret");
  ASSERT_EQ(::symlink("/etc/passwd", (dir + "/out/passwd.png").c_str()), 0);
  ASSERT_EQ(::symlink((dir + "/outside").c_str(), (dir + "/linkdir").c_str()), 0);
  ASSERT_EQ(::mkfifo((dir + "/out/fifo.png").c_str(), 0644), 0);

  Caps caps;
  caps.collect_file_bytes = 1000;
  auto got = by_path(collect(dir,
                             {"out/*.png", "result.json", "../../etc/passwd", "/etc/passwd",
                              "linkdir/*.png", "linkdir/secret.png", "missing.txt", "none/*.x"},
                             ::getuid(), ::getgid(), caps));
  ASSERT_EQ(got.count("out/a.png"), 1u);
  EXPECT_EQ(got["out/a.png"].size, 3000u);
  EXPECT_EQ(got["out/a.png"].content.size(), 1000u);
  EXPECT_TRUE(got["out/a.png"].truncated);
  EXPECT_EQ(got["out/b.png"].content, "bbb");
  EXPECT_FALSE(got["out/b.png"].truncated);
  EXPECT_EQ(got.count("out/deep/c.png"), 0u);  // '*' does not cross '/'
  EXPECT_EQ(got["result.json"].content, "{\"ok\":true}");
  EXPECT_NE(got["out/passwd.png"].error.find("symlink"), std::string::npos);
  EXPECT_EQ(got["out/passwd.png"].content, "");
  EXPECT_EQ(got["out/fifo.png"].error, "not a regular file");
  EXPECT_NE(got["pattern:../../etc/passwd"].error.find(".."), std::string::npos);
  EXPECT_NE(got["pattern:/etc/passwd"].error.find("absolute"), std::string::npos);
  EXPECT_NE(got["linkdir"].error.find("symlink"), std::string::npos);  // literal component
  EXPECT_EQ(got.count("pattern:linkdir/*.png"), 0u);  // its entry is the one for "linkdir"
  EXPECT_EQ(got["pattern:missing.txt"].error, "no such file");
  EXPECT_EQ(got["pattern:none/*.x"].error, "matched nothing");
  for (const auto& [path, c] : got) {
    EXPECT_EQ(c.content.find("secret"), std::string::npos) << path;
    EXPECT_EQ(c.content.find("root:"), std::string::npos) << path;
  }
}

TEST(RunFilesWalk, GivenTotalAndEntryCapsThenCollectionStops) {
  TempDir t;
  for (int i = 0; i < 5; ++i) write(t.path() + "/f" + std::to_string(i), std::string(10, 'x'));
  Caps caps;
  caps.collect_total_bytes = 25;
  auto got = collect(t.path(), {"f*"}, ::getuid(), ::getgid(), caps);
  ASSERT_EQ(got.size(), 5u);
  std::uint64_t total = 0;
  for (const auto& c : got) total += c.content.size();
  EXPECT_EQ(total, 25u);
  EXPECT_TRUE(got[2].truncated);
  EXPECT_TRUE(got[4].truncated);
  caps.max_collect_entries = 2;
  got = collect(t.path(), {"f*"}, ::getuid(), ::getgid(), caps);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_NE(got[2].error.find("more than 2"), std::string::npos);
}

TEST(RunFilesBlob, GivenSealedAndUnsealedMemfdsThenOnlySealedOnesAreRead) {
  auto fd = sealed_blob("hello");
  ASSERT_TRUE(fd);
  EXPECT_EQ(*read_sealed_blob(fd->get(), 100), "hello");
  EXPECT_FALSE(read_sealed_blob(fd->get(), 4));  // over the limit
  util::UniqueFd open(::memfd_create("x", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  ASSERT_EQ(::write(open.get(), "hi", 2), 2);
  EXPECT_FALSE(read_sealed_blob(open.get(), 100));
  EXPECT_EQ(::write(fd->get(), "x", 1), -1);  // the seal holds
}
