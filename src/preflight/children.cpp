#include "children.hpp"

#include <mutex>
#include <set>

#include "paddock/preflight/preflight.hpp"

namespace paddock::preflight {

namespace {

std::mutex& children_mutex() {
  static std::mutex m;
  return m;
}

std::set<pid_t>& children() {
  static std::set<pid_t> s;
  return s;
}

}  // namespace

namespace detail {

void track_child(pid_t pid) {
  std::lock_guard lock(children_mutex());
  children().insert(pid);
}

void untrack_child(pid_t pid) {
  std::lock_guard lock(children_mutex());
  children().erase(pid);
}

}  // namespace detail

bool owns_child(pid_t pid) {
  std::lock_guard lock(children_mutex());
  return children().count(pid) != 0;
}

}  // namespace paddock::preflight
