// The compiled default seccomp profile, proven inside a real bwrap sandbox: the try-syscall probe
// runs as an unprivileged UID with --seccomp FD, and every call of the acceptance list is
// checked. Control runs (same sandbox, no filter) show that the kernel alone answers
// differently, so the EPERM/ENOSYS seen with the filter come from the filter.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "support/bwrap_runner.hpp"

namespace fs = std::filesystem;
using paddock::test_support::BwrapOptions;
using paddock::test_support::BwrapRun;
using paddock::test_support::parse_probe_lines;
using paddock::test_support::run_in_bwrap;

namespace {

const std::string kDefaultBpf = PADDOCK_BINARY_DIR "/profiles/seccomp/default.bpf";
const std::string kStrictBpf = PADDOCK_BINARY_DIR "/profiles/seccomp/strict.bpf";
const std::string kProbe = PADDOCK_BINARY_DIR "/src/try-syscall";
constexpr uid_t kUid = 60917;

class SeccompSandbox : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    char tmpl[] = "/tmp/paddock-seccomp-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // The sandbox user must be able to read the probe: copy it out of the build tree.
    fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    fs::copy_file(kProbe, dir_ + "/try-syscall", fs::copy_options::overwrite_existing);
    fs::permissions(dir_ + "/try-syscall", fs::perms::owner_all | fs::perms::group_read |
                                               fs::perms::group_exec | fs::perms::others_read |
                                               fs::perms::others_exec);
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to an unprivileged worker UID";
    ASSERT_TRUE(fs::exists(kDefaultBpf))
        << kDefaultBpf << " missing: build paddock_seccomp_profiles";
    ASSERT_TRUE(fs::exists("/usr/bin/bwrap"));
  }

  /// Runs the probe with the given checks; `bpf` "" is a control run without a filter.
  static BwrapRun probe(const std::vector<std::string>& checks, const std::string& bpf) {
    BwrapOptions o;
    o.uid = kUid;
    o.seccomp_bpf = bpf;
    o.ro_binds.emplace_back(dir_ + "/try-syscall", "/probe");
    o.argv.push_back("/probe");
    o.argv.insert(o.argv.end(), checks.begin(), checks.end());
    auto r = run_in_bwrap(o);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : BwrapRun{};
  }

  static std::map<std::string, std::string> results(const BwrapRun& run) {
    std::map<std::string, std::string> m;
    for (auto& [k, v] : parse_probe_lines(run.out)) m[k] = v;
    return m;
  }

  static std::string dir_;
};

std::string SeccompSandbox::dir_;

const std::vector<std::string> kEperm = {"keyctl",
                                         "add_key",
                                         "bpf",
                                         "perf_event_open",
                                         "userfaultfd",
                                         "io_uring_setup",
                                         "unshare_newuser",
                                         "mount",
                                         "setns",
                                         "ptrace_attach",
                                         "kexec_load",
                                         "init_module",
                                         "open_by_handle_at",
                                         "socket_netlink_audit",
                                         "ioctl_tiocsetd",
                                         "ioctl_tiocsti",
                                         "ioctl_tiocsti_high",
                                         "ioctl_tioclinux",
                                         "clone_newuser",
                                         "clone_newnet",
                                         "unshare_newns",
                                         "chroot",
                                         "process_vm_readv",
                                         "personality_exec"};

TEST_F(SeccompSandbox, GivenDefaultProfile_WhenDeniedCallsAreMade_ThenEachFailsWithEPERM) {
  const auto run = probe(kEperm, kDefaultBpf);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto got = results(run);
  for (const auto& name : kEperm) {
    ASSERT_TRUE(got.count(name)) << name << " missing from:\n" << run.out;
    EXPECT_EQ(got.at(name), "errno=EPERM") << name;
  }
}

