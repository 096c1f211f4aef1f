// The pure rules of the privilege drop (who may read what, which directories are handed over,
// which accounts the daemon may run as) and hand_over_paths/hand_over_file/check_readable_by on
// a temporary tree. Changing owners needs root: those tests skip with a reason otherwise.
#include <gtest/gtest.h>
#include <seccomp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "paddock/config/config.hpp"
#include "paddock/privsep/drop.hpp"

using namespace paddock;
using namespace paddock::privsep;
namespace fs = std::filesystem;

namespace {

// Not an account: hand_over_* take the ids as given. Outside the default worker range.
const DaemonUser kUser{"pdtest", 59990, 59990};

class Tree {
 public:
  Tree() {
    std::string tmpl = (fs::temp_directory_path() / "paddock-privsep-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
    ::chmod(path_.c_str(), 0711);  // searchable by the (fake) daemon user
  }
  ~Tree() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& rel) const { return (path_ / rel).string(); }

 private:
  fs::path path_;
};

struct stat stat_of(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st;
}

#define REQUIRE_ROOT() \
  if (::geteuid() != 0) GTEST_SKIP() << "changing a file's owner needs root (CI runs as root)"

}  // namespace

TEST(PrivsepRules, GivenModeBits_ThenOwnerThenGroupThenOtherDecideLikeTheKernel) {
  // root:paddock 0640: the daemon (group paddock) reads it, others do not.
  EXPECT_TRUE(readable_by(0640, 0, 995, 999, 995));
  EXPECT_FALSE(readable_by(0600, 0, 995, 999, 995));
  EXPECT_FALSE(readable_by(0640, 0, 0, 999, 995));
  EXPECT_TRUE(readable_by(0644, 0, 0, 999, 995));
  // The owner's bits win even when group and other would allow.
  EXPECT_FALSE(readable_by(0044, 999, 995, 999, 995));
  // The group's bits win over other's.
  EXPECT_FALSE(readable_by(0604, 0, 995, 999, 995));
  EXPECT_TRUE(readable_by(0400, 999, 0, 999, 995));
  // Search permission on directories.
  EXPECT_TRUE(permits(0711, 0, 0, 999, 995, 1));
  EXPECT_FALSE(permits(0700, 0, 0, 999, 995, 1));
  EXPECT_FALSE(permits(0750, 0, 4, 999, 995, 1));
  EXPECT_TRUE(permits(0750, 0, 995, 999, 995, 1));
  EXPECT_FALSE(permits(0640, 0, 995, 999, 995, 6));
}

TEST(PrivsepRules, GivenSystemDirectories_ThenTheyAreSharedAndOwnSubdirectoriesAreNot) {
  for (const char* d : {"/", "/etc", "/var/log", "/var/log/", "/var/lib", "/tmp", "/usr/local",
                        "/var//lib", "/home", "/run"}) {
    EXPECT_TRUE(is_shared_system_dir(d)) << d;
  }
  for (const char* d :
       {"/var/log/paddock", "/var/lib/paddock-bundles", "/run/paddock", "/var/lib/paddock"}) {
    EXPECT_FALSE(is_shared_system_dir(d)) << d;
  }
}

TEST(PrivsepRules, GivenTheDefaultConfig_ThenWritableDirsAreLogsAndBundlesButNotTheDataRootParent) {
  config::Config cfg;
  cfg.log.worker_log_dir = "/var/log/paddock/workers";
  // state_dir /var/lib/paddock holds data_root: it stays root's (the spawner's tree).
  EXPECT_EQ(daemon_writable_dirs(cfg),
            (std::vector<std::string>{"/var/log/paddock/workers", "/var/log/paddock",
                                      "/var/lib/paddock-bundles"}));
  cfg.process.state_dir = "/var/lib/paddock/state/";
  cfg.log.audit_log = "";
  cfg.log.worker_log_dir = "";
  EXPECT_EQ(daemon_writable_dirs(cfg),
            (std::vector<std::string>{"/var/lib/paddock/state", "/var/lib/paddock-bundles"}));
  // A bundle root below a candidate keeps the candidate root's; duplicates appear once.
  cfg.process.bundle_roots = {"/srv/x/bundles"};
  cfg.bundles.dir = "/srv/x";
  cfg.log.worker_log_dir = "/var/lib/paddock/state";
  EXPECT_EQ(daemon_writable_dirs(cfg), (std::vector<std::string>{"/var/lib/paddock/state"}));
}

