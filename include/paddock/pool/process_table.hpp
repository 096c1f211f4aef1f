#pragma once
/// Which UIDs still own processes on the host (the UID pool asks before reusing one).

#include <sys/types.h>

#include <set>
#include <string>

#include "paddock/util/result.hpp"

namespace paddock::pool {

class ProcessTable {
 public:
  virtual ~ProcessTable() = default;
  /// Every uid (real, effective, saved or filesystem) of every process on the host, limited to
  /// [first, last].
  virtual Result<std::set<uid_t>> live_uids(uid_t first, uid_t last) const = 0;
};

/// Scans <proc_root>/<pid>/status (the Uid: line). Processes that vanish mid-scan are skipped.
class ProcProcessTable final : public ProcessTable {
 public:
  explicit ProcProcessTable(std::string proc_root = "/proc") : root_(std::move(proc_root)) {}
  Result<std::set<uid_t>> live_uids(uid_t first, uid_t last) const override;

 private:
  std::string root_;
};

}  // namespace paddock::pool
