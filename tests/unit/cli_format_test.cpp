// Human output of the CLI: times, tables, worker and preflight text, SSE parsing.
#include <gtest/gtest.h>

#include "paddock/cli/format.hpp"
#include "paddock/preflight/result.hpp"

using namespace paddock::cli;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

Clock::time_point at(const char* text) {
  auto t = parse_time(text);
  EXPECT_TRUE(t.has_value()) << text;
  return t.value_or(Clock::time_point{});
}

}  // namespace

TEST(CliTime, GivenApiTimestampThenParsedAsUtcWithMilliseconds) {
  const auto t = at("2024-05-01T12:00:00.123Z");
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count(),
            1714564800123);
  EXPECT_EQ(at("2024-05-01T14:00:00+02:00"), at("2024-05-01T12:00:00Z"));
  EXPECT_EQ(at("2024-05-01T12:00:00Z"), Clock::from_time_t(1714564800));
}

TEST(CliTime, GivenMalformedTimestampThenNullopt) {
  for (const char* bad : {"", "2024-05-01", "2024-05-01T12:00:00", "2024-13-01T00:00:00Z",
                          "2024-05-01T12:00:00.Z", "2024-05-01T12:00:00Zjunk", "yesterday"}) {
    EXPECT_FALSE(parse_time(bad).has_value()) << bad;
  }
}

TEST(CliTime, GivenDifferencesThenRelativeTimeUsesTheLargestUnit) {
  const auto now = at("2024-05-01T12:00:00Z");
  EXPECT_EQ(relative_time(now, now), "just now");
  EXPECT_EQ(relative_time(now - 42s, now), "42s ago");
  EXPECT_EQ(relative_time(now - 3min - 10s, now), "3m ago");
  EXPECT_EQ(relative_time(now - 5h, now), "5h ago");
  EXPECT_EQ(relative_time(now - 49h, now), "2d ago");
  EXPECT_EQ(relative_time(now + 3min, now), "in 3m");
}

TEST(CliTime, GivenSecondsThenDurationShowsTwoUnits) {
  EXPECT_EQ(format_duration(0), "0s");
  EXPECT_EQ(format_duration(42), "42s");
  EXPECT_EQ(format_duration(185), "3m 5s");
  EXPECT_EQ(format_duration(7800), "2h 10m");
  EXPECT_EQ(format_duration(4 * 86400 + 3 * 3600 + 59), "4d 3h");
}

TEST(CliColour, GivenNoColorSetOrNotATerminalThenNoColour) {
  EXPECT_FALSE(use_colour(-1, nullptr));  // not a terminal
  EXPECT_FALSE(use_colour(0, "1"));       // NO_COLOR wins even on a terminal
  EXPECT_EQ(paint("x", sgr::kRed, false), "x");
  EXPECT_EQ(paint("x", sgr::kRed, true), "\x1b[31mx\x1b[0m");
  EXPECT_EQ(paint("x", "", true), "x");
}

TEST(CliTable, GivenRowsThenColumnsAlignOnTheWidestCellAndTrailingSpaceIsTrimmed) {
  Table t({"ID", "NAME", "STATE"});
  t.add_row({"w-1", "a-very-long-name", "ready"});
  t.add_row({"w-22", "x"});
  EXPECT_EQ(t.render(false),
            "ID    NAME              STATE\n"
            "w-1   a-very-long-name  ready\n"
            "w-22  x\n");
}

TEST(CliTable, GivenColourThenPaddingIsOutsideTheEscapeCodes) {
  Table t({"A", "B"});
  t.add_row({"ok", "z"}, {sgr::kGreen, ""});
  EXPECT_EQ(t.render(true), "\x1b[1mA\x1b[0m   \x1b[1mB\x1b[0m\n\x1b[32mok\x1b[0m  z\n");
}

TEST(CliTable, GivenUtf8ThenWidthCountsCodePointsAndTruncateAddsEllipsis) {
  EXPECT_EQ(display_width("h\xC3\xA9llo"), 5u);
  EXPECT_EQ(truncate_text("abcdef", 10), "abcdef");
  EXPECT_EQ(truncate_text("abcdef", 4), "abc\xE2\x80\xA6");
  EXPECT_EQ(display_width(truncate_text("h\xC3\xA9llo world", 4)), 4u);
}

