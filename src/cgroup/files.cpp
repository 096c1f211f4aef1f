#include "paddock/cgroup/files.hpp"

#include <charconv>
#include <cmath>
#include <sstream>

namespace paddock::cgroup {

namespace {

std::optional<std::uint64_t> to_u64(std::string_view s) {
  std::uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

Controllers parse_controllers(std::string_view text) {
  Controllers c;
  std::istringstream in{std::string(text)};
  std::string word;
  while (in >> word) {
    if (!word.empty() && word[0] == '+') word.erase(0, 1);
    if (word == "memory") c.memory = true;
    if (word == "cpu") c.cpu = true;
    if (word == "pids") c.pids = true;
  }
  return c;
}

std::string enable_line(const Controllers& c) {
  std::string out;
  auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!out.empty()) out += ' ';
    out += '+';
    out += name;
  };
  add(c.memory, "memory");
  add(c.cpu, "cpu");
  add(c.pids, "pids");
  return out;
}

std::optional<std::uint64_t> flat_keyed_value(std::string_view text, std::string_view key) {
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string k, v;
    if (!(f >> k >> v)) continue;
    if (k == key) return to_u64(v);
  }
  return std::nullopt;
}

std::optional<std::uint64_t> single_value(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  return to_u64(text);
}

std::string memory_max_value(const sandbox::Limits& limits) {
  return std::to_string(std::uint64_t{limits.memory_mb} * 1024ULL * 1024ULL);
}

std::string cpu_max_value(const sandbox::Limits& limits) {
  constexpr double kPeriod = 100000;
  auto quota = static_cast<std::uint64_t>(std::llround(limits.cpus * kPeriod));
  if (quota < 1000) quota = 1000;
  return std::to_string(quota) + " 100000";
}

std::string pids_max_value(const sandbox::Limits& limits) {
  return std::to_string(std::uint64_t{limits.pids} + kSandboxProcesses);
}

}  // namespace paddock::cgroup
