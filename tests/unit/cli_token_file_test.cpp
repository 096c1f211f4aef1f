// `paddock token create`: the token-file line and appending to a real file.
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "paddock/api/auth.hpp"
#include "paddock/cli/token_file.hpp"
#include "paddock/util/crypto.hpp"

using namespace paddock;
using namespace paddock::cli;

namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/paddock-cli-token-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(CliTokenLine, GivenNewNameThenLineHoldsTheHashNotTheToken) {
  auto line = token_line("web", "write", "pdk_secret", "# comment\n", "tokens");
  ASSERT_TRUE(line.ok()) << line.error().message;
  EXPECT_EQ(*line, "web write sha256:" + util::sha256_hex("pdk_secret") + "\n");
  EXPECT_EQ(line->find("pdk_secret"), std::string::npos);
}

TEST(CliTokenLine, GivenExistingNameBadNameBadScopeOrBrokenFileThenRefused) {
  const std::string existing = "web read sha256:" + util::sha256_hex("x") + "\n";
  auto dup = token_line("web", "write", "t", existing, "/etc/paddock/tokens");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, "token_exists");
  EXPECT_NE(dup.error().message.find("already exists in /etc/paddock/tokens"), std::string::npos);
  EXPECT_EQ(token_line("bad name", "read", "t", "", "f").error().code, "usage");
  EXPECT_EQ(token_line(std::string(65, 'a'), "read", "t", "", "f").error().code, "usage");
  EXPECT_EQ(token_line("ok", "admin", "t", "", "f").error().code, "usage");
  auto broken = token_line("ok", "read", "t", "garbage line\n", "f");
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().code, "invalid_token_file");
  EXPECT_NE(broken.error().message.find("fix the file"), std::string::npos);
}

TEST(CliTokenFile, GivenMissingFileThenCreatedForTheDaemonsGroupAndItsParserAcceptsIt) {
  TempDir dir;
  const auto path = dir.file("tokens");
  const mode_t old = ::umask(0);  // the mode must not depend on the umask
  auto token = create_token(path, "web", "write");
  ::umask(old);
  ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_EQ(token->rfind("pdk_", 0), 0u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  // 0640 group paddock where the daemon's group exists (the daemon reads it after dropping to
  // paddock), else 0600.
  const struct group* daemon_group = ::getgrnam("paddock");
  if (daemon_group != nullptr) {
    EXPECT_EQ(st.st_mode & 07777, 0640u);
    EXPECT_EQ(st.st_gid, daemon_group->gr_gid);
  } else {
    EXPECT_EQ(st.st_mode & 07777, 0600u);
  }

  auto second = create_token(path, "grafana", "read");
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_NE(*token, *second);

  auto entries = api::parse_token_file(slurp(path), path);
  ASSERT_TRUE(entries.ok()) << entries.error().message;
  ASSERT_EQ(entries->size(), 2u);
  api::TokenStore store(*entries);
  EXPECT_EQ(store.lookup(*token)->name, "web");
  EXPECT_EQ(store.lookup(*second)->scope, api::Scope::Read);
}

TEST(CliTokenFile, GivenDuplicateNameThenFileIsUnchanged) {
  TempDir dir;
  const auto path = dir.file("tokens");
  std::ofstream(path) << "web write sha256:" << util::sha256_hex("x");  // no final newline
  ASSERT_TRUE(create_token(path, "other", "read").ok());
  const auto before = slurp(path);
  EXPECT_NE(before.find(util::sha256_hex("x") + "\nother read sha256:"), std::string::npos)
      << before;
  auto dup = create_token(path, "web", "read");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, "token_exists");
  EXPECT_EQ(slurp(path), before);
}

TEST(CliTokenFile, GivenBadArgumentsOrMissingDirectoryThenNoFileIsCreated) {
  TempDir dir;
  const auto path = dir.file("tokens");
  EXPECT_EQ(create_token(path, "bad name", "read").error().code, "usage");
  EXPECT_FALSE(std::filesystem::exists(path));
  auto missing = create_token(dir.file("nodir/tokens"), "a", "read");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("ENOENT"), std::string::npos) << missing.error().message;
}
