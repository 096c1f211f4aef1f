#include "paddock/supervisor/events.hpp"

namespace paddock::supervisor {

std::uint64_t EventBus::publish(Event e) {
  e.id = next_id_++;
  buffer_.push_back(e);
  while (buffer_.size() > capacity_) buffer_.pop_front();
  // Copy: a subscriber may unsubscribe itself (or others) while being called.
  auto subs = subs_;
  for (auto& [token, fn] : subs) {
    if (subs_.count(token) != 0) fn(e);
  }
  return e.id;
}

std::vector<Event> EventBus::since(std::uint64_t after, bool* complete) const {
  std::vector<Event> out;
  for (const auto& e : buffer_) {
    if (e.id > after) out.push_back(e);
  }
  if (complete != nullptr) {
    // Without a buffer (a new image after an upgrade), ids up to last_id() went elsewhere.
    *complete = buffer_.empty() ? after + 1 >= next_id_ : after + 1 >= buffer_.front().id;
  }
  return out;
}

std::uint64_t EventBus::subscribe(Subscriber s) {
  const auto token = next_token_++;
  subs_.emplace(token, std::move(s));
  return token;
}

void EventBus::unsubscribe(std::uint64_t token) { subs_.erase(token); }

}  // namespace paddock::supervisor
