#pragma once
// Internal: the pids of host children preflight is waiting for (see preflight::owns_child).

#include <sys/types.h>

namespace paddock::preflight::detail {

void track_child(pid_t pid);
void untrack_child(pid_t pid);

}  // namespace paddock::preflight::detail
