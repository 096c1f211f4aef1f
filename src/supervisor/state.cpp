#include "paddock/supervisor/state.hpp"

#include <charconv>
#include <ctime>

namespace paddock::supervisor {

std::string_view to_string(State s) {
  switch (s) {
    case State::Starting:
      return "starting";
    case State::Running:
      return "running";
    case State::Ready:
      return "ready";
    case State::Stopping:
      return "stopping";
    case State::Exited:
      return "exited";
    case State::Failed:
      return "failed";
  }
  return "unknown";
}

std::optional<State> parse_state(std::string_view s) {
  for (State st : {State::Starting, State::Running, State::Ready, State::Stopping, State::Exited,
                   State::Failed}) {
    if (to_string(st) == s) return st;
  }
  return std::nullopt;
}

bool transition_allowed(State from, State to) {
  switch (from) {
    case State::Starting:
      return to == State::Running || to == State::Stopping || to == State::Exited ||
             to == State::Failed;
    case State::Running:
      return to == State::Ready || to == State::Starting || to == State::Stopping ||
             to == State::Exited || to == State::Failed;
    case State::Ready:
      return to == State::Starting || to == State::Stopping || to == State::Exited ||
             to == State::Failed;
    case State::Stopping:
      return to == State::Exited || to == State::Failed || to == State::Starting;
    case State::Exited:
    case State::Failed:
      return false;
  }
  return false;
}

std::string format_time(WallTime t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%.*s.%03dZ", static_cast<int>(n), buf,
                static_cast<int>(ms % 1000));
  return out;
}

std::optional<WallTime> parse_time(std::string_view text) {
  // "2026-11-23T01:02:03.456Z"
  if (text.size() != 24 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != '.' || text[23] != 'Z') {
    return std::nullopt;
  }
  auto num = [&](std::size_t at, std::size_t len) -> std::optional<int> {
    int v = 0;
    const auto [p, ec] = std::from_chars(text.data() + at, text.data() + at + len, v);
    if (ec != std::errc{} || p != text.data() + at + len) return std::nullopt;
    return v;
  };
  const auto y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2),
             s = num(17, 2), ms = num(20, 3);
  if (!y || !mo || !d || !h || !mi || !s || !ms) return std::nullopt;
  std::tm tm{};
  tm.tm_year = *y - 1900;
  tm.tm_mon = *mo - 1;
  tm.tm_mday = *d;
  tm.tm_hour = *h;
  tm.tm_min = *mi;
  tm.tm_sec = *s;
  const std::time_t secs = ::timegm(&tm);
  return WallTime{} + std::chrono::seconds(secs) + std::chrono::milliseconds(*ms);
}

}  // namespace paddock::supervisor
