#include "paddock/cli/format.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>

namespace paddock::cli {

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

std::string cell_text(const nlohmann::json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    return s.empty() ? "-" : s;
  }
  return v.dump();
}

std::string field(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key)) return "-";
  return cell_text(obj[key]);
}

}  // namespace

std::optional<Clock::time_point> parse_time(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!digits(s, 0, 4, y) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' ||
      !digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  std::size_t pos = 19;
  std::chrono::nanoseconds frac{0};
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::int64_t ns = 0;
    int n = 0;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      if (n < 9) {
        ns = ns * 10 + (s[pos] - '0');
        ++n;
      }
      ++pos;
    }
    if (n == 0) return std::nullopt;
    for (; n < 9; ++n) ns *= 10;
    frac = std::chrono::nanoseconds(ns);
  }
  int offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = 0, om = 0;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om)) {
      return std::nullopt;
    }
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  const std::time_t t = ::timegm(&tm);
  auto tp = Clock::from_time_t(t) - std::chrono::minutes(offset_minutes);
  return tp + std::chrono::duration_cast<Clock::duration>(frac);
}

std::string relative_time(Clock::time_point then, Clock::time_point now) {
  const auto diff = std::chrono::duration_cast<std::chrono::seconds>(now - then).count();
  const bool future = diff < 0;
  const std::int64_t s = future ? -diff : diff;
  if (s < 1) return "just now";
  std::string amount;
  if (s < 60) {
    amount = std::to_string(s) + "s";
  } else if (s < 3600) {
    amount = std::to_string(s / 60) + "m";
  } else if (s < 86400) {
    amount = std::to_string(s / 3600) + "h";
  } else {
    amount = std::to_string(s / 86400) + "d";
  }
  return future ? "in " + amount : amount + " ago";
}

std::string format_duration(std::int64_t seconds) {
  if (seconds < 0) seconds = 0;
  const std::int64_t d = seconds / 86400, h = seconds % 86400 / 3600, m = seconds % 3600 / 60,
                     s = seconds % 60;
  if (d > 0) return std::to_string(d) + "d " + std::to_string(h) + "h";
  if (h > 0) return std::to_string(h) + "h " + std::to_string(m) + "m";
  if (m > 0) return std::to_string(m) + "m " + std::to_string(s) + "s";
  return std::to_string(s) + "s";
}

bool use_colour(int fd, const char* no_color) {
  if (no_color != nullptr && *no_color != '\0') return false;
  return ::isatty(fd) == 1;
}

std::string paint(const std::string& text, std::string_view code, bool colour) {
  if (!colour || code.empty()) return text;
  return "\x1b[" + std::string(code) + "m" + text + "\x1b[0m";
}

std::string_view state_colour(std::string_view state) {
  if (state == "ready" || state == "running" || state == "ok" || state == "succeeded") {
    return sgr::kGreen;
  }
  if (state == "starting" || state == "stopping" || state == "warning") return sgr::kYellow;
  if (state == "failed" || state == "error" || state == "timed_out") return sgr::kRed;
  if (state == "exited") return sgr::kDim;
  return {};
}

std::size_t display_width(std::string_view text) {
  std::size_t n = 0;
  for (const char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string truncate_text(std::string_view text, std::size_t width) {
  if (display_width(text) <= width) return std::string(text);
  if (width == 0) return {};
  std::string out;
  std::size_t cols = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) != 0x80) {
      if (cols == width - 1) break;
      ++cols;
    }
    out.push_back(text[i]);
  }
  return out + "\xE2\x80\xA6";  // U+2026
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::add_row(std::vector<std::string> cells, std::vector<std::string> colours) {
  cells.resize(headers_.size());
  colours.resize(headers_.size());
  rows_.push_back({std::move(cells), std::move(colours)});
}

namespace {

// A cell's text split at '\n' (a remedy may list several commands, one per line).
std::vector<std::string> cell_lines(const std::string& cell) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (auto nl = cell.find('\n'); nl != std::string::npos; nl = cell.find('\n', start)) {
    out.push_back(cell.substr(start, nl - start));
    start = nl + 1;
  }
  out.push_back(cell.substr(start));
  return out;
}

}  // namespace

