// validate_bpf_file: what the daemon checks at start on [process] seccomp_profile.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "paddock/seccomp/bpf_file.hpp"
#include "paddock/seccomp/compile.hpp"
#include "paddock/util/crypto.hpp"

using namespace paddock;
namespace fs = std::filesystem;

namespace {

class BpfFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/paddock-bpf-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const std::string& bytes) {
    const std::string p = dir_ + "/" + name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  static std::string compiled() {
    auto p = seccomp::parse_profile(
        R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]})");
    auto c = seccomp::compile(*p);
    return c.ok() ? c->bpf : std::string();
  }
  std::string dir_;
};

TEST_F(BpfFile, GivenAMissingFile_WhenValidated_ThenErrorSaysWhatToDo) {
  auto r = seccomp::validate_bpf_file(dir_ + "/missing.bpf");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_seccomp_profile");
  EXPECT_EQ(r.error().field, dir_ + "/missing.bpf");
  EXPECT_NE(r.error().message.find("No such file"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("seccomp_profile"), std::string::npos);
}

TEST_F(BpfFile, GivenAnEmptyFile_WhenValidated_ThenRefused) {
  auto r = seccomp::validate_bpf_file(write("empty.bpf", ""));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("empty"), std::string::npos);
}

TEST_F(BpfFile, GivenASizeNotAMultipleOf8_WhenValidated_ThenRefused) {
  auto r = seccomp::validate_bpf_file(write("odd.bpf", compiled() + "abc"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not a multiple of 8"), std::string::npos);
}

TEST_F(BpfFile, GivenAJsonProfileByMistake_WhenValidated_ThenRefused) {
  auto r = seccomp::validate_bpf_file(write("p.json", "{\"defaultAction\": \"SCMP_ACT_ERRNO\"}\n"));
  ASSERT_FALSE(r.ok());
}

TEST_F(BpfFile, GivenADirectory_WhenValidated_ThenRefused) {
  auto r = seccomp::validate_bpf_file(dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not a regular file"), std::string::npos);
}

TEST_F(BpfFile, GivenAnUnreadableFile_WhenValidated_ThenRefused) {
  const auto p = write("locked.bpf", compiled());
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  ASSERT_EQ(chmod(p.c_str(), 0), 0);
  if (geteuid() != 0) {
    EXPECT_FALSE(seccomp::validate_bpf_file(p).ok());
    return;
  }
  // Root reads any file: check as an unprivileged user in a child.
  const pid_t pid = fork();
  if (pid == 0) {
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(60919, 60919, 60919) != 0) _exit(2);
    auto r = seccomp::validate_bpf_file(p);
    _exit(!r.ok() && r.error().message.find("Permission denied") != std::string::npos ? 0 : 1);
  }
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
}

TEST_F(BpfFile, GivenEightBytesThatDoNotReturn_WhenValidated_ThenRefused) {
  // One "ld [4]" instruction and nothing after it.
  const std::string ld("\x20\x00\x00\x00\x04\x00\x00\x00", 8);
  auto r = seccomp::validate_bpf_file(write("noret.bpf", ld));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("return"), std::string::npos);
}

TEST_F(BpfFile, GivenACompiledFilter_WhenValidated_ThenSizeCountAndDigestAreReported) {
  const auto bytes = compiled();
  ASSERT_FALSE(bytes.empty());
  auto r = seccomp::validate_bpf_file(write("ok.bpf", bytes));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->size, bytes.size());
  EXPECT_EQ(r->instructions, bytes.size() / 8);
  EXPECT_EQ(r->sha256, util::sha256_hex(bytes));
  EXPECT_EQ(r->architectures, (std::vector<std::string>{"x86_64"}));
}

}  // namespace

TEST_F(BpfFile, GivenAJumpPastTheEnd_WhenInspected_ThenRefusedAsTruncated) {
  // ld arch; jeq x86_64 ? +0 : +5 (past the end); ret ALLOW. It ends in a return, like a file
  // cut short on an instruction boundary, but the kernel would refuse it.
  const sock_filter prog[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 5),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  const std::string bytes(reinterpret_cast<const char*>(prog), sizeof prog);
  auto r = seccomp::inspect_bpf(bytes, "cut.bpf");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("past the end"), std::string::npos) << r.error().message;
  // The same program with the jump in range is accepted.
  sock_filter fixed[3];
  std::memcpy(fixed, prog, sizeof prog);
  fixed[1].jf = 0;
  EXPECT_TRUE(seccomp::inspect_bpf(std::string(reinterpret_cast<const char*>(fixed), sizeof fixed),
                                   "ok.bpf")
                  .ok());
}
