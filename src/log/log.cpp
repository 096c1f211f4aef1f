#include "paddock/log/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <memory>

namespace paddock::log {
namespace {

std::atomic<Format> g_format{Format::Text};

constexpr const char* kTextPattern = "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v";
constexpr const char* kJsonPattern = R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})";

spdlog::level::level_enum parse_level(std::string_view level) {
  if (level == "warning") return spdlog::level::warn;
  auto l = spdlog::level::from_str(std::string(level));
  if (l == spdlog::level::off && level != "off") return spdlog::level::info;
  return l;
}

void install(spdlog::sink_ptr sink, Format format, std::string_view level) {
  auto logger = std::make_shared<spdlog::logger>("paddock", std::move(sink));
  logger->set_pattern(
      format == Format::Json ? kJsonPattern : kTextPattern,
      format == Format::Json ? spdlog::pattern_time_type::utc : spdlog::pattern_time_type::local);
  logger->set_level(parse_level(level));
  logger->flush_on(spdlog::level::info);
  g_format = format;
  spdlog::set_default_logger(std::move(logger));
}

bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  for (char c : s) {
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\t') return true;
  }
  return false;
}

}  // namespace

void init(std::string_view level, std::string_view format) {
  Format f = Format::Text;
  if (format == "json" || (format == "auto" && ::isatty(STDERR_FILENO) == 0)) f = Format::Json;
  install(std::make_shared<spdlog::sinks::stderr_sink_mt>(), f, level);
}

void init_for_tests(std::string_view level) {
  install(std::make_shared<spdlog::sinks::stderr_sink_mt>(), Format::Text, level);
}

void init_with_sink(spdlog::sink_ptr sink, Format format, std::string_view level) {
  install(std::move(sink), format, level);
}

Format current_format() { return g_format; }

std::string render_payload(Format format, std::string_view msg, const Fields& fields) {
  if (format == Format::Json) {
    std::string out =
        "\"msg\":" + nlohmann::json(std::string(msg))
                         .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    for (const auto& [k, v] : fields) {
      out += "," + nlohmann::json(k).dump() + ":" +
             v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    return out;
  }
  std::string out(msg);
  for (const auto& [k, v] : fields) {
    out += " " + k + "=";
    if (v.is_string()) {
      const auto& s = v.get_ref<const std::string&>();
      out += needs_quotes(s)
                 ? nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                 : s;
    } else {
      out += v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  }
  return out;
}

void write(spdlog::level::level_enum level, std::string_view msg, const Fields& fields) {
  auto logger = spdlog::default_logger_raw();
  if (!logger->should_log(level)) return;
  logger->log(level, "{}", render_payload(g_format, msg, fields));
}

}  // namespace paddock::log
