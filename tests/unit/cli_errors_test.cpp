// Exit codes of the CLI and how daemon answers map to them.
#include <gtest/gtest.h>

#include "paddock/cli/errors.hpp"

using namespace paddock::cli;
using nlohmann::json;

TEST(CliExitCodes, GivenRunResultThenExitCodeIsTheWorkloadsOr128PlusSignalOr124) {
  EXPECT_EQ(run_exit_code({{"exit_code", 0}, {"signal", nullptr}, {"timed_out", false}}), 0);
  EXPECT_EQ(run_exit_code({{"exit_code", 3}, {"signal", nullptr}, {"timed_out", false}}), 3);
  EXPECT_EQ(run_exit_code({{"exit_code", nullptr}, {"signal", 9}, {"timed_out", false}}), 137);
  EXPECT_EQ(run_exit_code({{"exit_code", nullptr}, {"signal", "KILL"}}), 137);
  EXPECT_EQ(run_exit_code({{"exit_code", nullptr}, {"signal", "SIGTERM"}}), 143);
  // A timeout wins over the signal that ended the run.
  EXPECT_EQ(run_exit_code({{"exit_code", nullptr}, {"signal", 9}, {"timed_out", true}}),
            kExitTimeout);
  EXPECT_EQ(kExitTimeout, 124);
  // No code at all (the sandbox never started): a failure, not success.
  EXPECT_EQ(
      run_exit_code({{"exit_code", nullptr}, {"signal", nullptr}, {"reason", "spawn_failed"}}),
      kExitFailure);
}

TEST(CliExitCodes, GivenErrorCodesThenConnectAndPermissionAre3OthersAre1) {
  EXPECT_EQ(exit_code_for({"connect", "x", ""}), 3);
  EXPECT_EQ(exit_code_for({"permission", "x", ""}), 3);
  EXPECT_EQ(exit_code_for({"worker_uid_refused", "x", ""}), 3);
  EXPECT_EQ(exit_code_for({"not_found", "x", ""}), 1);
  EXPECT_EQ(exit_code_for({"transport", "x", ""}), 1);
  EXPECT_EQ(kExitUsage, 2);
}

TEST(CliExitCodes, GivenHelpFooterThenEveryCodeIsDocumented) {
  const auto help = exit_codes_help();
  for (const char* s : {"  0 ", "  1 ", "  2 ", "  3 ", "128+N", "124"}) {
    EXPECT_NE(help.find(s), std::string::npos) << s;
  }
}

TEST(CliApiError, GivenApiErrorBodyThenMessageAndFieldAreKept) {
  const auto e = api_error(
      400,
      R"({"error":{"code":"invalid_field","message":"'limits.memory_mb' must be an integer","field":"limits.memory_mb"}})",
      "join");
  EXPECT_EQ(e.code, "invalid_field");
  EXPECT_EQ(error_line(e), "'limits.memory_mb' must be an integer (field: limits.memory_mb)");
}

TEST(CliApiError, GivenForbiddenThenThePermissionTextReplacesTheMessage) {
  const auto e =
      api_error(403, R"({"error":{"code":"forbidden","message":"uid 65534 is neither"}})",
                "permission denied: join the group 'paddock-admin'");
  EXPECT_EQ(e.code, "permission");
  EXPECT_EQ(e.message, "permission denied: join the group 'paddock-admin'");
  EXPECT_EQ(exit_code_for(e), 3);
  // Worker UIDs keep the daemon's own explanation: joining a group would not help.
  const auto w = api_error(
      403,
      R"({"error":{"code":"worker_uid_refused","message":"uid 60001 is in the worker UID range"}})",
      "join");
  EXPECT_EQ(w.message, "uid 60001 is in the worker UID range");
  EXPECT_EQ(exit_code_for(w), 3);
}

TEST(CliApiError, GivenNonApiBodyThenTheStatusIsNamed) {
  const auto e = api_error(502, "Bad Gateway\nmore", "");
  EXPECT_EQ(e.code, "http_502");
  EXPECT_EQ(e.message, "paddockd answered HTTP 502: Bad Gateway");
  EXPECT_EQ(api_error(500, "", "").message, "paddockd answered HTTP 500");
}

TEST(CliSignals, GivenNamesNumbersAndPrefixesThenNormalised) {
  EXPECT_EQ(normalise_signal("TERM"), "TERM");
  EXPECT_EQ(normalise_signal("sigterm"), "TERM");
  EXPECT_EQ(normalise_signal("9"), "KILL");
  EXPECT_EQ(normalise_signal("hup"), "HUP");
  EXPECT_FALSE(normalise_signal("NOPE").has_value());
  EXPECT_FALSE(normalise_signal("0").has_value());
  EXPECT_FALSE(normalise_signal("").has_value());
  EXPECT_EQ(signal_number(json(15)), 15);
  EXPECT_FALSE(signal_number(json(nullptr)).has_value());
  EXPECT_FALSE(signal_number(json(0)).has_value());
}
