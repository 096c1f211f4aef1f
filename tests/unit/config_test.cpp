// Config loading and validation: every rule, defaults, environment precedence, positions.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "paddock/config/loader.hpp"

using namespace paddock::config;

namespace {

HostFacts host() {
  HostFacts h;
  h.accounts = {{"root", 0}, {"daemon", 1}, {"alice", 1000}, {"nobody", 65534}};
  h.executables = {"/usr/bin/bwrap"};
  return h;
}

LoadResult load(const std::string& text, const Environment& env = {}) {
  return load_from_string(text, "/etc/paddock/paddock.toml", env, host());
}

bool has_error(const LoadResult& r, const std::string& needle) {
  return std::any_of(r.errors.begin(), r.errors.end(), [&](const Diagnostic& d) {
    return d.to_string().find(needle) != std::string::npos;
  });
}

std::string all_errors(const LoadResult& r) {
  std::string s;
  for (const auto& e : r.errors) s += e.to_string() + "\n";
  return s;
}

}  // namespace

TEST(Config, GivenEmptyFileThenDefaultsApply) {
  auto r = load("");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.server.listen, std::vector<std::string>{"127.0.0.1:8080"});
  EXPECT_EQ(c.server.socket, "/run/paddock/paddock.sock");
  EXPECT_EQ(c.server.socket_mode, 0660u);
  EXPECT_EQ(c.server.max_body_bytes, 1024u * 1024u);
  EXPECT_EQ(c.process.worker_uid_range_start, 60000u);
  EXPECT_EQ(c.process.worker_uid_range_end, 60999u);
  EXPECT_EQ(c.process.worker_gid, 65534u);
  EXPECT_EQ(c.process.bwrap_path, "/usr/bin/bwrap");
  EXPECT_TRUE(c.preflight.enforce);
  EXPECT_EQ(c.preflight.metadata_endpoint, "169.254.169.254:80");
  EXPECT_EQ(c.log.level, "info");
  EXPECT_EQ(c.limits.memory_mb, 512u);
  EXPECT_TRUE(c.origins.empty());
}

TEST(Config, GivenEveryContractKeyThenEachIsRead) {
  auto r = load(R"(
[server]
listen = ["127.0.0.1:9000", "[::1]:9001"]
socket = "/run/p/p.sock"
socket_mode = "0600"
socket_group = "ops"
token_file = "/etc/p/tokens"
max_body_bytes = 2048
max_connections = 10
request_timeout_seconds = 5
[process]
bwrap_path = "/usr/bin/bwrap"
seccomp_profile = "/x/default.bpf"
sandbox_profiles_dir = "/x/sandbox"
default_profile = "python"
worker_uid_range_start = 70000
worker_uid_range_end = 70099
worker_gid = 70000
port_range_start = 30000
port_range_end = 30099
bundle_roots = ["/srv/a", "/srv/b"]
max_workers = 7
state_dir = "/var/lib/x"
[preflight]
enforce = false
metadata_endpoint = "127.0.0.1:9"
skip_metadata_check = true
redis_urls = ["redis://127.0.0.1:6379"]
vault_addr = "127.0.0.1:8200"
database_addr = "127.0.0.1:5432"
timeout_seconds = 3
[log]
level = "debug"
format = "json"
audit_log = "/var/log/x/audit.log"
worker_log_dir = "/var/log/x/workers"
worker_log_max_bytes = 8192
[limits]
memory_mb = 256
cpus = 0.5
pids = 64
nofile = 256
tmp_mb = 16
wall_seconds = 60
)");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.server.listen.size(), 2u);
  EXPECT_EQ(c.server.socket_mode, 0600u);
  EXPECT_EQ(c.server.socket_group, "ops");
  EXPECT_EQ(c.server.max_connections, 10u);
  EXPECT_EQ(c.process.default_profile, "python");
  EXPECT_EQ(c.process.worker_uid_range_start, 70000u);
  EXPECT_EQ(c.process.bundle_roots, (std::vector<std::string>{"/srv/a", "/srv/b"}));
  EXPECT_FALSE(c.preflight.enforce);
  EXPECT_EQ(c.preflight.redis_urls.size(), 1u);
  EXPECT_EQ(c.log.format, "json");
  EXPECT_DOUBLE_EQ(c.limits.cpus, 0.5);
  EXPECT_EQ(c.limits.wall_seconds, 60u);
  EXPECT_EQ(c.origins.at("process.worker_gid").line, 18u);
}