TEST_F(SeccompSandbox, GivenNoFilter_WhenTheSameCallsAreMade_ThenTheKernelAnswersOtherwise) {
  // Calls whose harmless arguments make the unfiltered kernel fail with something other than
  // EPERM in this sandbox: the EPERM above is the filter's doing, not a missing capability.
  const std::vector<std::string> discriminating = {"keyctl",
                                                   "add_key",
                                                   "bpf",
                                                   "perf_event_open",
                                                   "io_uring_setup",
                                                   "mount",
                                                   "setns",
                                                   "ptrace_attach",
                                                   "socket_vsock",
                                                   "socket_alg",
                                                   "ioctl_tiocsti",
                                                   "ioctl_tiocsti_high",
                                                   "ioctl_tiocsetd",
                                                   "ioctl_tioclinux",
                                                   "open_by_handle_at",
                                                   "process_vm_readv",
                                                   "chroot",
                                                   "personality_exec"};
  const auto run = probe(discriminating, "");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto got = results(run);
  for (const auto& name : discriminating) {
    ASSERT_TRUE(got.count(name)) << name << " missing from:\n" << run.out;
    EXPECT_NE(got.at(name), "errno=EPERM") << name;
  }
}

TEST_F(SeccompSandbox, GivenDefaultProfile_WhenAnUnknownSyscallIsMade_ThenENOSYSNotEPERM) {
  // 1000 is above every number libseccomp knows; 400 lies in x86_64's unused 335-423 gap.
  std::vector<std::string> checks = {"unknown_1000", "mount", "keyctl"};
#if defined(__x86_64__)
  checks.push_back("unknown_gap");
#endif
  const auto run = probe(checks, kDefaultBpf);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto got = results(run);
  EXPECT_EQ(got["unknown_1000"], "errno=ENOSYS") << run.out;
  EXPECT_EQ(got["mount"], "errno=EPERM") << run.out;
  EXPECT_EQ(got["keyctl"], "errno=EPERM") << run.out;
#if defined(__x86_64__)
  EXPECT_EQ(got["unknown_gap"], "errno=ENOSYS") << run.out;
#endif
}

TEST_F(SeccompSandbox, GivenDefaultProfile_WhenARareAddressFamilyIsOpened_ThenEAFNOSUPPORT) {
  // The filter's answer does not depend on the kernel having the family (the BPF unit test
  // tells the filter's EAFNOSUPPORT from the kernel's); INET, UNIX and NETLINK_ROUTE work.
  const std::vector<std::string> denied = {"socket_tipc",  "socket_bluetooth", "socket_can",
                                           "socket_vsock", "socket_alg",       "socketpair_tipc"};
  std::vector<std::string> checks = denied;
  checks.insert(checks.end(), {"socket_inet", "socket_unix", "socket_netlink_route"});
  const auto run = probe(checks, kDefaultBpf);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto got = results(run);
  for (const auto& name : denied) EXPECT_EQ(got[name], "errno=EAFNOSUPPORT") << name;
  for (const char* name : {"socket_inet", "socket_unix", "socket_netlink_route"}) {
    EXPECT_EQ(got[name], "ok") << name;
  }
}

TEST_F(SeccompSandbox, GivenDefaultProfile_WhenClone3OrTheNewMountApiIsCalled_ThenENOSYS) {
  const std::vector<std::string> checks = {"clone3", "fsopen", "open_tree"};
  const auto run = probe(checks, kDefaultBpf);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto got = results(run);
  for (const auto& name : checks) EXPECT_EQ(got[name], "errno=ENOSYS") << name;

  // Unfiltered, the kernel implements them (and says EFAULT/EINVAL/EPERM for the bad arguments).
  const auto control = results(probe(checks, ""));
  for (const auto& name : checks) {
    ASSERT_TRUE(control.count(name)) << name;
    EXPECT_NE(control.at(name), "errno=ENOSYS") << name;
  }
}

TEST_F(SeccompSandbox, GivenDefaultProfile_WhenAnX32CallIsMade_ThenTheProcessIsKilled) {
  const auto run = probe({"getpid", "x32_getpid", "getrandom"}, kDefaultBpf);
  auto got = results(run);
  EXPECT_EQ(got["getpid"], "ok") << run.out << run.err;
  EXPECT_EQ(got.count("x32_getpid"), 0u) << "the x32 call returned: " << got["x32_getpid"];
  EXPECT_EQ(got.count("getrandom"), 0u) << "the process went on after the x32 call";
  EXPECT_EQ(run.command_signal(), SIGSYS) << "exit " << run.exit_code << "\n" << run.err;
}

