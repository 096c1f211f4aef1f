#pragma once
// Internal: parsing the space-separated pid lists of /proc/<pid>/task/<tid>/children.

#include <sys/types.h>

#include <charconv>
#include <string_view>
#include <vector>

namespace paddock::spawn::detail {

/// "12 34 " -> {12, 34}; anything that is not a number is skipped.
inline std::vector<pid_t> parse_pid_list(std::string_view text) {
  std::vector<pid_t> out;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  while (p < end) {
    pid_t pid = 0;
    const auto [next, ec] = std::from_chars(p, end, pid);
    if (ec == std::errc{}) out.push_back(pid);
    p = next + 1;
  }
  return out;
}

}  // namespace paddock::spawn::detail