TEST(Config, GivenMisspelledKeyThenErrorHasPositionKeyAndSuggestion) {
  auto r = load("[process]\nworker_uid_rnage_start = 1\n");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u);
  const std::string msg = r.errors[0].to_string();
  EXPECT_EQ(msg.rfind("/etc/paddock/paddock.toml:2:1: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("worker_uid_rnage_start"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'worker_uid_range_start'"), std::string::npos) << msg;
}

TEST(Config, GivenUnknownSectionThenErrorSuggestsClosest) {
  auto r = load("[proces]\nmax_workers = 3\n");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(has_error(r, "unknown section [proces]; did you mean 'process'")) << all_errors(r);
}

TEST(Config, GivenWrongTypeThenErrorNamesKeyAndExpectedType) {
  auto r = load("[process]\nmax_workers = \"many\"\n");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(has_error(r, ":2:15: 'process.max_workers' must be an integer")) << all_errors(r);
  auto r2 = load("[server]\nlisten = \"127.0.0.1:8080\"\n");
  EXPECT_TRUE(has_error(r2, "'server.listen' must be an array of strings")) << all_errors(r2);
}

TEST(Config, GivenTomlSyntaxErrorThenPositionIsReported) {
  auto r = load("[server]\nlisten = [\"a\"\n");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(has_error(r, "/etc/paddock/paddock.toml:")) << all_errors(r);
  EXPECT_TRUE(has_error(r, "TOML syntax error")) << all_errors(r);
}

TEST(Config, GivenUidStartAboveEndThenError) {
  auto r = load("[process]\nworker_uid_range_start = 61000\nworker_uid_range_end = 60000\n");
  EXPECT_TRUE(has_error(r, ":2:26: worker_uid_range_start (61000) is greater than"))
      << all_errors(r);
}

TEST(Config, GivenUidRangeWithSystemUsersThenError) {
  auto r = load("[process]\nworker_uid_range_start = 500\nworker_uid_range_end = 2000\n");
  EXPECT_TRUE(has_error(r, "includes system users (0-999)")) << all_errors(r);
}

TEST(Config, GivenUidRangeWithPasswdAccountThenErrorNamesAccount) {
  auto r = load("[process]\nworker_uid_range_start = 1000\nworker_uid_range_end = 1999\n");
  EXPECT_TRUE(has_error(r, "includes the account 'alice' (uid 1000)")) << all_errors(r);
}

TEST(Config, GivenRangeIncludingNobodyThenError) {
  auto r = load("[process]\nworker_uid_range_start = 65000\nworker_uid_range_end = 65535\n");
  EXPECT_TRUE(has_error(r, "includes 65534 (nobody)")) << all_errors(r);
}

TEST(Config, GivenWorkerGidZeroThenError) {
  auto r = load("[process]\nworker_gid = 0\n");
  EXPECT_TRUE(has_error(r, "worker_gid 0 is root's group")) << all_errors(r);
}

TEST(Config, GivenWorkerGidMinusOneThenError) {
  auto r = load("[process]\nworker_gid = 4294967295\n");
  EXPECT_TRUE(has_error(r, "worker_gid 4294967295 is (gid_t)-1")) << all_errors(r);
  EXPECT_FALSE(has_error(load("[process]\nworker_gid = 4294967294\n"), "worker_gid"));
}

