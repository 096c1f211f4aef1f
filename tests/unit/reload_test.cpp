// Config reload on SIGHUP: which keys apply live, change detection, merging and rejection.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "paddock/config/loader.hpp"
#include "paddock/daemon/reload.hpp"

using namespace paddock;
using daemon::Applies;

namespace {

config::HostFacts host() {
  config::HostFacts h;
  h.accounts = {{"root", 0}, {"nobody", 65534}};
  h.executables = {"/usr/bin/bwrap", "/opt/bwrap"};
  return h;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "paddock-reload-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

config::Config load_ok(const std::string& path) {
  auto r = config::load_file(path, {}, host());
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].to_string());
  return r.ok() ? *r.config : config::Config{};
}

}  // namespace

TEST(Reload, GivenTheSchema_ThenEveryKeyIsClassifiedAsLiveOrRestart) {
  // A key added to the schema must be classified in src/daemon/reload.cpp before it can be
  // reloaded; unclassified keys would silently need a restart.
  const auto keys = config::known_keys();
  const auto table = daemon::key_application();
  ASSERT_EQ(table.size(), keys.size());
  for (const auto& k : keys) {
    EXPECT_TRUE(daemon::applies(k).has_value())
        << k << " has no reload rule: classify it in src/daemon/reload.cpp (Live or Restart)";
  }
  EXPECT_EQ(daemon::applies("server.listen"), Applies::Restart);
  EXPECT_EQ(daemon::applies("process.worker_uid_range_start"), Applies::Restart);
  EXPECT_EQ(daemon::applies("limits.memory_mb"), Applies::Live);
  EXPECT_EQ(daemon::applies("log.level"), Applies::Live);
  EXPECT_EQ(daemon::applies("process.seccomp_profile"), Applies::Restart);
  EXPECT_EQ(daemon::applies("process.bundle_roots"), Applies::Live);
  EXPECT_FALSE(daemon::applies("server.no_such_key").has_value());
}

TEST(Reload, GivenTwoConfigsDifferingInSomeKeys_WhenCompared_ThenExactlyThoseKeysAreReported) {
  config::Config a;
  config::Config b = a;
  EXPECT_TRUE(daemon::changed_keys(a, b).empty());
  b.server.listen = {"127.0.0.1:9090"};
  b.limits.cpus = 2.5;
  b.process.bundle_roots.push_back("/srv/other");
  b.log.level = "debug";
  const auto changed = daemon::changed_keys(a, b);
  EXPECT_EQ(changed, (std::vector<std::string>{"server.listen", "process.bundle_roots", "log.level",
                                               "limits.cpus"}));
}

TEST(Reload, GivenEveryKeyChanged_WhenMerged_ThenOnlyLiveKeysTakeTheNewValue) {
  config::Config running;
  config::Config loaded;
  loaded.server.listen = {"127.0.0.1:9"};
  loaded.server.max_connections = 7;
  loaded.process.worker_uid_range_start = 61000;
  loaded.process.max_workers = 3;
  loaded.process.default_profile = "python";
  loaded.preflight.enforce = false;
  loaded.log.level = "debug";
  loaded.log.audit_log = "/tmp/other-audit.log";
  loaded.limits.memory_mb = 64;
  loaded.source_file = "/etc/paddock/new.toml";
  loaded.origins["limits.memory_mb"] = {"/etc/paddock/new.toml", 3, 1};
  loaded.origins["server.listen"] = {"/etc/paddock/new.toml", 1, 1};

  const auto merged = daemon::merge_live(running, loaded);
  EXPECT_EQ(merged.server.listen, running.server.listen);
  EXPECT_EQ(merged.server.max_connections, running.server.max_connections);
  EXPECT_EQ(merged.process.worker_uid_range_start, running.process.worker_uid_range_start);
  EXPECT_EQ(merged.preflight.enforce, running.preflight.enforce);
  EXPECT_EQ(merged.log.audit_log, running.log.audit_log);
  EXPECT_EQ(merged.process.max_workers, 3u);
  EXPECT_EQ(merged.process.default_profile, "python");
  EXPECT_EQ(merged.log.level, "debug");
  EXPECT_EQ(merged.limits.memory_mb, 64u);
  EXPECT_EQ(merged.source_file, "/etc/paddock/new.toml");
  EXPECT_EQ(merged.origins.count("limits.memory_mb"), 1u);
  EXPECT_EQ(merged.origins.count("server.listen"), 0u);
  // Only restart keys differ from the loaded config afterwards.
  for (const auto& k : daemon::changed_keys(merged, loaded)) {
    EXPECT_EQ(daemon::applies(k), Applies::Restart) << k;
  }
}

TEST(Reload, GivenAValidFileWithLiveAndRestartChanges_WhenReloaded_ThenBothAreReported) {
  TempDir dir;
  const auto path = dir.write("paddock.toml", "[log]\nlevel = \"info\"\n");
  const auto running = load_ok(path);
  dir.write("paddock.toml",
            "[server]\nlisten = [\"127.0.0.1:9999\"]\n[log]\nlevel = \"debug\"\n"
            "[limits]\npids = 99\n");
  const auto r = daemon::reload_config(path, running, {}, host());
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].to_string());
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.applied, (std::vector<std::string>{"log.level", "limits.pids"}));
  EXPECT_EQ(r.needs_restart, (std::vector<std::string>{"server.listen"}));
  EXPECT_EQ(r.config->log.level, "debug");
  EXPECT_EQ(r.config->limits.pids, 99u);
  EXPECT_EQ(r.config->server.listen, running.server.listen);
}

