// The pure router: path params, 404, 405 with Allow, HEAD via GET; target parsing.
#include <gtest/gtest.h>

#include "paddock/api/router.hpp"

using namespace paddock::api;

namespace {
Request req(std::string method, std::string target) {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  EXPECT_TRUE(parse_target(r.target, r.path, r.query));
  return r;
}
Router make() {
  Router router;
  router.add("GET", "/v1/workers/{id}", [](const Request&, const PathParams& p) {
    return Response::json(200, {{"id", p.at("id")}});
  });
  router.add("DELETE", "/v1/workers/{id}",
             [](const Request&, const PathParams&) { return Response::json(202, {}); });
  return router;
}
}  // namespace

TEST(Router, GivenPatternThenParamIsExtracted) {
  auto r = make().handle(req("GET", "/v1/workers/w-12?x=1"));
  EXPECT_EQ(r.status, 200u);
  EXPECT_NE(r.body.find("\"id\":\"w-12\""), std::string::npos);
}

TEST(Router, GivenUnknownPathThen404JsonError) {
  auto r = make().handle(req("GET", "/v1/nothing"));
  EXPECT_EQ(r.status, 404u);
  EXPECT_NE(r.body.find("\"code\":\"not_found\""), std::string::npos);
}

TEST(Router, GivenKnownPathWrongMethodThen405WithAllow) {
  auto r = make().handle(req("POST", "/v1/workers/w-1"));
  EXPECT_EQ(r.status, 405u);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].second, "GET, DELETE");
}

TEST(Router, GivenHeadThenGetHandlerAnswers) {
  EXPECT_EQ(make().handle(req("HEAD", "/v1/workers/a")).status, 200u);
}

TEST(Router, GivenEmptySegmentThenNoMatch) {
  EXPECT_EQ(make().handle(req("GET", "/v1/workers/")).status, 404u);
}

TEST(Target, DecodesPathAndQuery) {
  std::string path;
  std::multimap<std::string, std::string> q;
  ASSERT_TRUE(parse_target("/v1/a%20b?label=k%3Dv&tail=10&flag", path, q));
  EXPECT_EQ(path, "/v1/a b");
  EXPECT_EQ(q.find("label")->second, "k=v");
  EXPECT_EQ(q.find("tail")->second, "10");
  EXPECT_EQ(q.count("flag"), 1u);
}

TEST(Target, RejectsBadEscapesNulAndRelative) {
  std::string path;
  std::multimap<std::string, std::string> q;
  EXPECT_FALSE(parse_target("/a%2", path, q));
  EXPECT_FALSE(parse_target("/a%zz", path, q));
  EXPECT_FALSE(parse_target("/a%00b", path, q));
  EXPECT_FALSE(parse_target("a/b", path, q));
  EXPECT_FALSE(parse_target("/a?x=%", path, q));
}
