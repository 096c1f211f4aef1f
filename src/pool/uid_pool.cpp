#include "paddock/pool/uid_pool.hpp"

#include <string>

namespace paddock::pool {

UidPool::UidPool(uid_t first, uid_t last, const ProcessTable& table)
    : first_(first), last_(last < first ? first : last), table_(table) {}

Result<void> UidPool::adopt_host_state() {
  auto live = table_.live_uids(first_, last_);
  if (!live) return live.error();
  for (uid_t uid : *live) {
    if (leased_.count(uid) == 0) draining_.insert(uid);
  }
  return {};
}

Result<uid_t> UidPool::acquire() {
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (uid_t uid = first_;; ++uid) {
      if (leased_.count(uid) == 0 && draining_.count(uid) == 0) {
        leased_.insert(uid);
        return uid;
      }
      if (uid == last_) break;
    }
    if (attempt == 0 && !draining_.empty()) {
      auto r = reclaim();
      if (!r) return r.error();
      continue;
    }
    break;
  }
  return make_error("uid_exhausted", "all " + std::to_string(capacity()) + " worker UIDs (" +
                                         std::to_string(first_) + "-" + std::to_string(last_) +
                                         ") are in use (" + std::to_string(draining_.size()) +
                                         " still have processes); stop a worker or widen "
                                         "[process] worker_uid_range_start/worker_uid_range_end");
}

void UidPool::release(uid_t uid) {
  if (leased_.erase(uid) == 0) return;
  auto live = table_.live_uids(uid, uid);
  if (!live || !live->empty()) draining_.insert(uid);
}

void UidPool::release_deferred(uid_t uid) {
  if (leased_.erase(uid) != 0) draining_.insert(uid);
}

Result<void> UidPool::reclaim() {
  if (draining_.empty()) return {};
  auto live = table_.live_uids(first_, last_);
  if (!live) return live.error();
  for (auto it = draining_.begin(); it != draining_.end();) {
    if (live->count(*it) == 0) {
      it = draining_.erase(it);
    } else {
      ++it;
    }
  }
  return {};
}

}  // namespace paddock::pool
