// `paddock install-apparmor`: writes the shipped profile (byte for byte) into --target, is
// idempotent, and says clearly what it did on hosts with and without AppArmor.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

struct Ran {
  int exit_code = -1;
  std::string output;
};

Ran run(const std::string& cmd) {
  Ran r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "paddock-aa-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path path() const { return path_; }

 private:
  fs::path path_;
};

const std::string kShipped = read_file(PADDOCK_SOURCE_DIR "/packaging/apparmor/paddockd");

bool apparmor_enabled() {
  std::string s = read_file("/sys/module/apparmor/parameters/enabled");
  return s.rfind('Y', 0) == 0;
}

}  // namespace

TEST(InstallApparmor, GivenATargetDir_WhenNotLoading_ThenTheShippedProfileIsWritten0644) {
  TempDir dir;
  const auto r =
      run(PADDOCK_CLI_PATH " install-apparmor --no-load --target " + dir.path().string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const auto file = dir.path() / "paddockd";
  ASSERT_TRUE(fs::exists(file)) << r.output;
  EXPECT_EQ(read_file(file), kShipped);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_NE(r.output.find(file.string() + ": written"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("apparmor_parser -r " + file.string()), std::string::npos) << r.output;
}

TEST(InstallApparmor, GivenTheProfileIsAlreadyThere_WhenRunAgain_ThenUnchanged) {
  TempDir dir;
  ASSERT_EQ(
      run(PADDOCK_CLI_PATH " install-apparmor --no-load --target " + dir.path().string()).exit_code,
      0);
  const auto r =
      run(PADDOCK_CLI_PATH " install-apparmor --no-load --target " + dir.path().string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("unchanged"), std::string::npos) << r.output;
  // A modified copy is replaced by the shipped one.
  std::ofstream(dir.path() / "paddockd") << "profile broken {\n";
  const auto again =
      run(PADDOCK_CLI_PATH " install-apparmor --no-load --target " + dir.path().string());
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(read_file(dir.path() / "paddockd"), kShipped);
}

TEST(InstallApparmor, GivenAMissingTarget_ThenExit1AndSaysSo) {
  const auto r = run(PADDOCK_CLI_PATH " install-apparmor --target /nonexistent/apparmor.d");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("/nonexistent/apparmor.d is not a directory"), std::string::npos)
      << r.output;
}

TEST(InstallApparmor, GivenLoadingIsAsked_ThenTheOutcomeMatchesTheHostsAppArmorState) {
  TempDir dir;
  const auto r = run(PADDOCK_CLI_PATH " install-apparmor --target " + dir.path().string());
  if (!apparmor_enabled()) {
    // This host: no AppArmor in the kernel. The file is written, nothing is loaded, exit 0.
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("AppArmor is not enabled in this kernel"), std::string::npos)
        << r.output;
  } else {
    // An AppArmor host: either loaded, or a clear reason (parser missing or failing).
    EXPECT_TRUE(r.output.find("loaded with") != std::string::npos ||
                r.output.find("apparmor_parser") != std::string::npos)
        << r.output;
  }
  EXPECT_EQ(read_file(dir.path() / "paddockd"), kShipped);
}

TEST(InstallApparmor, GivenPrint_ThenTheEmbeddedProfileIsTheShippedFile) {
  const auto r = run(PADDOCK_CLI_PATH " install-apparmor --print");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, kShipped);
  EXPECT_NE(kShipped.find("userns,"), std::string::npos);
  EXPECT_NE(kShipped.find("profile paddockd /usr/{,local/}sbin/paddockd flags=(unconfined)"),
            std::string::npos);
}