TEST(CliCommand, GivenArgumentsWithSpacesOrQuotesThenTheyAreShellQuoted) {
  EXPECT_EQ(join_command({"sh", "-c", "exit 3"}), "sh -c 'exit 3'");
  EXPECT_EQ(join_command({"echo", "it's"}), "echo 'it'\\''s'");
  EXPECT_EQ(join_command({"python3", "-m", "http.server", "--bind=127.0.0.1"}),
            "python3 -m http.server --bind=127.0.0.1");
  EXPECT_EQ(join_command({""}), "''");
}

TEST(CliWorkers, GivenWorkerObjectsThenPsTableHasAllColumnsAndDashesForNull) {
  const auto now = at("2024-05-01T12:10:00Z");
  const json workers = json::array({{{"id", "w-1"},
                                     {"name", "shiny"},
                                     {"state", "ready"},
                                     {"uid", 60001},
                                     {"pid", 4242},
                                     {"port", 20001},
                                     {"profile", "r"},
                                     {"created_at", "2024-05-01T12:07:00.000Z"},
                                     {"command", {"R", "-e", "shiny::runApp()"}}},
                                    {{"id", "w-2"},
                                     {"name", nullptr},
                                     {"state", "exited"},
                                     {"uid", nullptr},
                                     {"pid", nullptr},
                                     {"port", nullptr},
                                     {"profile", "shell"},
                                     {"created_at", "2024-05-01T10:10:00.000Z"},
                                     {"command", {"true"}}}});
  const std::string out = workers_table(workers, now, false);
  EXPECT_EQ(out,
            "ID   NAME   STATE   UID    PID   PORT   PROFILE  AGE     COMMAND\n"
            "w-1  shiny  ready   60001  4242  20001  r        3m ago  R -e 'shiny::runApp()'\n"
            "w-2  -      exited  -      -     -      shell    2h ago  true\n");
}

TEST(CliWorkers, GivenWorkerThenDetailsListFieldsWithRelativeTimes) {
  const auto now = at("2024-05-01T12:10:00Z");
  const json w{{"id", "w-1"},
               {"name", "n"},
               {"state", "failed"},
               {"reason", "oom"},
               {"uid", 60001},
               {"pid", nullptr},
               {"port", nullptr},
               {"profile", "shell"},
               {"command", {"sh"}},
               {"created_at", "2024-05-01T12:00:00.000Z"},
               {"started_at", nullptr},
               {"exited_at", "2024-05-01T12:09:00.000Z"},
               {"exit_code", nullptr},
               {"signal", 9},
               {"restarts", 2},
               {"labels", {{"app", "x"}}},
               {"limits", {{"memory_mb", 512}}}};
  const std::string out = worker_details(w, now, false);
  EXPECT_NE(out.find("state:"), std::string::npos) << out;
  EXPECT_NE(out.find("reason:             oom\n"), std::string::npos) << out;
  EXPECT_NE(out.find("created:            2024-05-01T12:00:00.000Z (10m ago)"), std::string::npos)
      << out;
  EXPECT_NE(out.find("started:            -\n"), std::string::npos) << out;
  EXPECT_NE(out.find("signal:             9\n"), std::string::npos) << out;
  EXPECT_NE(out.find("labels:             app=x\n"), std::string::npos) << out;
  EXPECT_NE(out.find("limits:             memory_mb=512\n"), std::string::npos) << out;
}

TEST(CliWorkers, GivenStatesThenSummaryCountsInLifecycleOrder) {
  EXPECT_EQ(state_summary(json::array()), "none");
  const json ws = json::array({{{"state", "exited"}}, {{"state", "ready"}}, {{"state", "exited"}}});
  EXPECT_EQ(state_summary(ws), "1 ready, 2 exited (3 total)");
}

// The reports come from the daemon's own serialisation (preflight::Report::to_json), so the CLI
// is tested against what the API sends, not against a hand-written copy of it.
TEST(CliPreflight, GivenDaemonReportThenTableSummaryAndFailureFollowSeverities) {
  namespace pf = paddock::preflight;
  std::vector<pf::CheckResult> results{{"bwrap", pf::Severity::Ok, "found", "", 1, json::object()},
                                       {"cgroup", pf::Severity::Warning, "no memory controller",
                                        "enable cgroup v2", 2, json::object()}};
  const json ok = pf::make_report(results).to_json();
  EXPECT_FALSE(preflight_failed(ok));
  EXPECT_EQ(preflight_summary(ok), "passed (2 checks, 1 warning, 1 ok)");
  EXPECT_EQ(preflight_table(ok, false),
            "CHECK   SEVERITY  MESSAGE               REMEDY\n"
            "bwrap   ok        found                 -\n"
            "cgroup  warning   no memory controller  enable cgroup v2\n");
  results.push_back({"metadata", pf::Severity::Error, "reachable", "block it", 3, json::object()});
  const json bad = pf::make_report(results).to_json();
  ASSERT_EQ(bad["has_error"], true);
  EXPECT_TRUE(preflight_failed(bad));
  EXPECT_EQ(preflight_summary(bad), "failed (3 checks, 1 error, 1 warning, 1 ok)");
  EXPECT_NE(preflight_table(bad, false).find("metadata  error"), std::string::npos);
  results.push_back({"redis", pf::Severity::Warning, "reachable", "firewall", 4, json::object()});
  results.push_back({"vault", pf::Severity::Error, "reachable", "firewall", 5, json::object()});
  EXPECT_EQ(preflight_summary(pf::make_report(results).to_json()),
            "failed (5 checks, 2 errors, 2 warnings, 1 ok)");
}

