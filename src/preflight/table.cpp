#include <algorithm>
#include <sstream>

#include "paddock/preflight/preflight.hpp"

namespace paddock::preflight {

namespace {

constexpr std::size_t kWidth = 100;

const char* colour(Severity s) {
  switch (s) {
    case Severity::Ok:
      return "\x1b[32m";
    case Severity::Info:
      return "\x1b[36m";
    case Severity::Warning:
      return "\x1b[33m";
    case Severity::Error:
      return "\x1b[1;31m";
  }
  return "";
}

bool is_command(const std::string& line) {
  for (const char* p : {"iptables ", "ip6tables ", "nft "}) {
    if (line.rfind(p, 0) == 0) return true;
  }
  return false;
}

/// Splits text into lines of at most `width` characters at spaces (longer words stay whole);
/// existing newlines are kept, and lines that are commands are never split.
std::vector<std::string> wrap(const std::string& text, std::size_t width) {
  std::vector<std::string> out;
  std::istringstream paragraphs(text);
  std::string para;
  while (std::getline(paragraphs, para)) {
    if (is_command(para)) {
      out.push_back(para);
      continue;
    }
    std::istringstream words(para);
    std::string word;
    std::string line;
    while (words >> word) {
      if (!line.empty() && line.size() + 1 + word.size() > width) {
        out.push_back(line);
        line.clear();
      }
      line += (line.empty() ? "" : " ") + word;
    }
    out.push_back(line);
  }
  if (out.empty()) out.emplace_back();
  return out;
}

}  // namespace

std::string format_table(const Report& report, bool color) {
  std::size_t name_w = 5;
  for (const auto& r : report.results) name_w = std::max(name_w, r.name.size());
  constexpr std::size_t sev_w = 7;
  const std::size_t indent = name_w + 2 + sev_w + 2;
  const std::size_t text_w = std::max<std::size_t>(40, kWidth > indent ? kWidth - indent : 40);
  const std::string pad(indent, ' ');
  std::ostringstream out;
  out << "CHECK" << std::string(name_w - 5 + 2, ' ') << "RESULT" << std::string(sev_w - 6 + 2, ' ')
      << "MESSAGE\n";
  int counts[4] = {0, 0, 0, 0};
  for (const auto& r : report.results) {
    ++counts[static_cast<int>(r.severity)];
    const std::string sev(to_string(r.severity));
    out << r.name << std::string(name_w - r.name.size() + 2, ' ');
    if (color) out << colour(r.severity);
    out << sev;
    if (color) out << "\x1b[0m";
    out << std::string(sev_w - sev.size() + 2, ' ');
    const auto lines = wrap(r.message, text_w);
    for (std::size_t i = 0; i < lines.size(); ++i) out << (i == 0 ? "" : pad) << lines[i] << "\n";
    if (!r.remedy.empty()) {
      const auto fix = wrap(r.remedy, text_w - 5);
      const char* label = r.severity == Severity::Ok ? "tip: " : "fix: ";
      for (std::size_t i = 0; i < fix.size(); ++i) {
        out << pad << (i == 0 ? label : "     ") << fix[i] << "\n";
      }
    }
  }
  out << "\n"
      << report.results.size() << " checks: " << counts[0] << " ok, " << counts[1] << " info, "
      << counts[2] << " warning, " << counts[3] << " error\n";
  return out.str();
}

}  // namespace paddock::preflight
