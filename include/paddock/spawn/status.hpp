#pragma once
/// Reading bwrap's --json-status-fd: the sandbox's init pid, the workload's own pid and the exit
/// code. bwrap 0.8 writes one JSON document per line: {"child-pid": N, ...} when the sandbox
/// starts and {"exit-code": N} when it ends.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "paddock/util/result.hpp"

namespace paddock::spawn {

/// One document from the status stream.
struct StatusEvent {
  std::optional<pid_t> child_pid;  ///< host pid of the sandbox's init (pid 1 inside)
  std::optional<int> exit_code;    ///< the workload's exit code
};

/// Incremental parser: feed bytes as they arrive, collect complete documents.
class StatusParser {
 public:
  /// Appends bytes; returns the documents completed by them. Malformed documents are errors.
  Result<std::vector<StatusEvent>> feed(std::string_view bytes);

 private:
  std::string buffer_;
};

/// Reads `status_fd` (blocking, with `timeout`) until bwrap reports its child pid, then finds
/// the workload: the first child of that init process (pid 2 inside the sandbox), read from
/// /proc/<init>/task/<init>/children and checked through the NSpid line of its status.
/// Returns the workload's pid as seen on the host. The stream is consumed only up to the end of
/// the child-pid document, so a later reader still sees {"exit-code": N}. Errors: "timeout",
/// "exited" (bwrap ended before the workload started), or the failing call.
Result<pid_t> read_workload_pid(int status_fd, std::chrono::milliseconds timeout);

/// As above, starting from an init pid already read from the status stream.
Result<pid_t> find_workload_pid(pid_t init_pid, std::chrono::milliseconds timeout);

}  // namespace paddock::spawn
