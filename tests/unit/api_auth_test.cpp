// Unit tests of token-file parsing, the token store, bearer parsing and the Authenticator's
// decisions for TCP (tokens and scopes) and the unix socket (peer credentials, with a fake
// group directory).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "paddock/api/auth.hpp"
#include "paddock/util/crypto.hpp"

using namespace paddock::api;
using ::testing::HasSubstr;

namespace {

std::string line_for(const std::string& name, const std::string& scope, const std::string& token) {
  return name + " " + scope + " sha256:" + paddock::util::sha256_hex(token) + "\n";
}

class FakeGroups final : public GroupDirectory {
 public:
  std::map<std::string, std::uint32_t> groups;
  std::map<std::uint32_t, std::vector<std::uint32_t>> members;
  std::optional<std::uint32_t> group_id(const std::string& name) const override {
    auto it = groups.find(name);
    if (it == groups.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::uint32_t> groups_of_uid(std::uint32_t uid) const override {
    auto it = members.find(uid);
    return it == members.end() ? std::vector<std::uint32_t>{} : it->second;
  }
};

Request tcp_request(std::string method, std::string path, std::string token = {}) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.target = r.path;
  r.peer.address = "127.0.0.1:5000";
  if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
  return r;
}

Request unix_request(std::uint32_t uid, std::uint32_t gid, std::string method = "POST",
                     std::string path = "/v1/workers") {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.target = r.path;
  r.peer.is_unix = true;
  r.peer.uid = uid;
  r.peer.gid = gid;
  r.peer.address = "unix";
  return r;
}

struct Fixture {
  std::shared_ptr<FakeGroups> groups = std::make_shared<FakeGroups>();
  std::shared_ptr<const TokenStore> tokens;
  AuthOptions options;
  Fixture() {
    auto parsed = parse_token_file(
        line_for("web", "write", "pdk_write") + line_for("grafana", "read", "pdk_read"), "tokens");
    tokens = std::make_shared<TokenStore>(*parsed);
    options.admin_group = "paddock-admin";
    groups->groups["paddock-admin"] = 990;
  }
  Authenticator make() const { return Authenticator(options, tokens, groups); }
};

std::string header_of(const Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return {};
}

}  // namespace

TEST(ApiTokenFile, GivenCommentsBlankLinesAndUpperCaseHex_WhenParsed_ThenEntriesAreNormalised) {
  const std::string hash = paddock::util::sha256_hex("pdk_a");
  std::string upper = hash;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string text = "# tokens\n\n   \nweb write sha256:" + upper +
                           "  # the frontend\n\tgrafana\tread\tsha256:" +
                           paddock::util::sha256_hex("pdk_b");  // no trailing newline
  auto r = parse_token_file(text, "tokens");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "web");
  EXPECT_EQ((*r)[0].scope, Scope::Write);
  EXPECT_EQ((*r)[0].sha256_hex, hash);
  EXPECT_EQ((*r)[1].name, "grafana");
  EXPECT_EQ((*r)[1].scope, Scope::Read);
}

TEST(ApiTokenFile, GivenMalformedLines_WhenParsed_ThenErrorNamesFileAndLine) {
  const std::string good = line_for("a", "read", "t1");
  const std::string hex = paddock::util::sha256_hex("t2");
  struct Case {
    std::string bad;
    std::string expect;
  } cases[] = {
      {"b admin sha256:" + hex, "must be 'read' or 'write'"},
      {"b read " + hex, "must start with 'sha256:'"},
      {"b read sha256:abc", "64 hex digits"},
      {"b read sha256:" + std::string(64, 'g'), "64 hex digits"},
      {"b read", "got 2 field(s)"},
      {"b read sha256:" + hex + " extra", "got 4 field(s)"},
      {"b/c read sha256:" + hex, "token name"},
      {"a read sha256:" + hex, "duplicate token name 'a'"},
      {"b read sha256:" + paddock::util::sha256_hex("t1"), "same hash"},
  };
  for (const auto& c : cases) {
    auto r = parse_token_file("# header\n" + good + c.bad + "\n", "/etc/paddock/tokens");
    ASSERT_FALSE(r.ok()) << c.bad;
    EXPECT_EQ(r.error().code, "invalid_token_file");
    EXPECT_THAT(r.error().message, HasSubstr("/etc/paddock/tokens:3: ")) << c.bad;
    EXPECT_THAT(r.error().message, HasSubstr(c.expect)) << c.bad;
  }
}

TEST(ApiTokenFile, GivenFileModes_WhenLoaded_ThenOnlyModesWiderThan0640Warn) {
  char tmpl[] = "/tmp/paddock-tokens-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/tokens";
  std::ofstream(path) << line_for("a", "read", "t");
  for (const auto& [mode, warns] : std::vector<std::pair<mode_t, bool>>{
           {0600, false}, {0640, false}, {0400, false}, {0644, true}, {0660, true}, {0666, true}}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto r = load_token_file(path);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->warnings.empty(), !warns) << std::oct << mode;
    if (warns) {
      EXPECT_THAT(r->warnings[0], HasSubstr("chmod 0640"));
    }
  }
  auto missing = load_token_file(std::string(tmpl) + "/absent");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "io");
  EXPECT_THAT(missing.error().message, HasSubstr("No such file"));
  std::filesystem::remove_all(tmpl);
}

