// `paddock run --file --collect` with the real CLI, daemon and spawner: a local file goes into
// the run's working directory, its output files land in the current directory, an existing file
// is kept without --force.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "support/daemon.hpp"
#include "support/shell.hpp"

namespace fs = std::filesystem;
using namespace paddock::test;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST(CliRunFiles, GivenFileAndCollectThenOutputFilesLandInTheCurrentDirectory) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: runs execute under their own UIDs";
  TestDaemon d;
  ASSERT_TRUE(d.started()) << d.start_error();
  const fs::path src = fs::path(d.dir()) / "src";
  const fs::path cwd = fs::path(d.dir()) / "cwd";
  fs::create_directories(src);
  fs::create_directories(cwd);
  std::ofstream(src / "main.sh") << "mkdir -p out; cat input.txt > out/copy.txt; "
                                    "head -c 3000 /dev/zero > out/z.bin; ln -s /etc/passwd out/p\n";
  std::ofstream(src / "in.txt") << "from the host\n";
  auto cli = [&](const std::string& flags) {
    return "cd " + cwd.string() + " && " + std::string(PADDOCK_CLI_PATH) + " --socket " +
           d.socket_path() + " run --file " + (src / "main.sh").string() + " --file " +
           (src / "in.txt").string() + "=input.txt --collect 'out/*' " + flags +
           " -- sh -c 'sh main.sh'";  // an option-like word after a list option and --
  };

  auto r = run_shell(cli(""));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(slurp(cwd / "out" / "copy.txt"), "from the host\n");
  EXPECT_EQ(fs::file_size(cwd / "out" / "z.bin"), 3000u);
  EXPECT_NE(r.output.find("paddock: collected out/copy.txt (14 bytes)"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("not collected: out/p"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(fs::symlink_status(cwd / "out" / "p")));

  // Again: the files exist now, so nothing is replaced and the CLI says what to do.
  std::ofstream(cwd / "out" / "copy.txt") << "mine\n";
  auto again = run_shell(cli(""));
  EXPECT_EQ(again.code, 1) << again.output;
  EXPECT_NE(again.output.find("--force"), std::string::npos) << again.output;
  EXPECT_EQ(slurp(cwd / "out" / "copy.txt"), "mine\n");
  auto forced = run_shell(cli("--force"));
  EXPECT_EQ(forced.code, 0) << forced.output;
  EXPECT_EQ(slurp(cwd / "out" / "copy.txt"), "from the host\n");
}
