// Compiling profiles with libseccomp: the BPF is well formed, unknown names warn and are skipped,
// the mistakes that turn a deny into an allow are refused, and the rule semantics (OR on a
// repeated argument index, masked 32-bit compares) hold when the kernel runs the filter.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <string>

#include "paddock/seccomp/bpf_file.hpp"
#include "paddock/seccomp/compile.hpp"
#include "support/seccomp_sim.hpp"

using namespace paddock;

namespace {

seccomp::CompiledFilter compile_ok(const std::string& json,
                                   const seccomp::CompileOptions& opts = {}) {
  auto p = seccomp::parse_profile(json);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
  if (!p.ok()) return {};
  auto c = seccomp::compile(*p, opts);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : seccomp::CompiledFilter{};
}

Error compile_err(const std::string& json, const seccomp::CompileOptions& opts = {}) {
  auto p = seccomp::parse_profile(json);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
  if (!p.ok()) return p.error();
  auto c = seccomp::compile(*p, opts);
  EXPECT_FALSE(c.ok());
  return c.ok() ? Error{} : c.error();
}

bool any_contains(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v) {
    if (x.find(s) != std::string::npos) return true;
  }
  return false;
}

/// Loads `bpf` in a forked child, makes getpriority(which, who) there, and returns the errno the
/// call failed with (0 when it succeeded, -1 when the child could not install the filter).
int errno_under_filter(const std::string& bpf, unsigned long which, unsigned long who) {
  const pid_t pid = fork();
  if (pid == 0) {
    sock_fprog prog{static_cast<unsigned short>(bpf.size() / 8),
                    reinterpret_cast<sock_filter*>(const_cast<char*>(bpf.data()))};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(255);
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) _exit(255);
    errno = 0;
    const long r = syscall(SYS_getpriority, which, who);
    // exit_group directly: sanitizer runtimes hook _exit (leak checks) and would make calls
    // the filter denies, spinning forever.
    syscall(SYS_exit_group, r == -1 ? errno : 0);
    _exit(254);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) == 255) return -1;
  return WEXITSTATUS(st);
}

TEST(SeccompCompile, GivenTheShippedDefaultProfile_WhenCompiled_ThenBpfIsWholeInstructions) {
  auto p = seccomp::load_profile(PADDOCK_SOURCE_DIR "/profiles/seccomp/default.json");
  ASSERT_TRUE(p.ok()) << p.error().message;
  auto c = seccomp::compile(*p);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(c->bpf.empty());
  EXPECT_EQ(c->bpf.size() % 8, 0u);
  EXPECT_LE(c->bpf.size() / 8, 4096u);
  EXPECT_GT(c->rules, 250u);
  EXPECT_TRUE(c->warnings.empty()) << c->warnings.front();
  EXPECT_EQ(c->architectures, (std::vector<std::string>{"x86_64"}));
  auto info = seccomp::inspect_bpf(c->bpf, "default");
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->architectures, (std::vector<std::string>{"x86_64"}));
}

TEST(SeccompCompile, GivenUnknownSyscallNames_WhenCompiled_ThenWarnedAndSkipped) {
  auto c = compile_ok(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read", "no_such_syscall_xyz", "write"], "action": "SCMP_ACT_ALLOW"}]})");
  EXPECT_EQ(c.rules, 2u);
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("syscalls[0].names[1]"), std::string::npos) << c.warnings[0];
  EXPECT_NE(c.warnings[0].find("no_such_syscall_xyz"), std::string::npos);
  EXPECT_FALSE(c.bpf.empty());
  EXPECT_EQ(c.bpf.size() % 8, 0u);
}

TEST(SeccompCompile, GivenErrnoZeroOnARule_WhenCompiled_ThenRefusedUnlessAllowed) {
  const std::string json = R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
      {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0}]})";
  auto e = compile_err(json);
  EXPECT_EQ(e.field, "syscalls[0].errnoRet");
  EXPECT_NE(e.message.find("errno 0"), std::string::npos) << e.message;
  seccomp::CompileOptions opts;
  opts.allow_errno_zero = true;
  auto c = compile_ok(json, opts);
  EXPECT_EQ(c.rules, 1u);
}

TEST(SeccompCompile, GivenDefaultErrnoZero_WhenCompiled_ThenRefused) {
  auto e = compile_err(R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 0})");
  EXPECT_EQ(e.field, "defaultErrnoRet");
}

TEST(SeccompCompile, GivenADenyShadowedByAnUnconditionalAllow_WhenCompiled_ThenRefused) {
  auto e = compile_err(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
       "args": [{"index": 1, "value": 4294967295, "valueTwo": 21522, "op": "SCMP_CMP_MASKED_EQ"}]}]})");
  EXPECT_EQ(e.field, "syscalls[1]");
  EXPECT_NE(e.message.find("syscalls[0]"), std::string::npos) << e.message;
}

