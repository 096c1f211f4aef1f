// Log formats: text with key=value fields, JSON lines that parse and carry worker fields.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "paddock/log/log.hpp"

using namespace paddock;

class LogFormat : public ::testing::Test {
 protected:
  void TearDown() override { log::init_for_tests("off"); }
  std::ostringstream out;
  spdlog::sink_ptr sink() { return std::make_shared<spdlog::sinks::ostream_sink_mt>(out); }
};

TEST_F(LogFormat, GivenTextFormatThenFieldsAreKeyValueAndQuotedWhenNeeded) {
  log::init_with_sink(sink(), log::Format::Text, "info");
  log::info("worker started", log::worker_fields("w-1", 60000, 4242, {{"cmd", "sh -c x"}}));
  const std::string line = out.str();
  EXPECT_NE(line.find(" info "), std::string::npos) << line;
  EXPECT_NE(line.find("worker started worker_id=w-1 uid=60000 pid=4242 cmd=\"sh -c x\""),
            std::string::npos)
      << line;
}

TEST_F(LogFormat, GivenJsonFormatThenEachLineParsesWithTsLevelMsgAndFields) {
  log::init_with_sink(sink(), log::Format::Json, "debug");
  log::warn("spawn failed \"quoted\"\nnewline",
            log::worker_fields("w-2", 60001, 17, {{"errno", "EPERM"}}));
  log::debug("second");
  std::istringstream lines(out.str());
  std::string first, second;
  ASSERT_TRUE(std::getline(lines, first));
  ASSERT_TRUE(std::getline(lines, second));
  auto j = nlohmann::json::parse(first);
  EXPECT_EQ(j["level"], "warning");
  EXPECT_EQ(j["msg"], "spawn failed \"quoted\"\nnewline");
  EXPECT_EQ(j["worker_id"], "w-2");
  EXPECT_EQ(j["uid"], 60001);
  EXPECT_EQ(j["pid"], 17);
  EXPECT_EQ(j["errno"], "EPERM");
  EXPECT_TRUE(j["ts"].get<std::string>().ends_with("Z"));
  EXPECT_EQ(nlohmann::json::parse(second)["msg"], "second");
}

TEST_F(LogFormat, GivenLevelThenLowerLevelsAreDropped) {
  log::init_with_sink(sink(), log::Format::Text, "warn");
  log::info("hidden");
  log::error("shown");
  EXPECT_EQ(out.str().find("hidden"), std::string::npos);
  EXPECT_NE(out.str().find("shown"), std::string::npos);
}

TEST(LogPayload, InvalidUtf8IsReplacedNotThrown) {
  const std::string bad = std::string("x\xff") + "y";
  const auto payload = log::render_payload(log::Format::Json, bad, {{"k", bad}});
  const auto parsed = nlohmann::json::parse("{" + payload + "}", nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << payload;
}