TEST(Reload, GivenAnUnchangedFile_WhenReloaded_ThenOkWithNothingApplied) {
  TempDir dir;
  const auto path = dir.write("paddock.toml", "[limits]\npids = 12\n");
  const auto running = load_ok(path);
  const auto r = daemon::reload_config(path, running, {}, host());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.applied.empty());
  EXPECT_TRUE(r.needs_restart.empty());
}

TEST(Reload, GivenABrokenFile_WhenReloaded_ThenRejectedWithPositionedErrorsAndNoConfig) {
  TempDir dir;
  const auto path = dir.write("paddock.toml", "[limits]\npids = 12\n");
  const auto running = load_ok(path);
  dir.write("paddock.toml", "[limits]\npids = 12\nmemroy_mb = 5\n");
  const auto r = daemon::reload_config(path, running, {}, host());
  EXPECT_FALSE(r.ok());
  ASSERT_FALSE(r.errors.empty());
  const auto msg = r.errors[0].to_string();
  EXPECT_NE(msg.find(path + ":3:1:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("memory_mb"), std::string::npos) << msg;
  EXPECT_TRUE(r.applied.empty());
}

TEST(Reload, GivenTheFileWasDeleted_WhenReloaded_ThenRejected) {
  TempDir dir;
  const auto path = dir.write("paddock.toml", "");
  const auto running = load_ok(path);
  std::filesystem::remove(path);
  const auto r = daemon::reload_config(path, running, {}, host());
  EXPECT_FALSE(r.ok());
  ASSERT_FALSE(r.errors.empty());
  EXPECT_NE(r.errors[0].to_string().find("cannot read config file"), std::string::npos)
      << r.errors[0].to_string();
}

TEST(Reload, GivenANewSeccompProfileThatIsNotAFilter_WhenReloaded_ThenRejectedNamingTheKey) {
  TempDir dir;
  const auto path = dir.write("paddock.toml", "");
  const auto running = load_ok(path);
  const auto junk = dir.write("junk.bpf", "not a filter");
  dir.write("paddock.toml", "[process]\nseccomp_profile = \"" + junk + "\"\n");
  const auto r = daemon::reload_config(path, running, {}, host());
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].key, "process.seccomp_profile");
  EXPECT_NE(r.errors[0].to_string().find(path + ":2:"), std::string::npos)
      << r.errors[0].to_string();
  EXPECT_NE(r.errors[0].message.find(junk), std::string::npos) << r.errors[0].message;
}

TEST(Reload, GivenANewUsableSeccompProfile_WhenReloaded_ThenAcceptedAndReportedAsNeedingRestart) {
  TempDir dir;
  const auto path = dir.write("paddock.toml", "");
  const auto running = load_ok(path);
  // One classic BPF instruction: BPF_RET|BPF_K SECCOMP_RET_ALLOW.
  const unsigned char ret_allow[8] = {0x06, 0, 0, 0, 0, 0, 0xff, 0x7f};
  const auto bpf = dir.path() + "/allow.bpf";
  std::ofstream(bpf, std::ios::binary).write(reinterpret_cast<const char*>(ret_allow), 8);
  dir.write("paddock.toml", "[process]\nseccomp_profile = \"" + bpf + "\"\n");
  const auto r = daemon::reload_config(path, running, {}, host());
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].to_string());
  EXPECT_EQ(r.needs_restart, (std::vector<std::string>{"process.seccomp_profile"}));
  EXPECT_EQ(r.config->process.seccomp_profile, running.process.seccomp_profile);
}

TEST(Reload, GivenTheEnvironmentOverridesAKey_WhenReloaded_ThenTheOverrideStillWins) {
  TempDir dir;
  const auto path = dir.write("paddock.toml", "[limits]\npids = 5\n");
  const config::Environment env{{"PADDOCK_LIMITS_PIDS", "77"}};
  auto first = config::load_file(path, env, host());
  ASSERT_TRUE(first.ok());
  dir.write("paddock.toml", "[limits]\npids = 6\n");
  const auto r = daemon::reload_config(path, *first.config, env, host());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config->limits.pids, 77u);
  EXPECT_TRUE(r.applied.empty());
}

TEST(ReloadDocs, GivenTheManPage_ThenEveryKeyIsDocumentedAndTheLiveListMatchesTheCode) {
  std::ifstream in(PADDOCK_SOURCE_DIR "/packaging/man/paddock.toml.5");
  ASSERT_TRUE(in) << "packaging/man/paddock.toml.5 missing";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string man = ss.str();
  for (const auto& [key, how] : daemon::key_application()) {
    const auto dot = key.find('.');
    const std::string section = "[" + key.substr(0, dot) + "]";
    const std::string name = key.substr(dot + 1);
    EXPECT_NE(man.find(".SH " + section), std::string::npos) << section;
    EXPECT_NE(man.find(".BI \"" + name + "\""), std::string::npos) << key << " is not documented";
  }
  // The RELOAD section's bullet list (up to the first .PP) names exactly the live keys of
  // [process] and [log]; [limits] is "every key".
  const auto reload = man.find(".SH RELOAD");
  ASSERT_NE(reload, std::string::npos);
  const auto pp = man.find(".PP", reload);
  const std::string live_part = man.substr(reload, pp - reload);
  std::set<std::string> words;
  std::string w;
  for (char c : live_part + " ") {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_') {
      w += c;
    } else if (!w.empty()) {
      words.insert(w);
      w.clear();
    }
  }
  for (const auto& [key, how] : daemon::key_application()) {
    if (key.rfind("limits.", 0) == 0) continue;
    const std::string name = key.substr(key.find('.') + 1);
    EXPECT_EQ(words.count(name) == 1, how == Applies::Live)
        << key
        << (how == Applies::Live ? " applies live but RELOAD does not list it"
                                 : " needs a restart but RELOAD lists it as live");
  }
}
