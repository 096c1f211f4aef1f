// Unit tests of the Prometheus registry: text format 0.0.4, escaping, histograms, registration
// rules.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "paddock/api/metrics.hpp"

using paddock::api::CollectedSample;
using paddock::api::MetricsRegistry;
using ::testing::HasSubstr;

TEST(ApiMetrics, GivenCounterWithLabels_WhenIncremented_ThenRenderHasHelpTypeAndValues) {
  MetricsRegistry reg;
  auto& c = reg.counter("http_requests_total", "Responses by code.", {"code"});
  c.inc({"200"});
  c.inc({"200"});
  c.inc({"404"}, 3);
  EXPECT_EQ(c.value({"200"}), 2);
  EXPECT_EQ(reg.render(),
            "# HELP http_requests_total Responses by code.\n"
            "# TYPE http_requests_total counter\n"
            "http_requests_total{code=\"200\"} 2\n"
            "http_requests_total{code=\"404\"} 3\n");
}

TEST(ApiMetrics, GivenNegativeIncrement_WhenAppliedToCounter_ThenIgnored) {
  MetricsRegistry reg;
  auto& c = reg.counter("x_total", "x");
  c.inc({}, 2);
  c.inc({}, -1);
  EXPECT_EQ(c.value(), 2);
}

TEST(ApiMetrics, GivenSpecialCharacters_WhenRendered_ThenHelpAndLabelValuesAreEscaped) {
  MetricsRegistry reg;
  reg.gauge("g", "line one\nback\\slash \"quotes\" stay", {"path"}).set({"a\"b\\c\nd"}, 1);
  const auto text = reg.render();
  EXPECT_THAT(text, HasSubstr("# HELP g line one\\nback\\\\slash \"quotes\" stay\n"));
  EXPECT_THAT(text, HasSubstr("g{path=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

TEST(ApiMetrics, GivenValues_WhenFormatted_ThenIntegersPlainAndSpecialsSpelledOut) {
  EXPECT_EQ(MetricsRegistry::format_value(3), "3");
  EXPECT_EQ(MetricsRegistry::format_value(-7), "-7");
  EXPECT_EQ(MetricsRegistry::format_value(0.25), "0.25");
  EXPECT_EQ(MetricsRegistry::format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(MetricsRegistry::format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(MetricsRegistry::format_value(std::nan("")), "NaN");
  EXPECT_EQ(MetricsRegistry::format_value(1e300), "1e+300");
}

TEST(ApiMetrics, GivenHistogram_WhenObserved_ThenBucketsAreCumulativeWithInfSumAndCount) {
  MetricsRegistry reg;
  auto& h = reg.histogram("spawn_seconds", "Spawn latency.", {0.125, 0.5, 1}, {"profile"});
  h.observe({"shell"}, 0.0625);
  h.observe({"shell"}, 0.125);  // on the bound: counts in le="0.125"
  h.observe({"shell"}, 0.75);
  h.observe({"shell"}, 4);
  EXPECT_EQ(h.count({"shell"}), 4u);
  EXPECT_EQ(reg.render(),
            "# HELP spawn_seconds Spawn latency.\n"
            "# TYPE spawn_seconds histogram\n"
            "spawn_seconds_bucket{profile=\"shell\",le=\"0.125\"} 2\n"
            "spawn_seconds_bucket{profile=\"shell\",le=\"0.5\"} 2\n"
            "spawn_seconds_bucket{profile=\"shell\",le=\"1\"} 3\n"
            "spawn_seconds_bucket{profile=\"shell\",le=\"+Inf\"} 4\n"
            "spawn_seconds_sum{profile=\"shell\"} 4.9375\n"
            "spawn_seconds_count{profile=\"shell\"} 4\n");
}

TEST(ApiMetrics, GivenSameFamilyRegisteredTwice_WhenIdentical_ThenTheSameFamilyIsReturned) {
  MetricsRegistry reg;
  auto& a = reg.counter("a_total", "a", {"x"});
  auto& b = reg.counter("a_total", "a", {"x"});
  EXPECT_EQ(&a, &b);
}

TEST(ApiMetrics, GivenConflictingOrInvalidRegistrations_WhenRegistered_ThenLogicErrorIsThrown) {
  MetricsRegistry reg;
  reg.counter("a_total", "a", {"x"});
  EXPECT_THROW(reg.gauge("a_total", "a", {"x"}), std::logic_error);
  EXPECT_THROW(reg.counter("a_total", "a", {"y"}), std::logic_error);
  EXPECT_THROW(reg.counter("1bad", "a"), std::logic_error);
  EXPECT_THROW(reg.counter("bad-name", "a"), std::logic_error);
  EXPECT_THROW(reg.counter("ok_total", "a", {"__reserved"}), std::logic_error);
  EXPECT_THROW(reg.histogram("h", "h", {1, 2}, {"le"}), std::logic_error);
  EXPECT_THROW(reg.histogram("h2", "h", {2, 1}), std::logic_error);
  reg.histogram("lat", "h", {1});
  EXPECT_THROW(reg.gauge("lat_count", "clash"), std::logic_error);
}

TEST(ApiMetrics, GivenWrongNumberOfLabels_WhenUpdated_ThenUpdateIsIgnored) {
  MetricsRegistry reg;
  auto& g = reg.gauge("g", "g", {"a", "b"});
  g.set({"only-one"}, 5);
  EXPECT_EQ(reg.render(), "# HELP g g\n# TYPE g gauge\n");
}

TEST(ApiMetrics, GivenGaugeSeries_WhenRemoved_ThenNotRendered) {
  MetricsRegistry reg;
  auto& g = reg.gauge("workers", "w", {"state"});
  g.set({"running"}, 2);
  g.add({"running"}, 1);
  g.set({"stopping"}, 1);
  g.remove({"stopping"});
  EXPECT_EQ(g.value({"running"}), 3);
  EXPECT_EQ(reg.render(), "# HELP workers w\n# TYPE workers gauge\nworkers{state=\"running\"} 3\n");
}

TEST(ApiMetrics, GivenCollector_WhenRendered_ThenItsSamplesAppearSorted) {
  MetricsRegistry reg;
  int calls = 0;
  reg.gauge_collector("free", "Free resources.", {"kind"}, [&] {
    ++calls;
    return std::vector<CollectedSample>{{{"uids"}, 1000}, {{"ports"}, 999}};
  });
  EXPECT_EQ(reg.render(),
            "# HELP free Free resources.\n# TYPE free gauge\nfree{kind=\"ports\"} 999\n"
            "free{kind=\"uids\"} 1000\n");
  EXPECT_EQ(calls, 1);
}
