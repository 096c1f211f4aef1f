#pragma once
/// Logging: spdlog underneath, text on a terminal, JSON lines otherwise (or when configured).
/// Every module logs through these functions so both formats stay well formed; structured
/// fields (worker_id, uid, pid, errno, ...) become key=value in text and members in JSON.

#include <spdlog/common.h>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace paddock::log {

enum class Format { Text, Json };

using Field = std::pair<std::string, nlohmann::json>;
using Fields = std::vector<Field>;

/// Configures the process logger on stderr. `format` is "auto" (text when stderr is a
/// terminal, JSON lines otherwise), "text" or "json". Unknown levels fall back to info.
void init(std::string_view level, std::string_view format);

/// Logger for tests: stderr, text, at the given level ("off" by default).
void init_for_tests(std::string_view level);

/// Redirects output to `sink` (tests of the formats use an ostream sink).
void init_with_sink(spdlog::sink_ptr sink, Format format, std::string_view level);

Format current_format();

/// The message payload as it goes to spdlog: "msg k=v ..." (text) or the JSON members without
/// the surrounding braces (the JSON pattern adds ts and level). Pure; exposed for tests.
std::string render_payload(Format format, std::string_view msg, const Fields& fields);

void write(spdlog::level::level_enum level, std::string_view msg, const Fields& fields = {});
inline void trace(std::string_view m, const Fields& f = {}) { write(spdlog::level::trace, m, f); }
inline void debug(std::string_view m, const Fields& f = {}) { write(spdlog::level::debug, m, f); }
inline void info(std::string_view m, const Fields& f = {}) { write(spdlog::level::info, m, f); }
inline void warn(std::string_view m, const Fields& f = {}) { write(spdlog::level::warn, m, f); }
inline void error(std::string_view m, const Fields& f = {}) { write(spdlog::level::err, m, f); }
inline void critical(std::string_view m, const Fields& f = {}) {
  write(spdlog::level::critical, m, f);
}

/// The fields every line about a worker carries.
inline Fields worker_fields(std::string_view worker_id, long uid, long pid, Fields extra = {}) {
  Fields f{{"worker_id", std::string(worker_id)}, {"uid", uid}, {"pid", pid}};
  for (auto& e : extra) f.push_back(std::move(e));
  return f;
}

}  // namespace paddock::log
