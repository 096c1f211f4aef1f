#pragma once
/// Worker lifecycle states and the transitions allowed between them.
///
///   starting ──> running ──> ready ──> stopping ──> exited | failed
///      │  ▲         │          │                      ▲
///      │  └─restart─┴──────────┘                      │
///      └──────────────────────────────────────────────┘ (spawn error, start limit, stop)

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace paddock::supervisor {

enum class State { Starting, Running, Ready, Stopping, Exited, Failed };

std::string_view to_string(State s);
std::optional<State> parse_state(std::string_view s);

/// exited and failed are final: the worker keeps its record but holds no UID, port or process.
inline bool is_terminal(State s) { return s == State::Exited || s == State::Failed; }

/// Whether the state machine allows `from` -> `to`.
bool transition_allowed(State from, State to);

using WallTime = std::chrono::system_clock::time_point;

/// RFC 3339 UTC with milliseconds ("2026-11-23T01:02:03.456Z").
std::string format_time(WallTime t);
/// format_time()'s text back to the time; nullopt for anything else.
std::optional<WallTime> parse_time(std::string_view text);

}  // namespace paddock::supervisor
