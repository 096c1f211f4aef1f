#include "paddock/cgroup/enforcement.hpp"

namespace paddock::cgroup {

Enforcement enforcement_for(const std::optional<Controllers>& leaf, bool rlimit_as) {
  Enforcement e;
  const bool memory = leaf && leaf->memory;
  e.memory = memory ? "cgroup" : (rlimit_as ? "rlimit" : "none");
  e.cpus = leaf && leaf->cpu ? "cgroup" : "none";
  e.pids = leaf && leaf->pids ? "cgroup" : "rlimit";
  return e;
}

}  // namespace paddock::cgroup
