// `paddock bundle push|ls|rm` with the real CLI and daemon: a directory is packed on the fly,
// uploaded, listed, used by `paddock run --bundle`, and deleted.
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

ShellResult run(const std::string& cmd) { return run_shell(cmd); }

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

TEST(CliBundle, GivenADirectoryThenPushLsRunAndRmWork) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
  TestDaemon d;
  ASSERT_TRUE(d.started()) << d.start_error();
  const std::string cli = std::string(PADDOCK_CLI_PATH) + " --socket " + d.socket_path() + " ";

  const fs::path app = fs::path(d.dir()) / "myapp";
  fs::create_directories(app / "www");
  std::ofstream(app / "www" / "index.html") << "<h1>hello</h1>\n";
  std::ofstream(app / "run.sh") << "cat /app/www/index.html\n";
  fs::create_symlink("www/index.html", app / "index");

  auto push = run(cli + "bundle push " + app.string());
  ASSERT_EQ(push.code, 0) << push.output;
  const std::string id = trimmed(push.output);
  ASSERT_EQ(id.rfind("b-", 0), 0u) << push.output;

  auto ls = run(cli + "bundle ls");
  ASSERT_EQ(ls.code, 0) << ls.output;
  EXPECT_NE(ls.output.find(id), std::string::npos) << ls.output;

  auto r = run(cli + "run --bundle " + id + " -- sh -c 'sh /app/run.sh; cat /app/index'");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output, "<h1>hello</h1>\n<h1>hello</h1>\n");

  auto bad = run(cli + "bundle push " + d.dir() + "/missing");
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("neither a directory nor a readable archive"), std::string::npos)
      << bad.output;

  auto rm = run(cli + "bundle rm " + id);
  EXPECT_EQ(rm.code, 0) << rm.output;
  auto rm_again = run(cli + "bundle rm " + id);
  EXPECT_NE(rm_again.code, 0) << rm_again.output;
  EXPECT_NE(rm_again.output.find("no bundle"), std::string::npos) << rm_again.output;
  EXPECT_EQ(run(cli + "bundle ls").output.find(id), std::string::npos);
}