TEST(PrivsepRules, GivenAccounts_ThenRootTheWorkerRangeAndTheWorkerGroupAreRefused) {
  EXPECT_TRUE(check_daemon_user({"paddock", 999, 995}, 60000, 60999, 65534).ok());
  const auto root = check_daemon_user({"root", 0, 0}, 60000, 60999);
  ASSERT_FALSE(root.ok());
  EXPECT_NE(root.error().message.find("uid 0"), std::string::npos) << root.error().message;
  EXPECT_EQ(root.error().field, "server.user");
  EXPECT_FALSE(check_daemon_user({"x", 999, 0}, 60000, 60999).ok());
  const auto in_range = check_daemon_user({"x", 60005, 995}, 60000, 60999);
  ASSERT_FALSE(in_range.ok());
  EXPECT_NE(in_range.error().message.find("60000..60999"), std::string::npos);
  EXPECT_TRUE(check_daemon_user({"x", 61000, 995}, 60000, 60999).ok());
  EXPECT_FALSE(check_daemon_user({"x", 999, 65534}, 60000, 60999, 65534).ok());
}

TEST(PrivsepUser, GivenAMissingAccount_ThenTheErrorSaysHowToCreateIt) {
  const auto r = lookup_daemon_user("paddock-no-such-user");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("systemd-sysusers"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("useradd --system --no-create-home --home-dir /nonexistent "
                                   "--shell /usr/sbin/nologin paddock-no-such-user"),
            std::string::npos)
      << r.error().message;
  const auto root = lookup_daemon_user("root", 60000, 60999);
  ASSERT_FALSE(root.ok());
  EXPECT_EQ(root.error().code, "invalid_daemon_user");
}

TEST(PrivsepHandOver, GivenMissingAndExistingDirs_ThenCreatedOrKeptAndOwnedByTheUser) {
  REQUIRE_ROOT();
  Tree t;
  fs::create_directory(t / "old");
  ::chmod((t / "old").c_str(), 0711);
  ASSERT_EQ(::chown((t / "old").c_str(), 0, 4), 0);
  const std::string fresh = t / "a/b/logs";
  ASSERT_TRUE(hand_over_paths({t / "old", fresh + "/"}, kUser).ok());
  // Existing: mode and group kept, owner changed.
  auto st = stat_of(t / "old");
  EXPECT_EQ(st.st_uid, kUser.uid);
  EXPECT_EQ(st.st_gid, 4u);
  EXPECT_EQ(st.st_mode & 07777, 0711u);
  // Created: 0750 user:group; its missing parents root's 0755.
  st = stat_of(fresh);
  EXPECT_EQ(st.st_uid, kUser.uid);
  EXPECT_EQ(st.st_gid, kUser.gid);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  st = stat_of(t / "a/b");
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  // A handed-over directory that is also the parent of another one gets its own mode and owner,
  // whichever comes first in the list.
  ASSERT_TRUE(hand_over_paths({t / "logs/workers", t / "logs"}, kUser).ok());
  st = stat_of(t / "logs");
  EXPECT_EQ(st.st_uid, kUser.uid);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(stat_of(t / "logs/workers").st_uid, kUser.uid);
  // Never recursive: a root file inside keeps its owner; a second run changes nothing.
  std::ofstream(t / "old/file") << "x";
  ASSERT_TRUE(hand_over_paths({t / "old"}, kUser).ok());
  EXPECT_EQ(stat_of(t / "old/file").st_uid, 0u);
}

