#include "paddock/supervisor/lookup.hpp"

namespace paddock::supervisor {

namespace {

Lookup found(const IdEntry& e) { return Lookup{Lookup::Outcome::Found, e.id, {}}; }

Lookup one_or_ambiguous(std::vector<IdEntry> matches) {
  if (matches.empty()) return {};
  if (matches.size() == 1) return found(matches.front());
  return Lookup{Lookup::Outcome::Ambiguous, {}, std::move(matches)};
}

}  // namespace

Lookup lookup_id(std::string_view query, const std::vector<IdEntry>& entries) {
  if (query.empty()) return {};
  for (const auto& e : entries) {
    if (e.id == query) return found(e);
  }
  std::vector<IdEntry> named, live_named;
  for (const auto& e : entries) {
    if (e.name.empty() || e.name != query) continue;
    named.push_back(e);
    if (e.live) live_named.push_back(e);
  }
  if (live_named.size() == 1) return found(live_named.front());
  if (!named.empty()) return one_or_ambiguous(live_named.empty() ? named : live_named);
  std::vector<IdEntry> prefixed;
  for (const auto& e : entries) {
    if (e.id.size() > query.size() && e.id.compare(0, query.size(), query) == 0) {
      prefixed.push_back(e);
    }
  }
  return one_or_ambiguous(std::move(prefixed));
}

}  // namespace paddock::supervisor