TEST(SeccompCompile, GivenTwoUnconditionalActionsForOneSyscall_WhenCompiled_ThenRefused) {
  auto e = compile_err(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["read"], "action": "SCMP_ACT_KILL_PROCESS"}]})");
  EXPECT_EQ(e.field, "syscalls[1]");
}

TEST(SeccompCompile, GivenACapabilityGatedRule_WhenCompiled_ThenItIsNotApplied) {
  auto c = compile_ok(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["mount", "umount2"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
      {"names": ["read"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}}]})");
  EXPECT_EQ(c.rules, 1u);
  EXPECT_TRUE(
      any_contains(c.notes, "syscalls[0] (mount, ...): not applied, requires capabilities"));
}

TEST(SeccompCompile, GivenArchAndKernelFilters_WhenCompiled_ThenOnlyMatchingRulesApply) {
  const std::string json = R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
      {"names": ["write"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
      {"names": ["close"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
      {"names": ["openat"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.10"}}]})";
  seccomp::CompileOptions old_kernel;
  old_kernel.kernel_version = "4.19";
  EXPECT_EQ(compile_ok(json, old_kernel).rules, 1u);  // write
  seccomp::CompileOptions new_kernel;
  new_kernel.kernel_version = "6.1";
  EXPECT_EQ(compile_ok(json, new_kernel).rules, 2u);  // write, openat
  seccomp::CompileOptions bad;
  bad.kernel_version = "six";
  auto p = seccomp::parse_profile(json);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(seccomp::compile(*p, bad).ok());
}

TEST(SeccompCompile, GivenFilterNonNativeArches_WhenCompiled_ThenTheyAreInTheFilter) {
  const std::string base = R"("defaultAction": "SCMP_ACT_ERRNO",
      "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
      "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}])";
  auto killed = compile_ok("{" + base + "}");
  EXPECT_EQ(killed.architectures, (std::vector<std::string>{"x86_64"}));
  EXPECT_TRUE(any_contains(killed.notes, "x86, x32 not added"));
  auto filtered = compile_ok("{" + base + R"(, "paddock": {"filterNonNativeArches": true}})");
  EXPECT_EQ(filtered.architectures, (std::vector<std::string>{"x86_64", "x86", "x32"}));
  auto info = seccomp::inspect_bpf(filtered.bpf, "f");
  ASSERT_TRUE(info.ok());
  EXPECT_NE(std::find(info->architectures.begin(), info->architectures.end(), "x86"),
            info->architectures.end());
  EXPECT_GT(filtered.bpf.size(), killed.bpf.size());
}

// getpriority(which, who) stands in for any syscall: the kernel runs the filter in a child.
TEST(SeccompCompile, GivenARepeatedArgIndex_WhenRunByTheKernel_ThenConditionsAreOred) {
  auto c = compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
      {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
       "args": [{"index": 1, "value": 111, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 222, "op": "SCMP_CMP_EQ"}]}]})");
  ASSERT_FALSE(c.bpf.empty());
  EXPECT_EQ(errno_under_filter(c.bpf, PRIO_PROCESS, 111), EACCES);
  EXPECT_EQ(errno_under_filter(c.bpf, PRIO_PROCESS, 222), EACCES);
  EXPECT_EQ(errno_under_filter(c.bpf, PRIO_PROCESS, 0), 0);
}

TEST(SeccompCompile, GivenDistinctArgIndexes_WhenRunByTheKernel_ThenConditionsAreAnded) {
  auto c = compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
      {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
       "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 333, "op": "SCMP_CMP_EQ"}]}]})");
  EXPECT_EQ(errno_under_filter(c.bpf, 0, 333), EACCES);
  EXPECT_NE(errno_under_filter(c.bpf, 1, 333), EACCES);
  EXPECT_EQ(errno_under_filter(c.bpf, 0, 0), 0);
}

TEST(SeccompCompile, GivenAMaskedCompare_WhenUpperBitsAreSet_ThenItStillMatches) {
  auto c = compile_ok(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
      {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
       "args": [{"index": 1, "value": 4294967295, "valueTwo": 21522, "op": "SCMP_CMP_MASKED_EQ"}]}]})");
  EXPECT_EQ(errno_under_filter(c.bpf, PRIO_PROCESS, 21522), EACCES);
  EXPECT_EQ(errno_under_filter(c.bpf, PRIO_PROCESS, (0x123UL << 32) | 21522), EACCES);
  EXPECT_NE(errno_under_filter(c.bpf, PRIO_PROCESS, 21523), EACCES);
}

TEST(SeccompCompile,
     GivenTheDefaultProfile_WhenIoctlRequestsAreFiltered_ThenOnlyTiocstiTioclinuxTiocsetdFail) {
  // The default profile's ioctl rule, lifted onto getpriority's second argument so the kernel
  // can run it here without a terminal.
  auto p = seccomp::load_profile(PADDOCK_SOURCE_DIR "/profiles/seccomp/default.json");
  ASSERT_TRUE(p.ok());
  seccomp::Profile q;
  q.default_action = {seccomp::ActionKind::Errno, 13};
  for (const auto& r : p->syscalls) {
    if (r.names == std::vector<std::string>{"ioctl"}) {
      auto copy = r;
      copy.names = {"getpriority"};
      q.syscalls.push_back(copy);
    }
  }
  ASSERT_EQ(q.syscalls.size(), 1u);
  seccomp::SyscallRule exits;
  exits.names = {"exit_group", "exit"};
  exits.action.kind = seccomp::ActionKind::Allow;
  exits.path = "exits";
  q.syscalls.push_back(exits);
  auto c = seccomp::compile(q);
  ASSERT_TRUE(c.ok()) << c.error().message;
  for (unsigned long req : {0x5412UL, 0x541cUL, 0x5423UL, (0x123UL << 32) | 0x5412UL,
                            0xffffffff0000541cUL, (1UL << 32) | 0x5423UL}) {
    EXPECT_EQ(errno_under_filter(c->bpf, PRIO_PROCESS, req), EACCES) << std::hex << req;
  }
  // Everything else passes the filter (getpriority then answers by itself: 0 or EINVAL/ESRCH).
  for (unsigned long req :
       {0UL, 0x5401UL, 0x5410UL, 0x5413UL, 0x5414UL, 0x541aUL, 0x541eUL, 0x80045430UL,
        0xffffffff80045430UL, 0x1412UL, 0x15412UL, 0x5422UL, 0x5424UL, 0x5403UL, 0x5433UL}) {
    EXPECT_NE(errno_under_filter(c->bpf, PRIO_PROCESS, req), EACCES) << std::hex << req;
  }
}

/// What the shipped profile's filter returns for one call on the native architecture.
std::uint32_t shipped(const std::string& name, int nr, std::uint64_t a0 = 0, std::uint64_t a1 = 0,
                      std::uint64_t a2 = 0, std::uint32_t arch = 0) {
  static std::map<std::string, std::string> compiled;
  if (compiled.count(name) == 0) {
    auto p = seccomp::load_profile(PADDOCK_SOURCE_DIR "/profiles/seccomp/" + name + ".json");
    EXPECT_TRUE(p.ok());
    if (!p.ok()) return 0;
    auto c = seccomp::compile(*p);
    EXPECT_TRUE(c.ok()) << c.error().message;
    if (!c.ok()) return 0;
    compiled[name] = c->bpf;
  }
  test::SimulatedCall call;
  call.arch = arch == 0 ? AUDIT_ARCH_X86_64 : arch;
  call.nr = nr;
  call.args[0] = a0;
  call.args[1] = a1;
  call.args[2] = a2;
  std::string err;
  const std::uint32_t r = test::simulate_seccomp(compiled[name], call, &err);
  EXPECT_EQ(err, "");
  return r;
}

constexpr std::uint32_t ret_errno(std::uint32_t e) { return SECCOMP_RET_ERRNO | e; }

TEST(SeccompPolicy,
     GivenTheShippedProfiles_WhenASyscallIsUnknown_ThenEnosysAndKnownDeniedStayEperm) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the numbers below are x86_64's";
#endif
  for (const char* profile : {"default", "strict"}) {
    SCOPED_TRACE(profile);
    // Above the highest number libseccomp knows, and a gap below it (335-423 are unused).
    EXPECT_EQ(shipped(profile, 1000), ret_errno(ENOSYS));
    EXPECT_EQ(shipped(profile, 4095), ret_errno(ENOSYS));
    EXPECT_EQ(shipped(profile, 400), ret_errno(ENOSYS));
    // Known and denied: EPERM; known and allowed: allowed.
    EXPECT_EQ(shipped(profile, SYS_mount), ret_errno(EPERM));
    EXPECT_EQ(shipped(profile, SYS_keyctl), ret_errno(EPERM));
    EXPECT_EQ(shipped(profile, SYS_kexec_load), ret_errno(EPERM));
    EXPECT_EQ(shipped(profile, SYS_read), static_cast<std::uint32_t>(SECCOMP_RET_ALLOW));
    // x32 numbers and i386 calls are killed, as before.
    EXPECT_EQ(shipped(profile, 0x40000000 | SYS_read),
              static_cast<std::uint32_t>(SECCOMP_RET_KILL_PROCESS));
    EXPECT_EQ(shipped(profile, 0x40000000 | 1000),
              static_cast<std::uint32_t>(SECCOMP_RET_KILL_PROCESS));
    EXPECT_EQ(shipped(profile, 3, 0, 0, 0, AUDIT_ARCH_I386),
              static_cast<std::uint32_t>(SECCOMP_RET_KILL_PROCESS));
  }
}

