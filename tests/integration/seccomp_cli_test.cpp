// `paddock seccomp compile|inspect` and the daemon's start check on [process] seccomp_profile,
// run as the real binaries.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "paddock/util/crypto.hpp"

namespace fs = std::filesystem;
using namespace paddock;

namespace {

struct Ran {
  int code = -1;
  std::string out;
  std::string err;
};

class SeccompCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/paddock-seccomp-cli-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string file(const std::string& name, const std::string& text) {
    const auto p = dir_ + "/" + name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  static std::string slurp(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  /// Runs a shell command line (arguments here are fixed test paths) and captures its output.
  Ran run(const std::string& cmdline) {
    const std::string out = dir_ + "/stdout";
    const std::string err = dir_ + "/stderr";
    const int st = std::system((cmdline + " >" + out + " 2>" + err + " </dev/null").c_str());
    Ran r;
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }
  std::string dir_;
};

const std::string kCli = PADDOCK_CLI_PATH;

TEST_F(SeccompCli, GivenTheDefaultProfile_WhenCompiled_ThenInspectReportsTheSameDigest) {
  const auto out = dir_ + "/default.bpf";
  auto c =
      run(kCli + " seccomp compile " PADDOCK_SOURCE_DIR "/profiles/seccomp/default.json -o " + out);
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("instructions"), std::string::npos) << c.out;
  EXPECT_EQ(c.err, "");  // the shipped profile compiles without warnings
  auto digest = util::sha256_file(out);
  ASSERT_TRUE(digest.ok());
  auto i = run(kCli + " seccomp inspect --json " + out);
  ASSERT_EQ(i.code, 0) << i.err;
  auto j = nlohmann::json::parse(i.out);
  EXPECT_EQ(j["sha256"], *digest);
  EXPECT_EQ(j["size"].get<std::size_t>(), fs::file_size(out));
  EXPECT_EQ(j["instructions"].get<std::size_t>() * 8, fs::file_size(out));
  EXPECT_EQ(j["architectures"], nlohmann::json::array({"x86_64"}));
  // The build compiled the same bytes.
  EXPECT_EQ(slurp(out), slurp(PADDOCK_BINARY_DIR "/profiles/seccomp/default.bpf"));
  auto text = run(kCli + " seccomp inspect " + out);
  EXPECT_EQ(text.code, 0);
  EXPECT_NE(text.out.find(*digest), std::string::npos);
}

TEST_F(SeccompCli, GivenAnUnknownOp_WhenCompiled_ThenExit1WithTheJsonPath) {
  const auto in = file("bad.json", R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}]})");
  auto c = run(kCli + " seccomp compile " + in + " -o " + dir_ + "/out.bpf");
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find("syscalls[1].args[0].op: unknown op 'SCMP_CMP_FOO'"), std::string::npos)
      << c.err;
  EXPECT_FALSE(fs::exists(dir_ + "/out.bpf"));
}

TEST_F(SeccompCli, GivenErrnoZero_WhenCompiled_ThenRefusedUnlessAllowErrnoZero) {
  const auto in = file("zero.json", R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
      {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0}]})");
  auto refused = run(kCli + " seccomp compile " + in + " -o " + dir_ + "/z.bpf");
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("syscalls[0].errnoRet"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--allow-errno-zero"), std::string::npos) << refused.err;
  EXPECT_FALSE(fs::exists(dir_ + "/z.bpf"));
  auto allowed = run(kCli + " seccomp compile --allow-errno-zero " + in + " -o " + dir_ + "/z.bpf");
  EXPECT_EQ(allowed.code, 0) << allowed.err;
  EXPECT_TRUE(fs::exists(dir_ + "/z.bpf"));
}

TEST_F(SeccompCli, GivenUnknownSyscallNames_WhenCompiled_ThenWarnsAndSucceeds) {
  const auto in = file("unknown.json", R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read", "frobnicate_the_kernel"], "action": "SCMP_ACT_ALLOW"}]})");
  auto c = run(kCli + " seccomp compile " + in + " -o " + dir_ + "/u.bpf");
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.err.find("warning:"), std::string::npos);
  EXPECT_NE(c.err.find("frobnicate_the_kernel"), std::string::npos);
}

TEST_F(SeccompCli, GivenAFileThatIsNotBpf_WhenInspected_ThenExit1) {
  auto c = run(kCli + " seccomp inspect " + file("x.bpf", "0123456789"));
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find("not a multiple of 8"), std::string::npos) << c.err;
  auto missing = run(kCli + " seccomp inspect " + dir_ + "/missing.bpf");
  EXPECT_EQ(missing.code, 1);
}

TEST_F(SeccompCli, GivenAMissingInput_WhenCompiled_ThenExit1NamingIt) {
  auto c = run(kCli + " seccomp compile " + dir_ + "/nope.json -o " + dir_ + "/o.bpf");
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find(dir_ + "/nope.json"), std::string::npos) << c.err;
}

/// A loopback port nothing listens on (the kernel's pick, released again).
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return 0;
  }
  close(fd);
  return ntohs(a.sin_port);
}

/// A config that passes validation and points seccomp_profile at `profile`.
std::string daemon_config(const std::string& dir, const std::string& profile) {
  std::ostringstream c;
  c << "[server]\nlisten = [\"127.0.0.1:" << free_port() << "\"]\nsocket = \"\"\ntoken_file = \""
    << dir << "/tokens\"\n"
    << "[process]\nseccomp_profile = \"" << profile << "\"\nstate_dir = \"" << dir
    << "/state\"\ndata_root = \"" << dir << "/data\"\nbundle_roots = [\"" << dir << "/bundles\"]\n"
    << "[log]\nformat = \"text\"\naudit_log = \"\"\n";
  return c.str();
}

TEST_F(SeccompCli, GivenAMissingOrMalformedSeccompProfile_WhenTheDaemonStarts_ThenItRefuses) {
  for (const std::string& profile :
       {dir_ + "/missing.bpf", file("odd.bpf", "abc"), file("empty.bpf", "")}) {
    const auto cfg = file("paddock.toml", daemon_config(dir_, profile));
    auto d = run(std::string("timeout 20 ") + PADDOCKD_PATH + " --config " + cfg);
    EXPECT_EQ(d.code, 1) << profile << "\n" << d.err;
    EXPECT_NE(d.err.find("seccomp_profile"), std::string::npos) << d.err;
    EXPECT_NE(d.err.find(profile), std::string::npos) << d.err;
    EXPECT_EQ(d.err.find("paddockd started"), std::string::npos) << d.err;
  }
}

}  // namespace
