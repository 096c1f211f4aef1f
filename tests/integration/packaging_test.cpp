// Packaging: the systemd unit verifies, sysusers/tmpfiles create what the daemon needs, and the
// .deb (built by the ctest entry packaging.deb) has the right contents, control fields, and
// installs and purges in a throwaway root.
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t i = s.find(from); i != std::string::npos; i = s.find(from, i + to.size())) {
    s.replace(i, from.size(), to);
  }
  return s;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "paddock-pkg-XXXXXX").string();
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

/// man pages laid out as MANPATH expects, so `systemd-analyze verify` resolves Documentation=.
void lay_out_man_pages(const fs::path& dir) {
  const fs::path src = PADDOCK_SOURCE_DIR "/packaging/man";
  for (const auto& [page, section] : std::vector<std::pair<std::string, std::string>>{
           {"paddockd.8", "man8"}, {"paddock.1", "man1"}, {"paddock.toml.5", "man5"}}) {
    fs::create_directories(dir / section);
    fs::copy_file(src / page, dir / section / page, fs::copy_options::overwrite_existing);
  }
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

gid_t gid_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return static_cast<gid_t>(-1);
  return st.st_gid;
}

uid_t uid_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return static_cast<uid_t>(-1);
  return st.st_uid;
}

/// The id (third field) of `name` in the passwd-style file `rel` (etc/passwd, etc/group) of
/// `root`, or -1.
long id_in(const fs::path& root, const std::string& rel, const std::string& name) {
  std::istringstream in(read_file(root / rel));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + ":", 0) == 0) {
      const auto a = line.find(':', name.size() + 1);
      const auto b = line.find(':', a + 1);
      return std::stol(line.substr(a + 1, b - a - 1));
    }
  }
  return -1;
}

/// The gid of `group` in the /etc/group of `root`, or -1.
long group_gid_in(const fs::path& root, const std::string& group) {
  return id_in(root, "etc/group", group);
}

/// The uid of `user` in the /etc/passwd of `root`, or -1.
long user_uid_in(const fs::path& root, const std::string& user) {
  return id_in(root, "etc/passwd", user);
}

/// Install prefix of this build, from the data directory compiled into the binaries.
std::string install_prefix() {
  std::string d = PADDOCK_DATADIR;  // <prefix>/share/paddock
  return d.substr(0, d.size() - std::string("/share/paddock").size());
}

}  // namespace

TEST(SystemdUnit, GivenTheUnitWithExecStartOnTheBuiltBinary_ThenSystemdAnalyzeVerifyIsClean) {
  TempDir tmp;
  const std::string unit = read_file(PADDOCK_SOURCE_DIR "/packaging/systemd/paddockd.service");
  ASSERT_NE(unit.find("ExecStart=/usr/sbin/paddockd"), std::string::npos);
  ASSERT_NE(unit.find("ExecReload=/usr/bin/paddock upgrade"), std::string::npos);
  write_file(tmp.path() / "paddockd.service",
             replace_all(replace_all(unit, "/usr/sbin/paddockd", PADDOCKD_PATH),
                         "/usr/bin/paddock ", std::string(PADDOCK_CLI_PATH) + " "));
  lay_out_man_pages(tmp.path() / "man");
  const auto r = run("cd " + tmp.path().string() + " && MANPATH=" + (tmp.path() / "man").string() +
                     " systemd-analyze verify ./paddockd.service");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "") << "verify printed warnings:\n" << r.output;
}

TEST(SystemdUnit, GivenTheUnit_ThenItIsANotifyServiceWithTheChosenStopAndHardening) {
  const std::string unit = read_file(PADDOCK_SOURCE_DIR "/packaging/systemd/paddockd.service");
  for (const char* line :
       {"Type=notify", "NotifyAccess=main", "Delegate=yes", "KillMode=mixed",
        "TimeoutStopSec=", "Restart=on-failure", "LimitNOFILE=", "OOMScoreAdjust=-",
        "WatchdogSec=", "ExecReload=/usr/bin/paddock upgrade",
        "CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_KILL CAP_CHOWN CAP_SETPCAP\n",
        "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=read-only"}) {
    EXPECT_NE(unit.find(std::string("\n") + line), std::string::npos) << line;
  }
  // Settings that break bwrap must stay off (see the comments in the unit).
  for (const char* bad : {"\nProtectKernelTunables=yes", "\nProtectKernelLogs=yes",
                          "\nProtectHostname=yes", "\nRestrictNamespaces=", "\nProtectProc=",
                          "\nProtectControlGroups=yes", "\nMemoryDenyWriteExecute=yes"}) {
    EXPECT_EQ(unit.find(bad), std::string::npos) << bad;
  }
}

