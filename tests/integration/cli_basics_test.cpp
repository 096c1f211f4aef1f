// The binaries' basic contract: --version, check-config exit codes and messages.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

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

std::string write_temp(const std::string& name, const std::string& text) {
  auto dir = std::filesystem::temp_directory_path() / ("paddock-cli-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / name;
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace

TEST(Binaries, GivenVersionFlagThenBothPrintTheVersion) {
  auto d = run(PADDOCKD_PATH " --version");
  EXPECT_EQ(d.exit_code, 0);
  EXPECT_NE(d.output.find("paddockd " PADDOCK_VERSION), std::string::npos) << d.output;
  auto c = run(PADDOCK_CLI_PATH " --version");
  EXPECT_EQ(c.exit_code, 0);
  EXPECT_NE(c.output.find("paddock " PADDOCK_VERSION), std::string::npos) << c.output;
}

TEST(CheckConfig, GivenMisspelledUidKeyThenExit1WithPositionAndSuggestion) {
  const auto path = write_temp("typo.toml", "[process]\nworker_uid_rnage_start = 1\n");
  auto r = run(PADDOCKD_PATH " check-config --config " + path);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(path + ":2:1:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("worker_uid_rnage_start"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("worker_uid_range_start"), std::string::npos) << r.output;
}

TEST(CheckConfig, GivenShippedDevConfigThenOk) {
  auto r =
      run(PADDOCKD_PATH " check-config --config " PADDOCK_SOURCE_DIR "/config/paddock.dev.toml");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("ok"), std::string::npos) << r.output;
}

TEST(CheckConfig, GivenMissingFileThenExit1AndSaysWhatToDo) {
  auto r = run(PADDOCKD_PATH " check-config --config /nonexistent/paddock.toml");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("cannot read config file"), std::string::npos) << r.output;
}

TEST(Daemon, GivenInvalidConfigThenRefusesToStart) {
  const auto path = write_temp("bad.toml", "[process]\nworker_gid = 0\n");
  auto r = run(PADDOCKD_PATH " --config " + path);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("refusing to start"), std::string::npos) << r.output;
}
