#pragma once
/// Lifecycle events: every state transition of a worker or run, numbered, kept in a bounded
/// buffer (so an SSE client can resume with Last-Event-ID) and pushed to subscribers.

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "paddock/supervisor/state.hpp"

namespace paddock::supervisor {

struct Event {
  std::uint64_t id = 0;  ///< assigned by the bus, increasing from 1
  std::string worker_id;
  std::string kind = "worker";  ///< "worker" or "run"
  State from = State::Starting;
  State to = State::Starting;
  WallTime at;
  std::string reason;
};

class EventBus {
 public:
  using Subscriber = std::function<void(const Event&)>;
  explicit EventBus(std::size_t capacity = 1024) : capacity_(capacity) {}

  /// Numbers the event, keeps it and calls every subscriber. Returns the id.
  std::uint64_t publish(Event e);
  /// Buffered events with id > `after`; `complete` is false when some were already dropped.
  std::vector<Event> since(std::uint64_t after, bool* complete = nullptr) const;
  std::uint64_t subscribe(Subscriber s);
  void unsubscribe(std::uint64_t token);
  std::uint64_t last_id() const { return next_id_ - 1; }
  /// Goes on numbering after `last` (the image before an upgrade published up to it); a client
  /// resuming from an earlier id is told that events were missed. Only before the first publish.
  void resume_after(std::uint64_t last) {
    if (buffer_.empty()) next_id_ = std::max(next_id_, last + 1);
  }
  std::size_t subscribers() const { return subs_.size(); }

 private:
  std::size_t capacity_;
  std::deque<Event> buffer_;
  std::uint64_t next_id_ = 1;
  std::uint64_t next_token_ = 1;
  std::map<std::uint64_t, Subscriber> subs_;
};

}  // namespace paddock::supervisor