TEST(SystemdUnit, GivenSysusersAndTmpfiles_WhenAppliedToAnEmptyRoot_ThenGroupDirsAndTokensExist) {
  TempDir root;
  fs::create_directories(root.path() / "etc");
  const auto su = run("systemd-sysusers --root=" + root.path().string() +
                      " " PADDOCK_SOURCE_DIR "/packaging/sysusers/paddock.conf");
  ASSERT_EQ(su.exit_code, 0) << su.output;
  const long gid = group_gid_in(root.path(), "paddock-admin");
  ASSERT_GT(gid, 0) << read_file(root.path() / "etc/group");
  // The daemon's own system user, with its own group, no home and no shell.
  const long daemon_uid = user_uid_in(root.path(), "paddock");
  const long daemon_gid = group_gid_in(root.path(), "paddock");
  ASSERT_GT(daemon_uid, 0) << read_file(root.path() / "etc/passwd");
  ASSERT_GT(daemon_gid, 0) << read_file(root.path() / "etc/group");
  EXPECT_NE(daemon_gid, gid);
  EXPECT_NE(read_file(root.path() / "etc/passwd").find(":/nonexistent:/usr/sbin/nologin\n"),
            std::string::npos)
      << read_file(root.path() / "etc/passwd");
  const auto tf = run("systemd-tmpfiles --create --root=" + root.path().string() +
                      " " PADDOCK_SOURCE_DIR "/packaging/tmpfiles/paddock.conf");
  ASSERT_EQ(tf.exit_code, 0) << tf.output;
  EXPECT_EQ(mode_of(root.path() / "run/paddock"), 0750u);
  EXPECT_EQ(gid_of(root.path() / "run/paddock"), static_cast<gid_t>(gid));
  EXPECT_EQ(mode_of(root.path() / "var/lib/paddock"), 0711u);
  EXPECT_EQ(mode_of(root.path() / "var/lib/paddock/data"), 0711u);
  // state_dir (holding data_root) stays root's; the daemon's log and bundle directories are its.
  EXPECT_EQ(uid_of(root.path() / "var/lib/paddock"), 0u);
  EXPECT_EQ(uid_of(root.path() / "var/lib/paddock/data"), 0u);
  EXPECT_EQ(mode_of(root.path() / "var/log/paddock"), 0750u);
  EXPECT_EQ(uid_of(root.path() / "var/log/paddock"), static_cast<uid_t>(daemon_uid));
  EXPECT_EQ(gid_of(root.path() / "var/log/paddock"), static_cast<gid_t>(gid));
  EXPECT_EQ(mode_of(root.path() / "var/lib/paddock-bundles"), 0711u);
  EXPECT_EQ(uid_of(root.path() / "var/lib/paddock-bundles"), static_cast<uid_t>(daemon_uid));
  EXPECT_EQ(uid_of(root.path() / "run/paddock"), 0u);
  // The tokens file: written by root, read by the daemon through its group.
  ASSERT_TRUE(fs::is_regular_file(root.path() / "etc/paddock/tokens"));
  EXPECT_EQ(mode_of(root.path() / "etc/paddock/tokens"), 0640u);
  EXPECT_EQ(uid_of(root.path() / "etc/paddock/tokens"), 0u);
  EXPECT_EQ(gid_of(root.path() / "etc/paddock/tokens"), static_cast<gid_t>(daemon_gid));
  EXPECT_EQ(fs::file_size(root.path() / "etc/paddock/tokens"), 0u);

  // A tokens file made world-readable by mistake is put back to 0640, its content kept.
  write_file(root.path() / "etc/paddock/tokens", "ci write sha256:00\n");
  ::chmod((root.path() / "etc/paddock/tokens").c_str(), 0644);
  ASSERT_EQ(run("systemd-tmpfiles --create --root=" + root.path().string() +
                " " PADDOCK_SOURCE_DIR "/packaging/tmpfiles/paddock.conf")
                .exit_code,
            0);
  EXPECT_EQ(mode_of(root.path() / "etc/paddock/tokens"), 0640u);
  EXPECT_EQ(read_file(root.path() / "etc/paddock/tokens"), "ci write sha256:00\n");
}

// ---- The .deb ----------------------------------------------------------------------------