std::string Table::render(bool colour) const {
  std::vector<std::size_t> width(headers_.size(), 0);
  for (std::size_t i = 0; i < headers_.size(); ++i) width[i] = display_width(headers_[i]);
  for (const auto& r : rows_) {
    for (std::size_t i = 0; i < r.cells.size(); ++i) {
      for (const auto& l : cell_lines(r.cells[i])) width[i] = std::max(width[i], display_width(l));
    }
  }
  auto line = [&](const std::vector<std::string>& cells, const std::vector<std::string>* colours,
                  bool header) {
    std::string out;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const bool last = i + 1 == cells.size();
      std::string text = cells[i];
      if (!last) text += std::string(width[i] - display_width(cells[i]) + 2, ' ');
      std::string_view code =
          header ? std::string_view(sgr::kBold) : (colours ? std::string_view((*colours)[i]) : "");
      if (colour && !code.empty()) {
        // Only the text is painted, not the padding after it.
        const std::string pad = text.substr(cells[i].size());
        out += paint(cells[i], code, true) + pad;
      } else {
        out += text;
      }
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(headers_, nullptr, true);
  for (const auto& r : rows_) {
    // A multi-line cell continues on the next lines in its own column; the other columns of
    // those lines are empty, so the first column still starts each row.
    std::vector<std::vector<std::string>> split;
    std::size_t height = 1;
    for (const auto& c : r.cells) {
      split.push_back(cell_lines(c));
      height = std::max(height, split.back().size());
    }
    for (std::size_t k = 0; k < height; ++k) {
      std::vector<std::string> cells;
      for (const auto& lines : split) cells.push_back(k < lines.size() ? lines[k] : "");
      out += line(cells, &r.colours, false);
    }
  }
  return out;
}

std::string join_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    const bool plain = !a.empty() && std::all_of(a.begin(), a.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) ||
             std::string_view("-_./=:,+@%").find(c) != std::string_view::npos ||
             (static_cast<unsigned char>(c) & 0x80) != 0;
    });
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (const char c : a) {
      if (c == '\'') {
        out += "'\\''";
      } else {
        out += c;
      }
    }
    out += '\'';
  }
  return out;
}

namespace {

std::vector<std::string> command_of(const nlohmann::json& w) {
  std::vector<std::string> argv;
  if (w.contains("command") && w["command"].is_array()) {
    for (const auto& a : w["command"])
      argv.push_back(a.is_string() ? a.get<std::string>() : a.dump());
  }
  return argv;
}

std::string age_of(const nlohmann::json& w, const char* key, Clock::time_point now) {
  if (!w.contains(key) || !w[key].is_string()) return "-";
  const auto t = parse_time(w[key].get<std::string>());
  return t ? relative_time(*t, now) : w[key].get<std::string>();
}

}  // namespace

std::string workers_table(const nlohmann::json& workers, Clock::time_point now, bool colour) {
  Table t({"ID", "NAME", "STATE", "UID", "PID", "PORT", "PROFILE", "AGE", "COMMAND"});
  if (workers.is_array()) {
    for (const auto& w : workers) {
      const std::string state = field(w, "state");
      t.add_row({field(w, "id"), truncate_text(field(w, "name"), 24), state, field(w, "uid"),
                 field(w, "pid"), field(w, "port"), field(w, "profile"),
                 age_of(w, "created_at", now), truncate_text(join_command(command_of(w)), 50)},
                {"", "", std::string(state_colour(state))});
    }
  }
  return t.render(colour);
}

std::string worker_details(const nlohmann::json& w, Clock::time_point now, bool colour) {
  std::vector<std::pair<std::string, std::string>> rows;
  auto add = [&](const std::string& k, std::string v) { rows.emplace_back(k, std::move(v)); };
  auto with_age = [&](const char* key) {
    const std::string v = field(w, key);
    if (v == "-") return v;
    return v + " (" + age_of(w, key, now) + ")";
  };
  add("id", field(w, "id"));
  add("name", field(w, "name"));
  add("state", field(w, "state"));
  if (w.contains("reason") && w["reason"].is_string() && !w["reason"].get<std::string>().empty()) {
    add("reason", w["reason"].get<std::string>());
  }
  add("command", join_command(command_of(w)));
  add("profile", field(w, "profile"));
  add("uid", field(w, "uid"));
  add("pid", field(w, "pid"));
  add("port", field(w, "port"));
  add("created", with_age("created_at"));
  add("started", with_age("started_at"));
  add("exited", with_age("exited_at"));
  add("exit code", field(w, "exit_code"));
  add("signal", field(w, "signal"));
  add("restarts", field(w, "restarts"));
  if (w.contains("restart")) add("restart policy", field(w, "restart"));
  if (w.contains("network")) add("network", field(w, "network"));
  std::string labels;
  if (w.contains("labels") && w["labels"].is_object()) {
    for (const auto& [k, v] : w["labels"].items()) {
      labels += (labels.empty() ? "" : ", ") + k + "=" +
                (v.is_string() ? v.get<std::string>() : v.dump());
    }
  }
  add("labels", labels.empty() ? "-" : labels);
  std::string limits;
  if (w.contains("limits") && w["limits"].is_object()) {
    for (const auto& [k, v] : w["limits"].items()) {
      limits += (limits.empty() ? "" : ", ") + k + "=" + cell_text(v);
    }
  }
  add("limits", limits.empty() ? "-" : limits);
  if (w.contains("dropped_log_bytes")) add("dropped log bytes", field(w, "dropped_log_bytes"));

  // A fixed key column (the longest key, "dropped log bytes") keeps values aligned across
  // workers.
  std::size_t width = std::string_view("dropped log bytes").size();
  for (const auto& [k, v] : rows) width = std::max(width, k.size());
  std::string out;
  for (const auto& [k, v] : rows) {
    const std::string key = k + ":" + std::string(width - k.size() + 2, ' ');
    out += paint(key, colour ? sgr::kBold : "", colour);
    out += k == "state" ? paint(v, state_colour(v), colour) : v;
    out += "\n";
  }
  return out;
}