TEST(Config, GivenAUidRangeEndingAtMinusOneThenError) {
  auto r =
      load("[process]\nworker_uid_range_start = 4294967000\nworker_uid_range_end = 4294967295\n");
  EXPECT_TRUE(has_error(r, "includes 4294967295, which is (uid_t)-1")) << all_errors(r);
  auto ok =
      load("[process]\nworker_uid_range_start = 4294967000\nworker_uid_range_end = 4294967294\n");
  EXPECT_FALSE(has_error(ok, "worker_uid_range")) << all_errors(ok);
}

TEST(Config, GivenPortsOutsideUnprivilegedRangeThenError) {
  auto r = load("[process]\nport_range_start = 80\nport_range_end = 70000\n");
  EXPECT_TRUE(has_error(r, "port_range_start = 80 is outside 1024-65535")) << all_errors(r);
  EXPECT_TRUE(has_error(r, "port_range_end = 70000 is outside 1024-65535")) << all_errors(r);
  auto r2 = load("[process]\nport_range_start = 3000\nport_range_end = 2000\n");
  EXPECT_TRUE(has_error(r2, "port_range_start (3000) is greater than port_range_end"))
      << all_errors(r2);
}

TEST(Config, GivenMissingBwrapThenErrorSaysHowToInstall) {
  auto r = load("[process]\nbwrap_path = \"/opt/nothing/bwrap\"\n");
  EXPECT_TRUE(has_error(r, "apt-get install bubblewrap")) << all_errors(r);
  auto r2 = load("[process]\nbwrap_path = \"bwrap\"\n");
  EXPECT_TRUE(has_error(r2, "bwrap_path must be an absolute path")) << all_errors(r2);
}

TEST(Config, GivenBadListenAddressThenError) {
  auto r = load("[server]\nlisten = [\"127.0.0.1\"]\n");
  EXPECT_TRUE(has_error(r, "server.listen: '127.0.0.1' is not of the form host:port"))
      << all_errors(r);
}

TEST(Config, GivenTheDaemonUserThenDefaultPaddockAndBadNamesOrRootAreRefused) {
  auto def = load("");
  ASSERT_TRUE(def.ok()) << all_errors(def);
  EXPECT_EQ(def.config->server.user, "paddock");
  auto other = load("[server]\nuser = \"_paddock-svc\"\n");
  ASSERT_TRUE(other.ok()) << all_errors(other);
  EXPECT_EQ(other.config->server.user, "_paddock-svc");
  EXPECT_TRUE(has_error(load("[server]\nuser = \"\"\n"), "server.user is empty"));
  EXPECT_TRUE(has_error(load("[server]\nuser = \"root\"\n"), "must not be root"));
  for (const char* bad : {"-x", "9lives", "a b", "x/y", "a:b"}) {
    EXPECT_TRUE(has_error(load(std::string("[server]\nuser = \"") + bad + "\"\n"),
                          "is not a valid user name"))
        << bad;
  }
  EXPECT_TRUE(has_error(load("[server]\nuser = \"" + std::string(33, 'a') + "\"\n"),
                        "is not a valid user name"));
}

TEST(Config, GivenBadLogLevelAndFormatThenErrors) {
  auto r = load("[log]\nlevel = \"verbose\"\nformat = \"xml\"\n");
  EXPECT_TRUE(has_error(r, "log.level 'verbose'")) << all_errors(r);
  EXPECT_TRUE(has_error(r, "log.format 'xml'")) << all_errors(r);
}

TEST(Config, GivenNetworkDefaultsThenWorkersArePrivateRunsHaveNoneAndBadValuesAreNamed) {
  auto r = load("");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.config->process.default_network, "private");
  EXPECT_EQ(r.config->runs.default_network, "none");
  auto set = load("[runs]\ndefault_network = \"private\"\n");
  ASSERT_TRUE(set.ok()) << all_errors(set);
  EXPECT_EQ(set.config->runs.default_network, "private");
  auto bad = load("[runs]\ndefault_network = \"tap\"\n");
  EXPECT_TRUE(has_error(bad, "runs.default_network 'tap' must be")) << all_errors(bad);
  auto host = load("[runs]\ndefault_network = \"host\"\n");
  EXPECT_TRUE(has_error(host, "runs.default_network is \"host\" but allow_host_network is false"))
      << all_errors(host);
}