TEST(PrivsepHandOver, GivenASymlinkRelativeRootOrSharedPath_ThenRefusedAndNothingChanges) {
  REQUIRE_ROOT();
  Tree t;
  fs::create_directory(t / "target");
  fs::create_directory_symlink(t / "target", t / "link");
  auto r = hand_over_paths({t / "link"}, kUser);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("symlink"), std::string::npos) << r.error().message;
  // A symlink in the middle of the path is refused as well.
  fs::create_directory(t / "target/sub");
  r = hand_over_paths({t / "link/sub"}, kUser);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("symlink"), std::string::npos) << r.error().message;
  EXPECT_EQ(stat_of(t / "target").st_uid, 0u);
  EXPECT_EQ(stat_of(t / "target/sub").st_uid, 0u);

  for (const char* bad : {"relative/dir", "", "/", "/var/log", "/tmp"}) {
    r = hand_over_paths({bad}, kUser);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_NE(hand_over_paths({"relative/dir"}, kUser).error().message.find("absolute"),
            std::string::npos);
  EXPECT_NE(stat_of("/tmp").st_uid, kUser.uid);

  // Owned by someone else: refused, not taken.
  fs::create_directory(t / "alice");
  ASSERT_EQ(::chown((t / "alice").c_str(), 1234, 1234), 0);
  r = hand_over_paths({t / "alice"}, kUser);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("uid 1234"), std::string::npos) << r.error().message;
  EXPECT_EQ(stat_of(t / "alice").st_uid, 1234u);
}

TEST(PrivsepHandOver, GivenAParentTheUserCannotSearch_ThenTheErrorNamesIt) {
  REQUIRE_ROOT();
  Tree t;
  fs::create_directories(t / "closed/logs");
  ::chmod((t / "closed").c_str(), 0700);
  const auto r = hand_over_paths({t / "closed/logs"}, kUser);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(t / "closed" + " (mode 0700"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("chmod o+x"), std::string::npos);
  EXPECT_EQ(stat_of(t / "closed/logs").st_uid, 0u);
}

TEST(PrivsepHandOver, GivenAnAuditLog_ThenARootFileIsHandedOverAndLinksAreRefused) {
  REQUIRE_ROOT();
  Tree t;
  EXPECT_TRUE(hand_over_file(t / "missing.log", kUser).ok());
  std::ofstream(t / "audit.log") << "old line\n";
  ::chmod((t / "audit.log").c_str(), 0600);
  ASSERT_TRUE(hand_over_file(t / "audit.log", kUser).ok());
  EXPECT_EQ(stat_of(t / "audit.log").st_uid, kUser.uid);
  EXPECT_EQ(stat_of(t / "audit.log").st_mode & 07777, 0600u);

  std::ofstream(t / "secret") << "s";
  fs::create_hard_link(t / "secret", t / "hard.log");
  auto r = hand_over_file(t / "hard.log", kUser);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("hard links"), std::string::npos) << r.error().message;
  fs::create_symlink(t / "secret", t / "soft.log");
  EXPECT_FALSE(hand_over_file(t / "soft.log", kUser).ok());
  EXPECT_EQ(stat_of(t / "secret").st_uid, 0u);
}

TEST(PrivsepReadable, GivenATokensFile_ThenOnlyAModeTheUserCanReadPasses) {
  REQUIRE_ROOT();
  Tree t;
  const std::string tokens = t / "tokens";
  EXPECT_TRUE(check_readable_by(tokens, kUser).ok()) << "a missing file means no tokens";
  std::ofstream(tokens) << "ci write sha256:00\n";
  ASSERT_EQ(::chown(tokens.c_str(), 0, 0), 0);
  ::chmod(tokens.c_str(), 0600);
  auto r = check_readable_by(tokens, kUser);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("chgrp pdtest " + tokens + " && chmod 0640 " + tokens),
            std::string::npos)
      << r.error().message;
  ASSERT_EQ(::chown(tokens.c_str(), 0, kUser.gid), 0);
  ::chmod(tokens.c_str(), 0640);
  EXPECT_TRUE(check_readable_by(tokens, kUser).ok());
  // Readable file, closed parent: still unreadable.
  ::chmod((t / "").c_str(), 0700);
  r = check_readable_by(tokens, kUser);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not searchable"), std::string::npos) << r.error().message;
}

