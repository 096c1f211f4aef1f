// A run's files and collect through the real daemon and spawner: files written into the run's
// working directory before it starts, output files read back without following symlinks.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "paddock/api/worker_json.hpp"
#include "support/daemon.hpp"
#include "support/http_client.hpp"

using namespace paddock::test;
using nlohmann::json;

namespace {

class ApiRunFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: runs execute under their own UIDs";
    d = std::make_unique<TestDaemon>();
    ASSERT_TRUE(d->started()) << d->start_error();
  }
  HttpResponse post(const json& body) {
    return d->tcp().request("POST", "/v1/runs", body.dump(), {bearer(d->write_token())});
  }
  std::unique_ptr<TestDaemon> d;
};

std::map<std::string, json> entries(const json& run) {
  std::map<std::string, json> out;
  for (const auto& f : run["files"]) {
    out[f.contains("path") ? f["path"].get<std::string>()
                           : "pattern:" + f["pattern"].get<std::string>()] = f;
  }
  return out;
}

}  // namespace

TEST_F(ApiRunFiles, GivenFilesAndCollectThenTheRunSeesItsFilesAndItsOutputComesBack) {
  // Over 64 KiB, so the files travel to the spawner in a sealed memfd, not in the message.
  const std::string big(200 * 1024, 'z');
  const std::string script =
      "set -e; test \"$(pwd)\" = /work; cat data/input.txt > echo.txt; "
      "wc -c < big.bin > big.size; mkdir -p out; "
      "head -c 1048576 /dev/urandom > out/plot.png; echo '{\"answer\": 42}' > result.json; "
      "ln -s /etc/passwd out/passwd.png; ln -s /etc/passwd link.json";
  auto res = post({{"command", {"sh", "-c", script}},
                   {"files",
                    {{"data/input.txt", {{"content", "hello files\n"}}},
                     {"big.bin", {{"content_base64", paddock::api::base64_encode(big)}}}}},
                   {"collect",
                    {"out/*.png", "result.json", "echo.txt", "big.size", "../../etc/passwd",
                     "link.json", "/etc/shadow"}}});
  ASSERT_EQ(res.status, 200u) << res.body;
  const json run = res.json();
  ASSERT_EQ(run["exit_code"], 0) << run.dump().substr(0, 2000);
  auto got = entries(run);

  ASSERT_TRUE(got.count("out/plot.png")) << run["files"].dump().substr(0, 2000);
  const auto png =
      paddock::api::base64_decode(got["out/plot.png"]["content_base64"].get<std::string>());
  ASSERT_TRUE(png);
  EXPECT_EQ(png->size(), 1048576u);
  EXPECT_EQ(got["out/plot.png"]["size"], 1048576);
  EXPECT_EQ(got["out/plot.png"]["truncated"], false);
  EXPECT_EQ(*paddock::api::base64_decode(got["result.json"]["content_base64"].get<std::string>()),
            "{\"answer\": 42}\n");
  EXPECT_EQ(*paddock::api::base64_decode(got["echo.txt"]["content_base64"].get<std::string>()),
            "hello files\n");
  EXPECT_EQ(*paddock::api::base64_decode(got["big.size"]["content_base64"].get<std::string>()),
            std::to_string(big.size()) + "\n");

  // Escapes are error entries, never the file.
  EXPECT_TRUE(got["pattern:../../etc/passwd"].contains("error"))
      << run["files"].dump(1).substr(0, 3000);
  EXPECT_TRUE(got["pattern:/etc/shadow"].contains("error"));
  EXPECT_NE(got["link.json"]["error"].get<std::string>().find("symlink"), std::string::npos);
  EXPECT_NE(got["out/passwd.png"]["error"].get<std::string>().find("symlink"), std::string::npos);
  for (const auto& [k, f] : got) {
    EXPECT_FALSE(f.contains("content_base64") && f.contains("error")) << k;
  }
  EXPECT_EQ(res.body.find(paddock::api::base64_encode("root:x:0:0")), std::string::npos);

  // The working directory is gone once the run is answered.
  EXPECT_FALSE(std::filesystem::exists(d->dir() + "/data/" + run["id"].get<std::string>()));
}

TEST_F(ApiRunFiles, GivenBadFilesOrCollectThenBadRequestNamesTheField) {
  auto up = post({{"command", {"true"}}, {"files", {{"../x", {{"content", "a"}}}}}});
  EXPECT_EQ(up.status, 400u) << up.body;
  EXPECT_EQ(up.json()["error"]["field"], "files.../x") << up.body;
  auto abs = post({{"command", {"true"}}, {"files", {{"/etc/x", {{"content", "a"}}}}}});
  EXPECT_EQ(abs.status, 400u);
  EXPECT_EQ(abs.json()["error"]["field"], "files./etc/x") << abs.body;
  auto both = post(
      {{"command", {"true"}}, {"files", {{"a", {{"content", "a"}, {"content_base64", "YQ=="}}}}}});
  EXPECT_EQ(both.status, 400u);
  EXPECT_EQ(both.json()["error"]["field"], "files.a") << both.body;
  auto pattern = post({{"command", {"true"}}, {"collect", {"a", 3}}});
  EXPECT_EQ(pattern.status, 400u);
  EXPECT_EQ(pattern.json()["error"]["field"], "collect[1]") << pattern.body;
}