class DebPackage : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string name = "paddock_" PADDOCK_VERSION "_";
    for (const auto& e : fs::directory_iterator(PADDOCK_BINARY_DIR)) {
      const auto f = e.path().filename().string();
      if (f.rfind(name, 0) == 0 && e.path().extension() == ".deb") deb_ = e.path().string();
    }
    if (deb_.empty()) {
      if (std::getenv("PADDOCK_REQUIRE_DEB") != nullptr) {
        FAIL() << "no " << name << "*.deb in " PADDOCK_BINARY_DIR;
      }
      GTEST_SKIP() << "no package built in " PADDOCK_BINARY_DIR
                   << "; the ctest entry packaging.deb builds it (cmake --build "
                   << PADDOCK_BINARY_DIR << " --target package) and runs these tests";
    }
  }
  std::string deb_;
  const std::string prefix_ = install_prefix();
};

TEST_F(DebPackage, GivenThePackage_ThenItListsBinariesProbesProfilesUnitDocsAndCompletion) {
  const auto r = run("dpkg-deb -c " + deb_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string p = "." + prefix_;
  std::vector<std::string> expected{
      p + "/sbin/paddockd",
      p + "/bin/paddock",
      p + "/share/paddock/seccomp/default.bpf",
      p + "/share/paddock/seccomp/strict.bpf",
      p + "/share/paddock/seccomp/default.json",
      p + "/share/paddock/sandbox/shell.toml",
      p + "/share/paddock/sandbox/python.toml",
      p + "/share/paddock/sandbox/r.toml",
      p + "/share/paddock/apparmor/paddockd",
      p + "/lib/systemd/system/paddockd.service",
      p + "/lib/sysusers.d/paddock.conf",
      p + "/lib/tmpfiles.d/paddock.conf",
      p + "/share/man/man8/paddockd.8",
      p + "/share/man/man1/paddock.1",
      p + "/share/man/man5/paddock.toml.5",
      p + "/share/bash-completion/completions/paddock",
      p + "/share/bash-completion/completions/paddockd",
      p + "/share/doc/paddock/operator-guide.md",
      "./etc/paddock/paddock.toml",
  };
  // Every probe helper built from src/probe/<name>.cpp.
  for (const auto& e : fs::directory_iterator(PADDOCK_SOURCE_DIR "/src/probe")) {
    if (e.path().extension() != ".cpp") continue;
    std::string exe = e.path().stem().string();
    for (auto& c : exe) c = c == '_' ? '-' : c;
    expected.push_back(p + "/libexec/paddock/" + exe);
  }
  for (const auto& f : expected) {
    EXPECT_NE(r.output.find(" " + f + "\n"), std::string::npos) << f << " missing:\n" << r.output;
  }
  // No tokens file is shipped: it is created empty, 0640 root:paddock, on the target.
  EXPECT_EQ(r.output.find("etc/paddock/tokens"), std::string::npos);
}

TEST_F(DebPackage, GivenThePackage_ThenControlDependsOnBubblewrapAndKeepsTheConfigAsConffile) {
  const auto info = run("dpkg-deb -I " + deb_);
  ASSERT_EQ(info.exit_code, 0) << info.output;
  EXPECT_NE(info.output.find(" Package: paddock\n"), std::string::npos) << info.output;
  EXPECT_NE(info.output.find(" Version: " PADDOCK_VERSION "\n"), std::string::npos);
  const auto depends = run("dpkg-deb -f " + deb_ + " Depends");
  EXPECT_NE(depends.output.find("bubblewrap (>= 0.8)"), std::string::npos) << depends.output;
  // dpkg-shlibdeps added the shared libraries.
  EXPECT_NE(depends.output.find("libseccomp2"), std::string::npos) << depends.output;
  EXPECT_NE(depends.output.find("libsystemd0"), std::string::npos) << depends.output;
  TempDir ctl;
  ASSERT_EQ(run("dpkg-deb -e " + deb_ + " " + ctl.path().string()).exit_code, 0);
  EXPECT_EQ(read_file(ctl.path() / "conffiles"), "/etc/paddock/paddock.toml\n");
  // postinst enables and starts nothing (its messages may tell the operator how to).
  std::istringstream postinst(read_file(ctl.path() / "postinst"));
  std::string line;
  int commands = 0;
  while (std::getline(postinst, line)) {
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line.compare(first, 4, "echo") == 0 || line[first] == '#') {
      continue;
    }
    ++commands;
    for (const char* word : {"systemctl enable", "systemctl start", "systemctl restart",
                             "deb-systemd-helper enable", "deb-systemd-invoke"}) {
      EXPECT_EQ(line.find(word), std::string::npos) << line;
    }
  }
  EXPECT_GT(commands, 10);
}