TEST_F(SeccompSandbox, GivenDefaultProfile_WhenAn_Int0x80CallIsMade_ThenItDoesNotRun) {
  const auto run = probe({"getpid", "int80_getpid", "getrandom"}, kDefaultBpf);
  auto got = results(run);
  EXPECT_EQ(got["getpid"], "ok") << run.out << run.err;
  // Killed by the filter (SIGSYS), or by the kernel when it has no i386 emulation (SIGSEGV), or
  // refused with ENOSYS; never "ok".
  if (got.count("int80_getpid")) {
    EXPECT_EQ(got["int80_getpid"], "errno=ENOSYS");
  } else {
    EXPECT_TRUE(run.command_signal() == SIGSYS || run.command_signal() == SIGSEGV)
        << "exit " << run.exit_code << " signal " << run.command_signal();
    EXPECT_EQ(got.count("getrandom"), 0u);
  }
}

TEST_F(SeccompSandbox, GivenDefaultProfile_WhenOrdinaryWorkIsDone_ThenItSucceeds) {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string connect_check = "connect:" + std::to_string(ntohs(addr.sin_port));

  const std::vector<std::string> checks = {
      "pthread",           "fork_exec_sh",   "mmap_mprotect", "getrandom",
      "socket_inet",       "socket_unix",    connect_check,   "personality_query",
      "personality_linux", "ioctl_fionread", "ioctl_tcgets"};
  const auto run = probe(checks, kDefaultBpf);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto got = results(run);
  for (const auto& name : {"pthread", "fork_exec_sh", "mmap_mprotect", "getrandom", "socket_inet",
                           "socket_unix", "personality_query", "personality_linux"}) {
    EXPECT_EQ(got[name], "ok") << name;
  }
  EXPECT_EQ(got[connect_check], "ok");
  // Other ioctls stay allowed: the answer comes from the kernel, not the filter.
  EXPECT_NE(got["ioctl_fionread"], "errno=EPERM");
  EXPECT_NE(got["ioctl_tcgets"], "errno=EPERM");

  // The probe's connection reached the listener the test opened, with its greeting.
  pollfd pfd{listener, POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 5000), 1);
  const int conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(conn, 0);
  char buf[64] = {};
  pollfd cfd{conn, POLLIN, 0};
  ASSERT_EQ(poll(&cfd, 1, 5000), 1);
  const ssize_t n = read(conn, buf, sizeof buf - 1);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "try-syscall\n");
  close(conn);
  close(listener);
}

TEST_F(SeccompSandbox, GivenDefaultProfile_WhenPythonStartsAndJoinsAThread_ThenItWorks) {
  BwrapOptions o;
  o.uid = kUid;
  o.seccomp_bpf = kDefaultBpf;
  o.argv = {"/usr/bin/python3", "-c",
            "import threading; t=threading.Thread(target=print, args=(\"t\",)); t.start(); "
            "t.join()"};
  auto r = run_in_bwrap(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(r->out, "t\n") << r->err;
}

TEST_F(SeccompSandbox, GivenStrictProfile_WhenANetworkSocketIsOpened_ThenEAFNOSUPPORTButUnixWorks) {
  ASSERT_TRUE(fs::exists(kStrictBpf));
  const auto run =
      probe({"socket_inet", "socket_unix", "pthread", "fork_exec_sh", "keyctl"}, kStrictBpf);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto got = results(run);
  EXPECT_EQ(got["socket_inet"], "errno=EAFNOSUPPORT");
  EXPECT_EQ(got["socket_unix"], "ok");
  EXPECT_EQ(got["pthread"], "ok");
  EXPECT_EQ(got["fork_exec_sh"], "ok");
  EXPECT_EQ(got["keyctl"], "errno=EPERM");
}

}  // namespace