TEST(Config, GivenOutOfRangeIntegerThenError) {
  auto r = load("[process]\nworker_uid_range_end = -5\n");
  EXPECT_TRUE(has_error(r, "out of range")) << all_errors(r);
  auto r2 = load("[server]\nsocket_mode = \"0999\"\n");
  EXPECT_TRUE(has_error(r2, "'server.socket_mode' must be an octal mode")) << all_errors(r2);
}

TEST(Config, GivenRedisUrlWithoutSchemeThenError) {
  auto r = load("[preflight]\nredis_urls = [\"127.0.0.1:6379\"]\n");
  EXPECT_TRUE(has_error(r, "must start with redis:// or rediss://")) << all_errors(r);
}

TEST(Config, GivenEnvOverrideThenEnvWinsOverFileAndOriginSaysEnv) {
  auto r = load("[server]\nlisten = [\"127.0.0.1:8080\"]\n[process]\nmax_workers = 3\n",
                {{"PADDOCK_SERVER_LISTEN", "127.0.0.1:9000, [::1]:9001"},
                 {"PADDOCK_PROCESS_MAX_WORKERS", "9"},
                 {"PADDOCK_PREFLIGHT_ENFORCE", "false"}});
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.config->server.listen, (std::vector<std::string>{"127.0.0.1:9000", "[::1]:9001"}));
  EXPECT_EQ(r.config->process.max_workers, 9u);
  EXPECT_FALSE(r.config->preflight.enforce);
  EXPECT_EQ(r.config->origins.at("process.max_workers").file, "env PADDOCK_PROCESS_MAX_WORKERS");
}

TEST(Config, GivenFileValueWithoutEnvThenFileWinsOverDefault) {
  auto r = load("[process]\nmax_workers = 3\n", {{"PADDOCK_SERVER_MAX_CONNECTIONS", "5"}});
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.config->process.max_workers, 3u);
  EXPECT_EQ(r.config->server.max_connections, 5u);
}

TEST(Config, GivenBadEnvValueOrUnknownEnvKeyThenErrorNamesVariable) {
  auto r = load("", {{"PADDOCK_PROCESS_MAX_WORKERS", "lots"}});
  EXPECT_TRUE(has_error(r, "PADDOCK_PROCESS_MAX_WORKERS must be an integer")) << all_errors(r);
  auto r2 = load("", {{"PADDOCK_PROCESS_MAX_WORKRS", "3"}});
  EXPECT_TRUE(has_error(r2,
                        "PADDOCK_PROCESS_MAX_WORKRS matches no config key; did you mean "
                        "'PADDOCK_PROCESS_MAX_WORKERS'"))
      << all_errors(r2);
}

TEST(Config, GivenEnvValueThatBreaksValidationThenErrorPointsAtEnv) {
  auto r = load("", {{"PADDOCK_PROCESS_WORKER_GID", "0"}});
  EXPECT_TRUE(has_error(r, "env PADDOCK_PROCESS_WORKER_GID: worker_gid 0")) << all_errors(r);
}

TEST(Config, GivenRelativePathsThenTheyResolveAgainstTheFilesDirectory) {
  auto r =
      load_from_string("[server]\nsocket = \"../run/p.sock\"\n[process]\nbundle_roots = [\"b\"]\n",
                       "/opt/app/config/paddock.toml", {}, host());
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.config->server.socket, "/opt/app/run/p.sock");
  EXPECT_EQ(r.config->process.bundle_roots, std::vector<std::string>{"/opt/app/config/b"});
}