TEST(CliPreflight, GivenHasErrorOrUnreadableAnswerThenNeverPassed) {
  // has_error alone fails it, even with no error entry among the results.
  EXPECT_TRUE(preflight_failed(json{{"results", json::array()}, {"has_error", true}}));
  // An answer in another shape (no results / no has_error) must not read as a safe host.
  EXPECT_TRUE(preflight_failed(json{{"checks", json::array()}, {"passed", true}}));
  EXPECT_TRUE(preflight_failed(json{{"results", json::array()}}));
  EXPECT_TRUE(preflight_failed(json::object()));
  EXPECT_EQ(preflight_summary(json{{"checks", json::array()}, {"passed", true}}),
            "failed (unreadable answer: no 'results' array)");
  EXPECT_FALSE(preflight_failed(json{{"results", json::array()}, {"has_error", false}}));
}

TEST(CliMetrics, GivenPrometheusTextThenUnlabelledValueIsFound) {
  const std::string text =
      "# HELP paddock_free_uids Worker UIDs\n# TYPE paddock_free_uids gauge\n"
      "paddock_free_uids_total 1\npaddock_free_uids 998\n"
      "paddock_workers{state=\"ready\"} 2\n";
  EXPECT_EQ(metric_value(text, "paddock_free_uids"), 998.0);
  EXPECT_FALSE(metric_value(text, "paddock_free_ports").has_value());
  EXPECT_FALSE(metric_value(text, "paddock_workers").has_value());
}

TEST(CliSse, GivenEventStreamLinesThenEventsAreAssembledAndCommentsSkipped) {
  SseParser p;
  EXPECT_FALSE(p.feed(": keep-alive").has_value());
  EXPECT_FALSE(p.feed("").has_value());  // a blank line without data is no event
  EXPECT_FALSE(p.feed("id: 7").has_value());
  EXPECT_FALSE(p.feed("event: transition").has_value());
  EXPECT_FALSE(p.feed("data: {\"a\":1}").has_value());
  auto e = p.feed("");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->id, "7");
  EXPECT_EQ(e->event, "transition");
  EXPECT_EQ(e->data, "{\"a\":1}");
  EXPECT_FALSE(p.feed("data: one\r").has_value());
  EXPECT_FALSE(p.feed("data:two").has_value());
  e = p.feed("");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->event, "message");
  EXPECT_EQ(e->data, "one\ntwo");
}

TEST(CliEvents, GivenEventObjectThenOneLineWithTransitionAndReason) {
  const json e{{"id", 3},
               {"worker_id", "w-1"},
               {"from", "running"},
               {"to", "exited"},
               {"at", "2024-05-01T12:00:00.000Z"},
               {"reason", "exit code 0"}};
  EXPECT_EQ(event_line(e, false), "2024-05-01T12:00:00.000Z  w-1  running -> exited  exit code 0");
  json no_reason = e;
  no_reason["reason"] = nullptr;
  EXPECT_EQ(event_line(no_reason, false), "2024-05-01T12:00:00.000Z  w-1  running -> exited");
}

TEST(CliTable, GivenMultiLineCellThenItContinuesInItsColumnWithTheOtherCellsEmpty) {
  Table t({"CHECK", "SEVERITY", "REMEDY"});
  t.add_row({"egress", "error", "add these rules:\niptables -A OUTPUT -j REJECT"});
  t.add_row({"bwrap", "ok", "-"});
  EXPECT_EQ(t.render(false),
            "CHECK   SEVERITY  REMEDY\n"
            "egress  error     add these rules:\n"
            "                  iptables -A OUTPUT -j REJECT\n"
            "bwrap   ok        -\n");
}