TEST_F(DebPackage, GivenAThrowawayRoot_WhenInstalledAndPurged_ThenItWorksAndEnablesNothing) {
  TempDir root;
  const auto r = root.path();
  fs::create_directories(r / "var/lib/dpkg/info");
  fs::create_directories(r / "var/lib/dpkg/updates");
  write_file(r / "var/lib/dpkg/status", "");
  // Maintainer scripts run on the host against $DPKG_ROOT (the root has no shell of its own);
  // the shared-library dependencies are not in the empty root, hence --force-depends.
  const std::string dpkg =
      "dpkg --root=" + r.string() + " --force-script-chrootless --force-depends ";
  const auto inst = run(dpkg + "-i " + deb_);
  ASSERT_EQ(inst.exit_code, 0) << inst.output;
  EXPECT_NE(inst.output.find("nothing is enabled or started"), std::string::npos) << inst.output;

  const fs::path sbin = r / (prefix_.substr(1) + "/sbin/paddockd");
  ASSERT_TRUE(fs::exists(sbin));
  const auto ver = run(sbin.string() + " --version");
  EXPECT_EQ(ver.exit_code, 0) << ver.output;
  EXPECT_NE(ver.output.find("paddockd " PADDOCK_VERSION), std::string::npos);

  // postinst ran sysusers and tmpfiles against the root.
  const long gid = group_gid_in(r, "paddock-admin");
  EXPECT_GT(gid, 0) << read_file(r / "etc/group");
  const long daemon_uid = user_uid_in(r, "paddock");
  EXPECT_GT(daemon_uid, 0) << read_file(r / "etc/passwd");
  EXPECT_EQ(mode_of(r / "etc/paddock/tokens"), 0640u);
  EXPECT_EQ(gid_of(r / "etc/paddock/tokens"), static_cast<gid_t>(group_gid_in(r, "paddock")));
  EXPECT_EQ(uid_of(r / "var/log/paddock"), static_cast<uid_t>(daemon_uid));
  EXPECT_EQ(mode_of(r / "run/paddock"), 0750u);
  EXPECT_EQ(mode_of(r / "var/lib/paddock"), 0711u);
  EXPECT_EQ(mode_of(r / "var/log/paddock"), 0750u);
  // Nothing enabled.
  EXPECT_FALSE(fs::exists(r / "etc/systemd/system/multi-user.target.wants/paddockd.service"));

  // The shipped config is valid and names files the package installed.
  const auto check =
      run(sbin.string() + " check-config --config " + (r / "etc/paddock/paddock.toml").string());
  EXPECT_EQ(check.exit_code, 0) << check.output;
  const auto cfg = read_file(r / "etc/paddock/paddock.toml");
  const std::string bpf = prefix_ + "/share/paddock/seccomp/default.bpf";
  EXPECT_NE(cfg.find("seccomp_profile = \"" + bpf + "\""), std::string::npos);
  EXPECT_TRUE(fs::exists(r / bpf.substr(1)));
  const auto inspect = run((r / (prefix_.substr(1) + "/bin/paddock")).string() +
                           " seccomp inspect " + (r / bpf.substr(1)).string());
  EXPECT_EQ(inspect.exit_code, 0) << inspect.output;

  // The installed unit verifies once its paths point into the root.
  const fs::path unit_path = r / (prefix_.substr(1) + "/lib/systemd/system/paddockd.service");
  TempDir unit_dir;
  const std::string cli = (r / (prefix_.substr(1) + "/bin/paddock")).string();
  write_file(
      unit_dir.path() / "paddockd.service",
      replace_all(replace_all(read_file(unit_path), prefix_ + "/sbin/paddockd", sbin.string()),
                  prefix_ + "/bin/paddock ", cli + " "));
  const auto verify = run("cd " + unit_dir.path().string() +
                          " && MANPATH=" + (r / (prefix_.substr(1) + "/share/man")).string() +
                          " systemd-analyze verify ./paddockd.service");
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_EQ(verify.output, "") << verify.output;

  // Purge removes the files, the tokens, state and logs.
  const auto purge = run(dpkg + "--purge paddock");
  ASSERT_EQ(purge.exit_code, 0) << purge.output;
  EXPECT_FALSE(fs::exists(sbin));
  EXPECT_FALSE(fs::exists(r / "etc/paddock/tokens"));
  EXPECT_FALSE(fs::exists(r / "etc/paddock/paddock.toml"));
  EXPECT_FALSE(fs::exists(r / "var/lib/paddock"));
}
