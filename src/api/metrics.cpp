#include "paddock/api/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include "paddock/log/log.hpp"

namespace paddock::api {
namespace {

bool valid_metric_name(const std::string& name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

bool valid_label_name(const std::string& name) {
  if (name.empty() || name.rfind("__", 0) == 0) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

const char* type_of(int kind) {
  switch (kind) {
    case 0:
      return "counter";
    case 1:
      return "gauge";
    case 2:
      return "histogram";
    case 4:
      return "counter";
    default:
      return "gauge";
  }
}

std::string label_set(const std::vector<std::string>& names, const LabelValues& values,
                      const std::string& extra_name = {}, const std::string& extra_value = {}) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
    out += out.empty() ? "{" : ",";
    out += names[i] + "=\"" + MetricsRegistry::escape_label_value(values[i]) + "\"";
  }
  if (!extra_name.empty()) {
    out += out.empty() ? "{" : ",";
    out += extra_name + "=\"" + extra_value + "\"";
  }
  if (!out.empty()) out += "}";
  return out;
}

}  // namespace

std::string MetricsRegistry::escape_help(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
  return out;
}

std::string MetricsRegistry::escape_label_value(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"')
      out += "\\\"";
    else
      out.push_back(c);
  }
  return out;
}

std::string MetricsRegistry::format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0) {
    return std::to_string(static_cast<long long>(value));
  }
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, value);
  if (ec != std::errc{}) return "NaN";
  return std::string(buf, ptr);
}

MetricsRegistry::Family& MetricsRegistry::add_family(Kind kind, const std::string& name,
                                                     const std::string& help,
                                                     std::vector<std::string> label_names,
                                                     std::vector<double> buckets, bool& existed) {
  if (!valid_metric_name(name)) throw std::logic_error("invalid metric name '" + name + "'");
  for (const auto& l : label_names) {
    if (!valid_label_name(l)) {
      throw std::logic_error("invalid label name '" + l + "' on metric " + name);
    }
    if (kind == Kind::Histogram && l == "le") {
      throw std::logic_error("histogram " + name + " may not use the label 'le'");
    }
  }
  for (std::size_t i = 1; i < buckets.size(); ++i) {
    if (!(buckets[i] > buckets[i - 1])) {
      throw std::logic_error("histogram " + name + " buckets must be strictly increasing");
    }
  }
  for (double b : buckets) {
    if (!std::isfinite(b)) throw std::logic_error("histogram " + name + " buckets must be finite");
  }
  for (const auto& f : families_) {
    // Histograms own name_bucket/_sum/_count; a clash there is as bad as an equal name.
    auto clashes = [&](const std::string& a, const std::string& b) {
      return a == b || a == b + "_bucket" || a == b + "_sum" || a == b + "_count";
    };
    if (f->name == name) {
      if (f->kind == kind && f->label_names == label_names && f->buckets == buckets &&
          kind != Kind::Collector && kind != Kind::CounterCollector) {
        existed = true;
        return *f;
      }
      throw std::logic_error("metric " + name + " is already registered differently");
    }
    if ((f->kind == Kind::Histogram && clashes(name, f->name)) ||
        (kind == Kind::Histogram && clashes(f->name, name))) {
      throw std::logic_error("metric " + name + " clashes with the histogram series of " + f->name);
    }
  }
  auto fam = std::make_unique<Family>();
  fam->kind = kind;
  fam->name = name;
  fam->help = help;
  fam->label_names = std::move(label_names);
  fam->buckets = std::move(buckets);
  families_.push_back(std::move(fam));
  existed = false;
  return *families_.back();
}

bool MetricsRegistry::labels_ok(const Family& f, const LabelValues& labels) const {
  if (labels.size() == f.label_names.size()) return true;
  static std::once_flag once;
  std::call_once(once, [&] {
    log::error("metric updated with the wrong number of labels; update ignored",
               {{"metric", f.name}, {"expected", f.label_names.size()}, {"got", labels.size()}});
  });
  return false;
}

CounterFamily& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                        std::vector<std::string> label_names) {
  std::lock_guard lock(mutex_);
  bool existed = false;
  auto& f = add_family(Kind::Counter, name, help, std::move(label_names), {}, existed);
  if (!existed) f.counter.reset(new CounterFamily(this, families_.size() - 1));
  return *f.counter;
}

GaugeFamily& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                                    std::vector<std::string> label_names) {
  std::lock_guard lock(mutex_);
  bool existed = false;
  auto& f = add_family(Kind::Gauge, name, help, std::move(label_names), {}, existed);
  if (!existed) f.gauge.reset(new GaugeFamily(this, families_.size() - 1));
  return *f.gauge;
}

HistogramFamily& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                            std::vector<double> buckets,
                                            std::vector<std::string> label_names) {
  std::lock_guard lock(mutex_);
  bool existed = false;
  auto& f =
      add_family(Kind::Histogram, name, help, std::move(label_names), std::move(buckets), existed);
  if (!existed) f.histogram.reset(new HistogramFamily(this, families_.size() - 1));
  return *f.histogram;
}

