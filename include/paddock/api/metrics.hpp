#pragma once
/// A small Prometheus metrics registry: counters, gauges and histograms with labels, rendered in
/// the text exposition format 0.0.4 (HELP and TYPE lines, escaped label values and help text).
///
/// Families are registered once (usually at startup) and then updated from any thread; every
/// update and the rendering take one mutex, which is cheap at the daemon's rates. Registering a
/// family with an invalid name, a reserved label or a name already used by a different family is
/// a programming error and throws std::logic_error; unit tests catch it, running code never sees
/// it.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace paddock::api {

/// The Content-Type of the rendered text.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

/// Label values, in the order of the family's label names.
using LabelValues = std::vector<std::string>;

class MetricsRegistry;

/// A family of monotonically increasing counters.
class CounterFamily {
 public:
  /// Adds `amount` (>= 0; negative amounts are ignored) to the series with these label values,
  /// creating it at 0 first. A wrong number of label values is ignored (and logged once).
  void inc(const LabelValues& labels = {}, double amount = 1.0);
  /// The current value (0 for a series never touched).
  double value(const LabelValues& labels = {}) const;

 private:
  friend class MetricsRegistry;
  CounterFamily(MetricsRegistry* registry, std::size_t index)
      : registry_(registry), index_(index) {}
  MetricsRegistry* registry_;
  std::size_t index_;
};

/// A family of gauges: values that go up and down.
class GaugeFamily {
 public:
  void set(const LabelValues& labels, double value);
  void set(double value) { set({}, value); }
  void add(const LabelValues& labels, double delta);
  /// Removes one series (e.g. a worker state that no longer exists), so it is not rendered.
  void remove(const LabelValues& labels);
  double value(const LabelValues& labels = {}) const;

 private:
  friend class MetricsRegistry;
  GaugeFamily(MetricsRegistry* registry, std::size_t index) : registry_(registry), index_(index) {}
  MetricsRegistry* registry_;
  std::size_t index_;
};

/// A family of histograms with fixed, strictly increasing upper bounds (+Inf is implicit).
class HistogramFamily {
 public:
  void observe(const LabelValues& labels, double value);
  void observe(double value) { observe({}, value); }
  /// Number of observations so far for the series.
  std::uint64_t count(const LabelValues& labels = {}) const;

 private:
  friend class MetricsRegistry;
  HistogramFamily(MetricsRegistry* registry, std::size_t index)
      : registry_(registry), index_(index) {}
  MetricsRegistry* registry_;
  std::size_t index_;
};

/// One sample produced by a collector at render time.
struct CollectedSample {
  LabelValues labels;
  double value = 0;
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  /// Registers (or returns the already registered, identical) counter family. By convention
  /// counter names end in "_total".
  CounterFamily& counter(const std::string& name, const std::string& help,
                         std::vector<std::string> label_names = {});
  GaugeFamily& gauge(const std::string& name, const std::string& help,
                     std::vector<std::string> label_names = {});
  /// `buckets` are the upper bounds, strictly increasing and finite; "le" may not be a label.
  HistogramFamily& histogram(const std::string& name, const std::string& help,
                             std::vector<double> buckets,
                             std::vector<std::string> label_names = {});
  /// A gauge whose samples are produced at render time by `collect` (e.g. free UIDs read from a
  /// pool). `collect` runs under the registry's mutex: it must not touch the registry.
  void gauge_collector(const std::string& name, const std::string& help,
                       std::vector<std::string> label_names,
                       std::function<std::vector<CollectedSample>()> collect);

  /// Like gauge_collector, for a counter kept elsewhere (e.g. by the supervisor); rendered with
  /// TYPE counter. By convention the name ends in "_total".
  void counter_collector(const std::string& name, const std::string& help,
                         std::vector<std::string> label_names,
                         std::function<std::vector<CollectedSample>()> collect);

  /// The whole registry in text format 0.0.4, families in registration order, series sorted
  /// by label values. Ends with a newline (or is empty when nothing is registered).
  std::string render() const;

  /// Escaping helpers of the text format, exposed for tests.
  static std::string escape_help(const std::string& text);
  static std::string escape_label_value(const std::string& value);
  /// Formats a sample value: integers without exponent, +Inf, -Inf, NaN.
  static std::string format_value(double value);

 private:
  friend class CounterFamily;
  friend class GaugeFamily;
  friend class HistogramFamily;
  enum class Kind { Counter, Gauge, Histogram, Collector, CounterCollector };
  struct HistogramSeries {
    std::vector<std::uint64_t> bucket_counts;  // per bound, not cumulative
    std::uint64_t count = 0;
    double sum = 0;
  };
  struct Family {
    Kind kind;
    std::string name;
    std::string help;
    std::vector<std::string> label_names;
    std::vector<double> buckets;
    std::map<LabelValues, double> values;
    std::map<LabelValues, HistogramSeries> histograms;
    std::function<std::vector<CollectedSample>()> collect;
    std::unique_ptr<CounterFamily> counter;
    std::unique_ptr<GaugeFamily> gauge;
    std::unique_ptr<HistogramFamily> histogram;
  };
  Family& add_family(Kind kind, const std::string& name, const std::string& help,
                     std::vector<std::string> label_names, std::vector<double> buckets,
                     bool& existed);
  bool labels_ok(const Family& f, const LabelValues& labels) const;

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family>> families_;
};

}  // namespace paddock::api
