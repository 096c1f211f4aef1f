// `paddock bundle push|ls|rm` with the real CLI and daemon: a directory is packed on the fly,
// uploaded, listed, used by `paddock run --bundle`, and deleted.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/daemon.hpp"

namespace fs = std::filesystem;
using namespace paddock::test;

namespace {

struct Ran {
  int code = -1;
  std::string out;  // stdout and stderr
};

Ran run(const std::string& cmd) {
  Ran r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

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
  ASSERT_EQ(push.code, 0) << push.out;
  const std::string id = trimmed(push.out);
  ASSERT_EQ(id.rfind("b-", 0), 0u) << push.out;

  auto ls = run(cli + "bundle ls");
  ASSERT_EQ(ls.code, 0) << ls.out;
  EXPECT_NE(ls.out.find(id), std::string::npos) << ls.out;

  auto r = run(cli + "run --bundle " + id + " -- sh -c 'sh /app/run.sh; cat /app/index'");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "<h1>hello</h1>\n<h1>hello</h1>\n");

  auto bad = run(cli + "bundle push " + d.dir() + "/missing");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("neither a directory nor a readable archive"), std::string::npos)
      << bad.out;

  auto rm = run(cli + "bundle rm " + id);
  EXPECT_EQ(rm.code, 0) << rm.out;
  auto rm_again = run(cli + "bundle rm " + id);
  EXPECT_NE(rm_again.code, 0) << rm_again.out;
  EXPECT_NE(rm_again.out.find("no bundle"), std::string::npos) << rm_again.out;
  EXPECT_EQ(run(cli + "bundle ls").out.find(id), std::string::npos);
}