void MetricsRegistry::gauge_collector(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names,
                                      std::function<std::vector<CollectedSample>()> collect) {
  std::lock_guard lock(mutex_);
  bool existed = false;
  auto& f = add_family(Kind::Collector, name, help, std::move(label_names), {}, existed);
  f.collect = std::move(collect);
}

void MetricsRegistry::counter_collector(const std::string& name, const std::string& help,
                                        std::vector<std::string> label_names,
                                        std::function<std::vector<CollectedSample>()> collect) {
  std::lock_guard lock(mutex_);
  bool existed = false;
  auto& f = add_family(Kind::CounterCollector, name, help, std::move(label_names), {}, existed);
  f.collect = std::move(collect);
}

void CounterFamily::inc(const LabelValues& labels, double amount) {
  if (!(amount >= 0)) return;
  std::lock_guard lock(registry_->mutex_);
  auto& f = *registry_->families_[index_];
  if (!registry_->labels_ok(f, labels)) return;
  f.values[labels] += amount;
}

double CounterFamily::value(const LabelValues& labels) const {
  std::lock_guard lock(registry_->mutex_);
  const auto& f = *registry_->families_[index_];
  auto it = f.values.find(labels);
  return it == f.values.end() ? 0.0 : it->second;
}

void GaugeFamily::set(const LabelValues& labels, double value) {
  std::lock_guard lock(registry_->mutex_);
  auto& f = *registry_->families_[index_];
  if (!registry_->labels_ok(f, labels)) return;
  f.values[labels] = value;
}

void GaugeFamily::add(const LabelValues& labels, double delta) {
  std::lock_guard lock(registry_->mutex_);
  auto& f = *registry_->families_[index_];
  if (!registry_->labels_ok(f, labels)) return;
  f.values[labels] += delta;
}

void GaugeFamily::remove(const LabelValues& labels) {
  std::lock_guard lock(registry_->mutex_);
  registry_->families_[index_]->values.erase(labels);
}

double GaugeFamily::value(const LabelValues& labels) const {
  std::lock_guard lock(registry_->mutex_);
  const auto& f = *registry_->families_[index_];
  auto it = f.values.find(labels);
  return it == f.values.end() ? 0.0 : it->second;
}

void HistogramFamily::observe(const LabelValues& labels, double value) {
  if (std::isnan(value)) return;
  std::lock_guard lock(registry_->mutex_);
  auto& f = *registry_->families_[index_];
  if (!registry_->labels_ok(f, labels)) return;
  auto& s = f.histograms[labels];
  if (s.bucket_counts.empty()) s.bucket_counts.assign(f.buckets.size(), 0);
  for (std::size_t i = 0; i < f.buckets.size(); ++i) {
    if (value <= f.buckets[i]) {
      ++s.bucket_counts[i];
      break;
    }
  }
  ++s.count;
  s.sum += value;
}

std::uint64_t HistogramFamily::count(const LabelValues& labels) const {
  std::lock_guard lock(registry_->mutex_);
  const auto& f = *registry_->families_[index_];
  auto it = f.histograms.find(labels);
  return it == f.histograms.end() ? 0 : it->second.count;
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& fp : families_) {
    const Family& f = *fp;
    out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
    out += "# TYPE " + f.name + " " + type_of(static_cast<int>(f.kind)) + "\n";
    switch (f.kind) {
      case Kind::Counter:
      case Kind::Gauge:
        for (const auto& [labels, v] : f.values) {
          out += f.name + label_set(f.label_names, labels) + " " + format_value(v) + "\n";
        }
        break;
      case Kind::Collector:
      case Kind::CounterCollector: {
        auto samples = f.collect ? f.collect() : std::vector<CollectedSample>{};
        std::sort(
            samples.begin(), samples.end(),
            [](const CollectedSample& a, const CollectedSample& b) { return a.labels < b.labels; });
        for (const auto& s : samples) {
          if (s.labels.size() != f.label_names.size()) continue;
          out += f.name + label_set(f.label_names, s.labels) + " " + format_value(s.value) + "\n";
        }
        break;
      }
      case Kind::Histogram:
        for (const auto& [labels, s] : f.histograms) {
          std::uint64_t cumulative = 0;
          for (std::size_t i = 0; i < f.buckets.size(); ++i) {
            cumulative += s.bucket_counts[i];
            out += f.name + "_bucket" +
                   label_set(f.label_names, labels, "le", format_value(f.buckets[i])) + " " +
                   std::to_string(cumulative) + "\n";
          }
          out += f.name + "_bucket" + label_set(f.label_names, labels, "le", "+Inf") + " " +
                 std::to_string(s.count) + "\n";
          out +=
              f.name + "_sum" + label_set(f.label_names, labels) + " " + format_value(s.sum) + "\n";
          out += f.name + "_count" + label_set(f.label_names, labels) + " " +
                 std::to_string(s.count) + "\n";
        }
        break;
    }
  }
  return out;
}

}  // namespace paddock::api
