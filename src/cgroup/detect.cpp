#include "paddock/cgroup/detect.hpp"

#include <sstream>
#include <vector>

#include "paddock/util/fd.hpp"
#include "paddock/util/strings.hpp"

namespace paddock::cgroup {

namespace {

/// Decodes the \ooo escapes mountinfo uses for space, tab, newline and backslash.
std::string unescape(std::string_view s) {
  const auto is_oct = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && is_oct(s[i + 1]) && is_oct(s[i + 2]) &&
        is_oct(s[i + 3])) {
      out.push_back(
          static_cast<char>(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0')));
      i += 3;
      continue;
    }
    out.push_back(s[i]);
  }
  return out;
}

struct Mount {
  std::string root;
  std::string point;
  std::string fstype;
};

std::vector<Mount> parse_mounts(std::string_view text) {
  std::vector<Mount> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::vector<std::string> fields;
    std::string w;
    while (f >> w) fields.push_back(w);
    // id parent major:minor root mountpoint options [optional...] - fstype source superopts
    std::size_t dash = 0;
    for (std::size_t i = 6; i < fields.size(); ++i) {
      if (fields[i] == "-") {
        dash = i;
        break;
      }
    }
    if (dash == 0 || dash + 1 >= fields.size()) continue;
    out.push_back({unescape(fields[3]), unescape(fields[4]), fields[dash + 1]});
  }
  return out;
}

std::string v2_path(std::string_view proc_cgroup) {
  std::istringstream in{std::string(proc_cgroup)};
  std::string line;
  while (std::getline(in, line)) {
    if (util::starts_with(line, "0::")) return line.substr(3);
  }
  return {};
}

/// own (relative to the cgroup namespace) as seen below a mount whose root is `root`; "" when
/// it is not below it.
std::string relative_to_root(const std::string& own, const std::string& root) {
  if (root == "/") return own;
  if (own == root) return "/";
  if (util::starts_with(own, root) && own.size() > root.size() && own[root.size()] == '/') {
    return own.substr(root.size());
  }
  return {};
}

}  // namespace

std::string_view to_string(Layout layout) {
  switch (layout) {
    case Layout::Unified:
      return "unified";
    case Layout::Hybrid:
      return "hybrid";
    case Layout::Legacy:
      return "legacy";
    case Layout::None:
      return "none";
  }
  return "none";
}

std::string Detection::own_dir() const {
  if (!has_v2()) return {};
  if (own_path == "/") return mount_point;
  if (mount_point == "/") return own_path;
  return mount_point + own_path;
}

Detection parse_detection(std::string_view mountinfo, std::string_view proc_cgroup) {
  Detection d;
  const auto mounts = parse_mounts(mountinfo);
  bool v1 = false;
  const Mount* chosen = nullptr;
  auto rank = [](const Mount& m) {
    if (m.point == "/sys/fs/cgroup") return 0;
    if (m.point == "/sys/fs/cgroup/unified") return 1;
    return 2;
  };
  const std::string own = v2_path(proc_cgroup);
  for (const auto& m : mounts) {
    if (m.fstype == "cgroup") v1 = true;
    if (m.fstype != "cgroup2") continue;
    // A bind of a sub-tree only helps when our cgroup lies inside it.
    if (!own.empty() && relative_to_root(own, m.root).empty()) continue;
    if (chosen == nullptr || rank(m) < rank(*chosen)) chosen = &m;
  }
  if (chosen != nullptr) {
    d.layout = v1 ? Layout::Hybrid : Layout::Unified;
    d.mount_point = chosen->point;
    if (!own.empty()) d.own_path = relative_to_root(own, chosen->root);
  } else {
    d.layout = v1 ? Layout::Legacy : Layout::None;
  }
  return d;
}

Result<Detection> detect(const std::string& proc_root) {
  const std::string mountinfo = util::read_small_file(proc_root + "/self/mountinfo");
  if (mountinfo.empty()) {
    return make_error("io", "cannot read " + proc_root +
                                "/self/mountinfo; is /proc mounted? cgroup limits are off");
  }
  return parse_detection(mountinfo, util::read_small_file(proc_root + "/self/cgroup"));
}

}  // namespace paddock::cgroup