TEST(Config, GivenSeveralProblemsThenAllAreReportedAtOnce) {
  auto r = load("[process]\nworker_gid = 0\nport_range_start = 1\n[log]\nlevel = \"loud\"\n");
  EXPECT_GE(r.errors.size(), 3u) << all_errors(r);
}

TEST(Config, GivenMissingFileThenErrorSaysHowToFixIt) {
  auto r = load_file("/nonexistent/paddock.toml", {}, host());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(has_error(r, "/nonexistent/paddock.toml: cannot read config file")) << all_errors(r);
  EXPECT_TRUE(has_error(r, "--config")) << all_errors(r);
}

TEST(Config, PasswdParsingSkipsMalformedLines) {
  auto accts = parse_passwd(
      "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken\nbob:x:abc:1::/:/bin/sh\n"
      "svc:x:60010:65534::/:/usr/sbin/nologin\n");
  ASSERT_EQ(accts.size(), 2u);
  EXPECT_EQ(accts[1].name, "svc");
  EXPECT_EQ(accts[1].uid, 60010u);
}

TEST(Config, ShippedConfigFilesAreValidAndDocumentEveryKey) {
  // config/paddock.toml must mention every known key (documented with its default).
  for (const char* name : {"paddock.toml", "paddock.dev.toml"}) {
    const std::string path = std::string(PADDOCK_SOURCE_DIR) + "/config/" + name;
    HostFacts h = host();
    auto r = load_file(path, {}, h);
    // Paths such as bwrap are real-host facts; only schema problems matter here.
    for (const auto& e : r.errors) {
      EXPECT_NE(e.message.find("bwrap_path"), std::string::npos) << name << ": " << e.to_string();
    }
  }
  std::ifstream in(std::string(PADDOCK_SOURCE_DIR) + "/config/paddock.toml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto& key : known_keys()) {
    const std::string bare = key.substr(key.find('.') + 1);
    EXPECT_NE(text.find(bare + " ="), std::string::npos)
        << "config/paddock.toml does not document " << key;
  }
}

TEST(Config, GivenAWarmPoolTable_ThenEachProfileCountIsRead) {
  auto r = load("[pool]\nwarm = {shell = 4, python = 2}\n");
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.config->pool.warm,
            (std::map<std::string, std::uint32_t>{{"python", 2}, {"shell", 4}}));
  EXPECT_TRUE(load("").config->pool.warm.empty());
  auto env = load("", {{"PADDOCK_POOL_WARM", "shell=3, r=1"}});
  ASSERT_TRUE(env.ok()) << all_errors(env);
  EXPECT_EQ(env.config->pool.warm, (std::map<std::string, std::uint32_t>{{"r", 1}, {"shell", 3}}));
}

TEST(Config, GivenABadWarmPool_ThenTheErrorNamesTheKey) {
  EXPECT_TRUE(has_error(load("[pool]\nwarm = [\"shell\"]\n"), "pool.warm' must be a table"));
  EXPECT_TRUE(
      has_error(load("[pool]\nwarm = {shell = \"4\"}\n"), "pool.warm.shell' must be an integer"));
  EXPECT_TRUE(has_error(load("[pool]\nwarm = {shell = 65}\n"), "out of range (0..64)"));
  EXPECT_TRUE(has_error(load("[pool]\nwarm = {\"../x\" = 1}\n"), "not a profile name"));
  EXPECT_TRUE(has_error(load("", {{"PADDOCK_POOL_WARM", "shell"}}), "is not name=count"));
  // More than half of the UID range would be parked.
  EXPECT_TRUE(has_error(load("[process]\nworker_uid_range_start = 60000\n"
                             "worker_uid_range_end = 60009\n[pool]\nwarm = {shell = 6}\n"),
                        "more than half of [process] worker_uid_range"));
  EXPECT_TRUE(has_error(load("", {{"PADDOCK_POOL_HELPER_PATH", "rel/x"}}),
                        "pool.helper_path must be an absolute path"));
}