TEST(PrivsepSeccomp, GivenTheDenyList_ThenCoreNamesResolveAndEveryNameIsInTheDocs) {
  std::ifstream in(PADDOCK_SOURCE_DIR "/docs/security-model.md");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  std::set<std::string> seen;
  for (const auto& g : daemon_seccomp_denylist()) {
    EXPECT_TRUE(g.err == EPERM || g.err == ENOSYS) << g.reason;
    for (const char* name : g.names) {
      EXPECT_TRUE(seen.insert(name).second) << name << " listed twice";
      EXPECT_NE(doc.find(std::string("`") + name + "`"), std::string::npos)
          << name << " is not in docs/security-model.md";
    }
  }
  // Names a newer libseccomp adds are skipped by an older one; these must always resolve.
  for (const char* core : {"ptrace", "process_vm_readv", "mount", "setns", "unshare", "clone3",
                           "bpf", "init_module", "kexec_load", "setuid", "open_by_handle_at"}) {
    EXPECT_EQ(seen.count(core), 1u) << core;
    EXPECT_NE(seccomp_syscall_resolve_name(core), __NR_SCMP_ERROR) << core;
  }
  // What the daemon needs is not denied.
  for (const char* needed : {"execve", "accept4", "sendmsg", "recvmsg", "pidfd_open", "kill",
                             "clone", "openat", "renameat2", "epoll_wait", "futex"}) {
    EXPECT_EQ(seen.count(needed), 0u) << needed;
  }
}

TEST(PrivsepHandOver,
     GivenAStoreLeftByRoot_ThenItsEntriesChangeHandsButNoSymlinkOrHardlinkIsFollowed) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to own and chown files";
  char tmpl[] = "/tmp/paddock-tree-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  fs::create_directories(dir + "/b-1/root/sub");
  std::ofstream(dir + "/b-1/root/sub/f") << "x";
  std::ofstream(dir + "/outside") << "keep";  // stands in for a root file elsewhere
  fs::create_directories(dir + "/.tmp");
  fs::create_symlink("/etc/passwd", dir + "/.tmp/link");
  ASSERT_EQ(::link((dir + "/outside").c_str(), (dir + "/b-1/hard").c_str()), 0);
  const DaemonUser u{"test", 54321, 54321};
  auto r = hand_over_tree(dir, u);
  ASSERT_TRUE(r) << r.error().message;
  const auto owner = [](const std::string& p) {
    struct stat st {};
    ::lstat(p.c_str(), &st);
    return st.st_uid;
  };
  EXPECT_EQ(owner(dir + "/b-1"), 54321u);
  EXPECT_EQ(owner(dir + "/b-1/root/sub"), 54321u);
  EXPECT_EQ(owner(dir + "/b-1/root/sub/f"), 54321u);
  EXPECT_EQ(owner(dir + "/.tmp"), 54321u);
  EXPECT_EQ(owner(dir), 0u) << "the top is hand_over_paths' business";
  EXPECT_EQ(owner("/etc/passwd"), 0u);
  EXPECT_EQ(owner(dir + "/.tmp/link"), 0u) << "symlinks are left alone";
  EXPECT_EQ(owner(dir + "/outside"), 0u) << "a file with two links is left alone";
  EXPECT_EQ(*r, 5u);  // b-1, root, sub, f, .tmp
  EXPECT_EQ(hand_over_tree(dir + "/missing", u).value(), 0u);
  fs::remove_all(dir);
}
