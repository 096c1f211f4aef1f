// redis_auth: URL parsing, reply classification and the per-server decision.
#include <gtest/gtest.h>

#include "paddock/preflight/checks.hpp"

using namespace paddock;
using namespace paddock::preflight;

namespace {

RedisFinding reached(const std::string& url, const std::string& reply) {
  RedisFinding f;
  f.url = redact_url(url);
  f.parsed = parse_redis_url(url);
  f.probe.connect.reach = Reach::Reachable;
  f.probe.first_line = reply;
  return f;
}

}  // namespace

TEST(PreflightRedis, GivenUrlForms_WhenParsed_ThenHostAndPortWithoutCredentials) {
  auto a = parse_redis_url("redis://127.0.0.1:6380");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 6380);
  EXPECT_FALSE(a->tls);
  auto b = parse_redis_url("redis://user:p%40ss:word@cache.internal:7000/3");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "cache.internal");
  EXPECT_EQ(b->port, 7000);
  auto c = parse_redis_url("rediss://:secret@[::1]/0");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->tls);
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 6379);
  auto d = parse_redis_url("redis://localhost");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->port, 6379);
}

TEST(PreflightRedis, GivenBadUrls_WhenParsed_ThenErrorsWithoutTheirPasswords) {
  for (const char* url : {"http://x:1", "redis://:secret@", "redis://h:0", "redis://h:99999",
                          "redis://[::1:6379", "redis://h:12ab"}) {
    auto r = parse_redis_url(url);
    EXPECT_FALSE(r) << url;
    if (!r) {
      EXPECT_EQ(r.error().message.find("secret"), std::string::npos) << r.error().message;
    }
  }
}

TEST(PreflightRedis, GivenUrlsWithCredentials_WhenRedacted_ThenOnlyTheCredentialsGo) {
  EXPECT_EQ(redact_url("redis://u:p@h:1/2"), "redis://h:1/2");
  EXPECT_EQ(redact_url("rediss://:p@h:1"), "rediss://h:1");
  EXPECT_EQ(redact_url("redis://h:1"), "redis://h:1");
}

TEST(PreflightRedis, GivenReplies_WhenClassified_ThenPongNoAuthOrOther) {
  EXPECT_EQ(classify_redis_reply("+PONG"), RedisAnswer::Pong);
  EXPECT_EQ(classify_redis_reply("+PONG\r\n"), RedisAnswer::Pong);
  EXPECT_EQ(classify_redis_reply("-NOAUTH Authentication required."), RedisAnswer::NoAuth);
  EXPECT_EQ(classify_redis_reply("-ERR unknown command"), RedisAnswer::Other);
  EXPECT_EQ(classify_redis_reply("-DENIED Redis is running in protected mode"), RedisAnswer::Other);
  EXPECT_EQ(classify_redis_reply("SSH-2.0-OpenSSH_9.2"), RedisAnswer::Other);
  EXPECT_EQ(classify_redis_reply(""), RedisAnswer::Other);
}

TEST(PreflightRedis, GivenAnOpenServer_WhenEvaluated_ThenErrorSaysAnyoneCanReadAndModifyIt) {
  const auto r = evaluate_redis({reached("redis://127.0.0.1:6379", "+PONG")});
  EXPECT_EQ(r.severity, Severity::Error);
  EXPECT_NE(r.message.find("any process on the host network can read and modify this Redis"),
            std::string::npos);
  EXPECT_NE(r.remedy.find("requirepass"), std::string::npos);
}

TEST(PreflightRedis, GivenAServerAskingForAuth_WhenEvaluated_ThenOk) {
  const auto r =
      evaluate_redis({reached("redis://:pw@127.0.0.1:6379", "-NOAUTH Authentication required.")});
  EXPECT_EQ(r.severity, Severity::Ok) << r.message;
  EXPECT_EQ(r.details["servers"][0]["url"], "redis://127.0.0.1:6379");
  EXPECT_EQ(r.message.find("pw"), std::string::npos);
}

TEST(PreflightRedis, GivenTlsUnreachableAndOddServers_WhenEvaluated_ThenTheWorstWins) {
  RedisFinding tls;
  tls.url = "rediss://cache:6380";
  tls.parsed = parse_redis_url(tls.url);
  EXPECT_EQ(evaluate_redis({tls}).severity, Severity::Info);

  RedisFinding down;
  down.url = "redis://127.0.0.1:1";
  down.parsed = parse_redis_url(down.url);
  down.probe.connect = {Reach::Refused, "ECONNREFUSED", "127.0.0.1"};
  EXPECT_EQ(evaluate_redis({tls, down}).severity, Severity::Warning);
  EXPECT_EQ(evaluate_redis({reached("redis://h:1", "-ERR x")}).severity, Severity::Warning);
  EXPECT_EQ(evaluate_redis({tls, down, reached("redis://h:2", "+PONG")}).severity, Severity::Error);
  EXPECT_EQ(evaluate_redis({}).severity, Severity::Ok);
}
