// The error-code table (code -> HTTP status -> meaning) is the one the OpenAPI document serves,
// and every code the daemon's source can send is in it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "paddock/api/error_codes.hpp"
#include "paddock/api/openapi.hpp"

using namespace paddock::api;
using nlohmann::json;

namespace {

// Codes of errors that end the daemon's start or a local command, never an HTTP answer: the
// listeners (listen), token and config files (invalid_token_file, io).
const std::set<std::string> kNotSentOverHttp{"listen", "invalid_token_file", "io"};

// The modules whose errors reach an HTTP answer (routes, JSON bodies, supervisor, sandbox
// planning, pools, the daemon's preflight routes).
const char* const kHttpModules[] = {"api", "supervisor", "sandbox", "pool", "daemon"};

struct Emitted {
  std::string code;
  unsigned status = 0;  ///< 0: chosen by the table (make_error, FieldReader::fail)
  std::string where;
};

std::vector<Emitted> emitted_codes() {
  // Response::error(404, "not_found", ...), make_error("invalid_field", ...), fail("...", ...)
  // and a readiness body's {"code", "not_ready"}; the code may start on the next line.
  const std::regex pattern(
      R"re((Response::error\(\s*(\d{3}),\s*|make_error\(\s*|[^a-z_]fail\(\s*|\{"code",\s*)"([a-z0-9_]+)")re");
  std::vector<Emitted> out;
  for (const char* module : kHttpModules) {
    const auto dir = std::filesystem::path(PADDOCK_SOURCE_DIR) / "src" / module;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() != ".cpp") continue;
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      const std::string s = text.str();
      for (std::sregex_iterator it(s.begin(), s.end(), pattern), end; it != end; ++it) {
        Emitted e;
        e.code = (*it)[3];
        if ((*it)[2].matched) e.status = static_cast<unsigned>(std::stoul((*it)[2]));
        e.where = entry.path().filename().string();
        out.push_back(e);
      }
    }
  }
  return out;
}

}  // namespace

TEST(ApiErrorCodes, GivenTheTableThenCodesAreUniqueWithA4xxOr5xxStatusAndAMeaning) {
  std::set<std::string_view> seen;
  for (const auto& c : error_codes()) {
    EXPECT_TRUE(seen.insert(c.code).second) << c.code << " twice";
    EXPECT_GE(c.status, 400u) << c.code;
    EXPECT_LT(c.status, 600u) << c.code;
    EXPECT_FALSE(c.meaning.empty()) << c.code;
    EXPECT_EQ(error_status(c.code), c.status);
  }
  EXPECT_FALSE(error_status("no_such_code").has_value());
}

TEST(ApiErrorCodes, GivenTheServedOpenApiDocumentThenItCarriesExactlyTheTable) {
  const json doc = json::parse(openapi_text());
  const json& rows = doc.at("components").at("x-error-codes");
  const json& enumerated = doc.at("components").at("schemas").at("ErrorCode").at("enum");
  ASSERT_EQ(rows.size(), error_codes().size())
      << "docs/openapi.json components.x-error-codes differs from src/api/error_codes.cpp: "
         "run scripts/error_codes.py";
  ASSERT_EQ(enumerated.size(), error_codes().size());
  std::size_t i = 0;
  for (const auto& c : error_codes()) {
    EXPECT_EQ(rows[i].at("code"), std::string(c.code)) << i;
    EXPECT_EQ(rows[i].at("status"), c.status) << c.code;
    EXPECT_EQ(rows[i].at("meaning"), std::string(c.meaning)) << c.code;
    EXPECT_EQ(enumerated[i], std::string(c.code)) << i;
    ++i;
  }
  // Error bodies name their code through the enum.
  EXPECT_EQ(doc.at("components")
                .at("schemas")
                .at("Error")
                .at("properties")
                .at("error")
                .at("properties")
                .at("code")
                .at("$ref"),
            "#/components/schemas/ErrorCode");
}

TEST(ApiErrorCodes, GivenTheDaemonsSourceThenEveryCodeItCanSendIsInTheTableWithItsStatus) {
  const auto emitted = emitted_codes();
  ASSERT_GT(emitted.size(), 40u) << "the source scan found too little; is the pattern stale?";
  std::set<std::string> codes;
  for (const auto& e : emitted) {
    codes.insert(e.code);
    if (kNotSentOverHttp.count(e.code) != 0) continue;
    const auto status = error_status(e.code);
    EXPECT_TRUE(status.has_value())
        << "'" << e.code << "' (" << e.where << ") is not in src/api/error_codes.cpp";
    if (status && e.status != 0) {
      EXPECT_EQ(*status, e.status) << "'" << e.code << "' in " << e.where;
    }
  }
  for (const auto& c : {"not_ready", "unknown_field", "missing_field", "preflight_running",
                        "invalid_utf8", "ambiguous_id", "capacity", "not_found"}) {
    EXPECT_EQ(codes.count(c), 1u) << c << " was not found by the source scan";
  }
}