TEST(SeccompPolicy, GivenTheDefaultProfile_ThenOnlyUnixInetInet6AndNetlinkRouteSocketsAreAllowed) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the numbers below are x86_64's";
#endif
  const auto allow = static_cast<std::uint32_t>(SECCOMP_RET_ALLOW);
  for (int family : {AF_UNIX, AF_INET, AF_INET6}) {
    EXPECT_EQ(shipped("default", SYS_socket, family, SOCK_STREAM, 0), allow) << family;
  }
  EXPECT_EQ(shipped("default", SYS_socket, AF_NETLINK, SOCK_RAW, 0 /* NETLINK_ROUTE */), allow);
  EXPECT_EQ(shipped("default", SYS_socket, AF_NETLINK, SOCK_RAW, 9 /* NETLINK_AUDIT */),
            ret_errno(EPERM));
  for (int family : {AF_TIPC, AF_BLUETOOTH, AF_CAN, AF_PACKET, AF_ALG, AF_VSOCK, AF_UNSPEC, AF_AX25,
                     AF_X25, AF_RDS, AF_PHONET, AF_CAIF, AF_RXRPC, AF_LLC, AF_KEY, 45, 255}) {
    EXPECT_EQ(shipped("default", SYS_socket, family, SOCK_DGRAM, 0), ret_errno(EAFNOSUPPORT))
        << family;
  }
  // Upper bits set: not one of the allowed values, so denied.
  EXPECT_EQ(shipped("default", SYS_socket, (1ULL << 32) | AF_TIPC, SOCK_DGRAM, 0),
            ret_errno(EAFNOSUPPORT));
  EXPECT_EQ(shipped("default", SYS_socketpair, AF_UNIX, SOCK_STREAM, 0), allow);
  EXPECT_EQ(shipped("default", SYS_socketpair, AF_TIPC, SOCK_STREAM, 0), ret_errno(EAFNOSUPPORT));
  // The strict profile: AF_UNIX only.
  EXPECT_EQ(shipped("strict", SYS_socket, AF_UNIX, SOCK_STREAM, 0), allow);
  for (int family : {AF_INET, AF_INET6, AF_NETLINK, AF_TIPC, AF_BLUETOOTH, AF_CAN}) {
    EXPECT_EQ(shipped("strict", SYS_socket, family, SOCK_DGRAM, 0), ret_errno(EAFNOSUPPORT))
        << family;
  }
}

