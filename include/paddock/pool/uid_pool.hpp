#pragma once
/// UidPool: hands out the lowest free UID of the configured worker range; a UID comes back only
/// when no process with it is left on the host. Not thread-safe (used from the io_context).

#include <sys/types.h>

#include <cstddef>
#include <set>
#include <string>

#include "paddock/pool/process_table.hpp"
#include "paddock/util/result.hpp"

namespace paddock::pool {

/// Where the supervisor takes worker UIDs from: the UidPool itself where it lives in the same
/// process, a proxy asking the spawner in the unprivileged daemon.
class UidAllocator {
 public:
  virtual ~UidAllocator() = default;
  /// A UID for the worker or run `owner` (its id), held until give_back().
  virtual Result<uid_t> lease(const std::string& owner) = 0;
  virtual void give_back(uid_t uid) = 0;
  virtual std::size_t capacity() const = 0;
  virtual std::size_t leased() const = 0;
  virtual std::size_t draining() const = 0;
};

class UidPool final : public UidAllocator {
 public:
  /// The range [first, last] (inclusive); `table` must outlive the pool.
  UidPool(uid_t first, uid_t last, const ProcessTable& table);

  /// Marks every UID of the range that owns a process now as draining (call once at start-up
  /// so leftovers of an earlier run are not handed out).
  Result<void> adopt_host_state();

  /// The lowest UID that is neither leased nor draining. When none is, it re-checks the
  /// draining ones first. Exhaustion is an error with code "uid_exhausted".
  Result<uid_t> acquire();

  /// Gives a leased UID back. It is free again at once when no process has it, else it drains
  /// until reclaim() finds it unused. UIDs that are not leased are ignored.
  void release(uid_t uid);
  /// Gives a leased UID back without looking at the process table: it drains until the next
  /// reclaim() (acquire() reclaims when no other UID is free). For a caller that has just killed
  /// everything of the UID and must not pay a scan per release.
  void release_deferred(uid_t uid);

  /// Frees every draining UID that no process uses any more (one scan of the process table).
  Result<void> reclaim();

  Result<uid_t> lease(const std::string& /*owner*/) override { return acquire(); }
  void give_back(uid_t uid) override { release(uid); }
  std::size_t leased() const override { return leased_.size(); }
  std::size_t draining() const override { return draining_.size(); }
  std::size_t capacity() const override { return static_cast<std::size_t>(last_ - first_) + 1; }
  bool is_leased(uid_t uid) const { return leased_.count(uid) != 0; }
  bool is_draining(uid_t uid) const { return draining_.count(uid) != 0; }

 private:
  uid_t first_;
  uid_t last_;
  const ProcessTable& table_;
  std::set<uid_t> leased_;
  std::set<uid_t> draining_;
};

}  // namespace paddock::pool
