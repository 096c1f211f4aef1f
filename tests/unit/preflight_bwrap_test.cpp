// bwrap_available: version parsing and the decision.
#include <gtest/gtest.h>

#include "paddock/preflight/checks.hpp"

using namespace paddock::preflight;

namespace {

BwrapFacts good() {
  BwrapFacts f;
  f.path = "/usr/bin/bwrap";
  f.exists = true;
  f.executable = true;
  f.version_output = "bubblewrap 0.8.0\n";
  return f;
}

}  // namespace

TEST(PreflightBwrap, GivenVersionTexts_WhenParsed_ThenTheNumbers) {
  EXPECT_EQ(parse_bwrap_version("bubblewrap 0.8.0\n"), (std::array<int, 3>{0, 8, 0}));
  EXPECT_EQ(parse_bwrap_version("bubblewrap 0.11.1"), (std::array<int, 3>{0, 11, 1}));
  EXPECT_EQ(parse_bwrap_version("bubblewrap 1.0"), (std::array<int, 3>{1, 0, 0}));
  EXPECT_FALSE(parse_bwrap_version("bubblewrap"));
}

TEST(PreflightBwrap, GivenBwrap08_WhenEvaluated_ThenOkWithTheVersion) {
  const auto r = evaluate_bwrap(good());
  EXPECT_EQ(r.severity, Severity::Ok);
  EXPECT_EQ(r.details["version"], "0.8.0");
}

TEST(PreflightBwrap, GivenBwrap07_WhenEvaluated_ThenErrorAboutDisableUserns) {
  auto f = good();
  f.version_output = "bubblewrap 0.7.0";
  const auto r = evaluate_bwrap(f);
  EXPECT_EQ(r.severity, Severity::Error);
  EXPECT_NE(r.message.find("--disable-userns"), std::string::npos);
}

TEST(PreflightBwrap, GivenMissingOrNotExecutableOrBroken_WhenEvaluated_ThenError) {
  auto missing = good();
  missing.exists = false;
  EXPECT_EQ(evaluate_bwrap(missing).severity, Severity::Error);
  auto noexec = good();
  noexec.executable = false;
  EXPECT_EQ(evaluate_bwrap(noexec).severity, Severity::Error);
  auto broken = good();
  broken.run_error = "exit status 1";
  EXPECT_EQ(evaluate_bwrap(broken).severity, Severity::Error);
  auto garbage = good();
  garbage.version_output = "hello";
  EXPECT_EQ(evaluate_bwrap(garbage).severity, Severity::Error);
}

TEST(PreflightBwrap, GivenSetuidBwrap_WhenEvaluated_ThenWarningNamesTheRefusedOptions) {
  auto f = good();
  f.setuid_root = true;
  const auto r = evaluate_bwrap(f);
  EXPECT_EQ(r.severity, Severity::Warning);
  EXPECT_NE(r.message.find("--userns"), std::string::npos);
  EXPECT_NE(r.remedy.find("chmod u-s /usr/bin/bwrap"), std::string::npos);
}