namespace {

// The `results` array of a PreflightReport, or null when the answer has none.
const nlohmann::json* preflight_results(const nlohmann::json& report) {
  if (!report.is_object()) return nullptr;
  const auto it = report.find("results");
  return it != report.end() && it->is_array() ? &*it : nullptr;
}

}  // namespace

std::string preflight_table(const nlohmann::json& report, bool colour) {
  Table t({"CHECK", "SEVERITY", "MESSAGE", "REMEDY"});
  if (const auto* results = preflight_results(report)) {
    for (const auto& c : *results) {
      const std::string sev = field(c, "severity");
      t.add_row({field(c, "name"), sev, field(c, "message"), field(c, "remedy")},
                {"", std::string(state_colour(sev))});
    }
  }
  return t.render(colour);
}

bool preflight_failed(const nlohmann::json& report) {
  // Passed only when the daemon says so (has_error false) and no result contradicts it: an
  // answer this CLI cannot read never reads as a safe host.
  const auto* results = preflight_results(report);
  if (results == nullptr) return true;
  const auto has_error = report.find("has_error");
  if (has_error == report.end() || !has_error->is_boolean() || has_error->get<bool>()) return true;
  for (const auto& c : *results) {
    if (!c.is_object() || c.value("severity", "") == "error") return true;
  }
  return false;
}

std::string preflight_summary(const nlohmann::json& report) {
  const auto* results = preflight_results(report);
  if (results == nullptr) return "failed (unreadable answer: no 'results' array)";
  std::map<std::string, int> by;
  int total = 0;
  for (const auto& c : *results) {
    ++by[c.is_object() ? c.value("severity", "unknown") : "unknown"];
    ++total;
  }
  std::string out = preflight_failed(report) ? "failed" : "passed";
  out += " (" + std::to_string(total) + (total == 1 ? " check" : " checks");
  for (const std::string sev : {"error", "warning", "info", "ok"}) {
    if (by.count(sev) == 0) continue;
    const bool plural = by[sev] != 1 && (sev == "error" || sev == "warning");
    out += ", " + std::to_string(by[sev]) + " " + sev + (plural ? "s" : "");
  }
  return out + ")";
}

std::string state_summary(const nlohmann::json& workers) {
  std::map<std::string, int> by;
  int total = 0;
  if (workers.is_array()) {
    for (const auto& w : workers) {
      ++by[field(w, "state")];
      ++total;
    }
  }
  if (total == 0) return "none";
  std::string out;
  for (const char* s : {"starting", "running", "ready", "stopping", "exited", "failed"}) {
    if (auto it = by.find(s); it != by.end()) {
      out += (out.empty() ? "" : ", ") + std::to_string(it->second) + " " + s;
      by.erase(it);
    }
  }
  for (const auto& [s, n] : by) out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + s;
  return out + " (" + std::to_string(total) + " total)";
}

std::optional<double> metric_value(std::string_view text, std::string_view name) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const auto line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.size() > name.size() && line.substr(0, name.size()) == name &&
        line[name.size()] == ' ') {
      const std::string value(line.substr(name.size() + 1));
      try {
        std::size_t used = 0;
        const double v = std::stod(value, &used);
        return v;
      } catch (...) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

std::optional<SseEvent> SseParser::feed(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) {
    std::optional<SseEvent> out;
    if (has_data_) {
      out = current_;
      if (out->event.empty()) out->event = "message";
    }
    current_ = {};
    has_data_ = false;
    return out;
  }
  if (line.front() == ':') return std::nullopt;
  const auto colon = line.find(':');
  const std::string_view name = line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (name == "data") {
    if (has_data_) current_.data += '\n';
    current_.data += value;
    has_data_ = true;
  } else if (name == "id") {
    current_.id = value;
  } else if (name == "event") {
    current_.event = value;
  }
  return std::nullopt;
}

std::string event_line(const nlohmann::json& e, bool colour) {
  const std::string to = field(e, "to");
  std::string out = field(e, "at") + "  " + field(e, "worker_id") + "  " + field(e, "from") +
                    " -> " + paint(to, state_colour(to), colour);
  if (e.contains("reason") && e["reason"].is_string() && !e["reason"].get<std::string>().empty()) {
    out += "  " + e["reason"].get<std::string>();
  }
  return out;
}

}  // namespace paddock::cli
