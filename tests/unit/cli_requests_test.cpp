// Command-line arguments -> API requests.
#include <gtest/gtest.h>

#include "paddock/cli/requests.hpp"

using namespace paddock::cli;
using nlohmann::json;

TEST(CliRequests, GivenStartArgsThenOnlyGivenFieldsAreSent) {
  StartArgs a;
  a.command = {"sh", "-c", "exit 3"};
  EXPECT_EQ(*start_request(a), (json{{"command", {"sh", "-c", "exit 3"}}}));

  a.name = "web";
  a.profile = "python";
  a.bundle = "/srv/paddock/bundles/app";
  a.port = true;
  a.restart = "on-failure";
  a.env = {"A=1", "B=x=y", "EMPTY="};
  a.labels = {"app=shiny"};
  const auto body = start_request(a);
  ASSERT_TRUE(body.ok()) << body.error().message;
  EXPECT_EQ(*body, (json{{"name", "web"},
                         {"profile", "python"},
                         {"bundle", "/srv/paddock/bundles/app"},
                         {"port", true},
                         {"restart", "on-failure"},
                         {"env", {{"A", "1"}, {"B", "x=y"}, {"EMPTY", ""}}},
                         {"labels", {{"app", "shiny"}}},
                         {"command", {"sh", "-c", "exit 3"}}}));
}

TEST(CliRequests, GivenMalformedKeyValueOrPolicyThenUsageErrorNamesTheOption) {
  StartArgs a;
  a.env = {"NOEQUALS"};
  auto r = start_request(a);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "usage");
  EXPECT_NE(r.error().message.find("--env expects KEY=VALUE, got 'NOEQUALS'"), std::string::npos);
  a.env.clear();
  a.labels = {"=v"};
  EXPECT_EQ(start_request(a).error().field, "--label");
  a.labels.clear();
  a.restart = "sometimes";
  EXPECT_NE(start_request(a).error().message.find("never, on-failure or always"),
            std::string::npos);
}

TEST(CliRequests, GivenRunArgsWithStdinThenBytesAreSentAsBase64) {
  RunArgs a;
  a.command = {"cat"};
  a.timeout_seconds = 5;
  a.stdin_data = std::string("hello\0\xff", 7);
  EXPECT_EQ(*run_request(a),
            (json{{"command", {"cat"}}, {"timeout_seconds", 5}, {"stdin_base64", "aGVsbG8A/w=="}}));
  RunArgs empty_stdin;
  empty_stdin.stdin_data = "";
  EXPECT_EQ((*run_request(empty_stdin))["stdin_base64"], "");
  // --network is sent only when given (else the daemon's [runs] default_network applies).
  EXPECT_FALSE(run_request(a)->contains("network"));
  a.network = "private";
  EXPECT_EQ((*run_request(a))["network"], "private");
}

TEST(CliRequests, GivenBytesThenBase64MatchesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(CliRequests, GivenQueryParamsThenEncodedAndEmptyOnesDropped) {
  EXPECT_EQ(query_string({}), "");
  EXPECT_EQ(query_string({{"state", ""}, {"label", ""}}), "");
  EXPECT_EQ(query_string({{"state", "ready"}, {"label", "app=a b&c"}}),
            "?state=ready&label=app%3Da%20b%26c");
  EXPECT_EQ(worker_path("w-1", "/logs"), "/v1/workers/w-1/logs");
  EXPECT_EQ(worker_path("../x"), "/v1/workers/..%2Fx");
}

TEST(CliRequests, GivenFileAndCollectArgsThenTheRunBodyCarriesThem) {
  auto plain = file_argument("dir/main.py");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->first, "dir/main.py");
  EXPECT_EQ(plain->second, "main.py");
  auto renamed = file_argument("data.csv=in/data.csv");
  ASSERT_TRUE(renamed);
  EXPECT_EQ(renamed->first, "data.csv");
  EXPECT_EQ(renamed->second, "in/data.csv");
  EXPECT_FALSE(file_argument("=x"));
  EXPECT_FALSE(file_argument("x="));
  RunArgs a;
  a.files = {{"main.py", "print(1)"}};
  a.collect = {"out/*.png"};
  auto body = run_request(a);
  ASSERT_TRUE(body);
  EXPECT_EQ((*body)["files"]["main.py"]["content_base64"], "cHJpbnQoMSk=");
  EXPECT_EQ((*body)["collect"], nlohmann::json::array({"out/*.png"}));
  a.files.push_back({"main.py", "again"});
  EXPECT_FALSE(run_request(a));
}