TEST(SeccompPolicy, GivenTheShippedProfiles_ThenTiocsetdAndTioclinuxAreDeniedOnTheLow32Bits) {
  for (const char* profile : {"default", "strict"}) {
    SCOPED_TRACE(profile);
    for (std::uint64_t req : {0x5412ULL, 0x541cULL, 0x5423ULL, (7ULL << 32) | 0x5423ULL}) {
      EXPECT_EQ(shipped(profile, SYS_ioctl, 0, req), ret_errno(EPERM)) << std::hex << req;
    }
    EXPECT_EQ(shipped(profile, SYS_ioctl, 0, 0x5401 /* TCGETS */),
              static_cast<std::uint32_t>(SECCOMP_RET_ALLOW));
  }
}

TEST(SeccompPolicy, GivenUnknownSyscallErrnoZero_WhenParsed_ThenRefused) {
  auto p = seccomp::parse_profile(
      R"({"defaultAction":"SCMP_ACT_ERRNO","paddock":{"unknownSyscallErrnoRet":0}})");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().field, "paddock.unknownSyscallErrnoRet");
}

TEST(SeccompPolicy, GivenNoUnknownSyscallErrno_WhenCompiled_ThenUnknownNumbersGetTheDefault) {
  const auto c = compile_ok(R"({"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
      "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]})");
  test::SimulatedCall call;
  call.arch = seccomp_arch_native();
  call.nr = 1000;
  EXPECT_EQ(test::simulate_seccomp(c.bpf, call), ret_errno(EPERM));
}

}  // namespace