TEST(ApiTokenStore, GivenEntries_WhenLookingUpPresentedTokens_ThenOnlyExactTokensMatch) {
  auto parsed =
      parse_token_file(line_for("a", "read", "pdk_one") + line_for("b", "write", "pdk_two"), "t");
  TokenStore store(*parsed);
  ASSERT_TRUE(store.lookup("pdk_two").has_value());
  EXPECT_EQ(store.lookup("pdk_two")->name, "b");
  EXPECT_EQ(store.lookup("pdk_one")->scope, Scope::Read);
  EXPECT_FALSE(store.lookup("pdk_on").has_value());
  EXPECT_FALSE(store.lookup("").has_value());
  // The stored hash itself is not a token.
  EXPECT_FALSE(store.lookup(paddock::util::sha256_hex("pdk_one")).has_value());
  EXPECT_FALSE(TokenStore().lookup("pdk_one").has_value());
}

TEST(ApiBearer, GivenAuthorizationValues_WhenParsed_ThenOnlyBearerWithOneTokenIsAccepted) {
  EXPECT_EQ(bearer_token("Bearer abc").value_or("-"), "abc");
  EXPECT_EQ(bearer_token("bearer   abc  ").value_or("-"), "abc");
  EXPECT_EQ(bearer_token("BEARER\tabc").value_or("-"), "abc");
  EXPECT_FALSE(bearer_token("Basic abc").has_value());
  EXPECT_FALSE(bearer_token("Bearer").has_value());
  EXPECT_FALSE(bearer_token("Bearer ").has_value());
  EXPECT_FALSE(bearer_token("Bearerabc").has_value());
  EXPECT_FALSE(bearer_token("Bearer a b").has_value());
}

TEST(ApiAuthTcp, GivenNoOrUnknownToken_WhenAuthenticating_Then401WithWwwAuthenticate) {
  Fixture f;
  const auto auth = f.make();
  auto none = auth.authenticate(tcp_request("GET", "/v1/version"));
  ASSERT_FALSE(none.allowed());
  EXPECT_EQ(none.refusal->status, 401u);
  EXPECT_EQ(header_of(*none.refusal, "WWW-Authenticate"), "Bearer realm=\"paddock\"");
  auto unknown = auth.authenticate(tcp_request("GET", "/v1/version", "pdk_nope"));
  ASSERT_FALSE(unknown.allowed());
  EXPECT_EQ(unknown.refusal->status, 401u);
  EXPECT_THAT(header_of(*unknown.refusal, "WWW-Authenticate"), HasSubstr("invalid_token"));
  EXPECT_THAT(unknown.refusal->body, ::testing::Not(HasSubstr("pdk_nope")));
  auto r = tcp_request("GET", "/v1/version");
  r.headers["authorization"] = "Basic dXNlcjpwYXNz";
  EXPECT_EQ(auth.authenticate(r).refusal->status, 401u);
}

TEST(ApiAuthTcp, GivenReadToken_WhenMethodIsNotGetOrHead_Then403InsufficientScope) {
  Fixture f;
  const auto auth = f.make();
  for (const char* m : {"GET", "HEAD"}) {
    auto d = auth.authenticate(tcp_request(m, "/v1/workers", "pdk_read"));
    EXPECT_TRUE(d.allowed()) << m;
    EXPECT_EQ(d.identity.who, "token:grafana");
  }
  for (const char* m : {"POST", "DELETE", "PUT", "PATCH", "OPTIONS"}) {
    auto d = auth.authenticate(tcp_request(m, "/v1/workers", "pdk_read"));
    ASSERT_FALSE(d.allowed()) << m;
    EXPECT_EQ(d.refusal->status, 403u);
    EXPECT_THAT(d.refusal->body, HasSubstr("insufficient_scope"));
    EXPECT_EQ(d.identity.who, "token:grafana");
  }
}

TEST(ApiAuthTcp, GivenWriteToken_WhenAnyMethod_ThenAllowedWithTokenName) {
  Fixture f;
  const auto auth = f.make();
  for (const char* m : {"GET", "POST", "DELETE"}) {
    auto d = auth.authenticate(tcp_request(m, "/v1/workers", "pdk_write"));
    ASSERT_TRUE(d.allowed()) << m;
    EXPECT_EQ(d.identity.who, "token:web");
    EXPECT_EQ(d.identity.scope, Scope::Write);
  }
}

TEST(ApiAuthTcp, GivenPublicRoutes_WhenNoToken_ThenHealthAndReadyAreOpenAndMetricsFollowsConfig) {
  Fixture f;
  auto auth = f.make();
  EXPECT_TRUE(auth.authenticate(tcp_request("GET", "/healthz")).allowed());
  EXPECT_TRUE(auth.authenticate(tcp_request("GET", "/readyz")).allowed());
  EXPECT_EQ(auth.authenticate(tcp_request("GET", "/metrics")).refusal->status, 401u);
  EXPECT_TRUE(auth.authenticate(tcp_request("GET", "/metrics", "pdk_read")).allowed());
  f.options.metrics_require_token = false;
  EXPECT_TRUE(f.make().authenticate(tcp_request("GET", "/metrics")).allowed());
}

TEST(ApiAuthTcp, GivenTokensReplaced_WhenOldTokenPresented_ThenRefused) {
  Fixture f;
  Authenticator auth = f.make();
  EXPECT_TRUE(auth.authenticate(tcp_request("GET", "/v1/version", "pdk_read")).allowed());
  auth.set_tokens(
      std::make_shared<TokenStore>(*parse_token_file(line_for("n", "read", "new"), "t")));
  EXPECT_FALSE(auth.authenticate(tcp_request("GET", "/v1/version", "pdk_read")).allowed());
  EXPECT_TRUE(auth.authenticate(tcp_request("GET", "/v1/version", "new")).allowed());
}

TEST(ApiAuthUnix, GivenRoot_WhenOnSocket_ThenWriteScope) {
  Fixture f;
  auto d = f.make().authenticate(unix_request(0, 0));
  ASSERT_TRUE(d.allowed());
  EXPECT_EQ(d.identity.who, "uid:0");
  EXPECT_EQ(d.identity.scope, Scope::Write);
}

TEST(ApiAuthUnix, GivenAdminGroupViaPeerGidOrSupplementaryGroups_WhenOnSocket_ThenAllowed) {
  Fixture f;
  f.groups->members[1500] = {1500, 990};
  EXPECT_TRUE(f.make().authenticate(unix_request(1500, 1500)).allowed());
  // No passwd entry, but the process runs with the admin group as its gid.
  EXPECT_TRUE(f.make().authenticate(unix_request(1600, 990)).allowed());
}

TEST(ApiAuthUnix, GivenOtherUser_WhenOnSocket_Then403ButHealthStillAnswers) {
  Fixture f;
  f.groups->members[1700] = {1700, 100};
  auto d = f.make().authenticate(unix_request(1700, 1700));
  ASSERT_FALSE(d.allowed());
  EXPECT_EQ(d.refusal->status, 403u);
  EXPECT_THAT(d.refusal->body, HasSubstr("paddock-admin"));
  EXPECT_TRUE(f.make().authenticate(unix_request(1700, 1700, "GET", "/healthz")).allowed());
}

TEST(ApiAuthUnix, GivenWorkerRangeUid_WhenOnSocket_ThenAlwaysRefusedEvenIfAdminOrPublicRoute) {
  Fixture f;
  f.groups->members[60999] = {65534, 990};
  for (std::uint32_t uid : {60000u, 60500u, 60999u}) {
    for (const char* path : {"/v1/workers", "/healthz", "/readyz"}) {
      auto d = f.make().authenticate(unix_request(uid, 990, "GET", path));
      ASSERT_FALSE(d.allowed()) << uid << path;
      EXPECT_EQ(d.refusal->status, 403u);
      EXPECT_THAT(d.refusal->body, HasSubstr("worker_uid_refused"));
    }
  }
  EXPECT_TRUE(f.make().authenticate(unix_request(61000, 990)).allowed());
}

TEST(ApiAuthUnix, GivenUnknownAdminGroupOrMissingCredentials_WhenOnSocket_ThenOnlyRootPasses) {
  Fixture f;
  f.options.admin_group = "no-such-group";
  f.groups->members[1500] = {1500, 990};
  EXPECT_FALSE(f.make().authenticate(unix_request(1500, 990)).allowed());
  EXPECT_TRUE(f.make().authenticate(unix_request(0, 0)).allowed());
  f.options.admin_group.clear();
  EXPECT_FALSE(f.make().authenticate(unix_request(1500, 990)).allowed());
  EXPECT_FALSE(f.make().authenticate(unix_request(0xffffffffu, 0xffffffffu)).allowed());
}

TEST(ApiAuthUnix, GivenBearerTokenOnSocket_WhenPeerIsNotAdmin_ThenTokenDoesNotHelp) {
  Fixture f;
  auto r = unix_request(1700, 1700);
  r.headers["authorization"] = "Bearer pdk_write";
  EXPECT_FALSE(f.make().authenticate(r).allowed());
}

TEST(ApiSystemGroups, GivenRoot_WhenLookingUpGroups_ThenRootGroupIsFound) {
  auto dir = system_group_directory();
  EXPECT_EQ(dir->group_id("root").value_or(999), 0u);
  EXPECT_FALSE(dir->group_id("paddock-no-such-group-xyz").has_value());
  const auto groups = dir->groups_of_uid(0);
  EXPECT_NE(std::find(groups.begin(), groups.end(), 0u), groups.end());
  EXPECT_TRUE(dir->groups_of_uid(4000000000u).empty());
}
