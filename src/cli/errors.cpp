#include "paddock/cli/errors.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <csignal>
#include <utility>

namespace paddock::cli {

int exit_code_for(const Error& error) {
  const std::string& c = error.code;
  if (c == "connect" || c == "permission" || c == "forbidden" || c == "worker_uid_refused") {
    return kExitUnavailable;
  }
  return kExitFailure;
}

Error api_error(unsigned status, const std::string& body, const std::string& permission_text) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_object()) {
    const auto& e = j["error"];
    Error out;
    out.code = e.value("code", "http_" + std::to_string(status));
    out.message = e.value("message", "paddockd answered HTTP " + std::to_string(status));
    out.field = e.contains("field") && e["field"].is_string() ? e["field"].get<std::string>() : "";
    if (status == 403 && out.code == "forbidden") {
      out.code = "permission";
      out.message = permission_text;
      out.field.clear();
    }
    return out;
  }
  std::string first = body.substr(0, body.find('\n'));
  if (first.size() > 200) first = first.substr(0, 200) + "...";
  return make_error("http_" + std::to_string(status),
                    "paddockd answered HTTP " + std::to_string(status) +
                        (first.empty() ? std::string{} : ": " + first));
}

std::string error_line(const Error& error) {
  if (error.field.empty()) return error.message;
  return error.message + " (field: " + error.field + ")";
}

namespace {

constexpr std::array<std::pair<const char*, int>, 19> kSignals{{
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},     {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT}, {"BUS", SIGBUS},   {"FPE", SIGFPE},   {"KILL", SIGKILL},   {"USR1", SIGUSR1},
    {"SEGV", SIGSEGV}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},   {"TERM", SIGTERM},
    {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"WINCH", SIGWINCH},
}};

std::optional<int> number_of(std::string text) {
  if (text.empty()) return std::nullopt;
  int n = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec == std::errc{} && p == text.data() + text.size()) {
    if (n > 0 && n < 65) return n;
    return std::nullopt;
  }
  for (auto& ch : text) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (text.rfind("SIG", 0) == 0) text = text.substr(3);
  for (const auto& [name, value] : kSignals) {
    if (text == name) return value;
  }
  return std::nullopt;
}

}  // namespace

std::optional<int> signal_number(const nlohmann::json& value) {
  if (value.is_number_integer()) {
    const auto n = value.get<long long>();
    if (n > 0 && n < 65) return static_cast<int>(n);
    return std::nullopt;
  }
  if (value.is_string()) return number_of(value.get<std::string>());
  return std::nullopt;
}

std::optional<std::string> normalise_signal(const std::string& text) {
  const auto n = number_of(text);
  if (!n) return std::nullopt;
  for (const auto& [name, value] : kSignals) {
    if (value == *n) return std::string(name);
  }
  return std::nullopt;
}

int run_exit_code(const nlohmann::json& result) {
  if (result.value("timed_out", false)) return kExitTimeout;
  if (result.contains("signal")) {
    if (auto sig = signal_number(result["signal"])) return 128 + *sig;
  }
  if (result.contains("exit_code") && result["exit_code"].is_number_integer()) {
    return result["exit_code"].get<int>();
  }
  return kExitFailure;
}

std::string exit_codes_help() {
  return "Exit codes:\n"
         "  0    success\n"
         "  1    paddockd refused or failed the request, or a check failed\n"
         "  2    usage error (unknown command or option, missing argument)\n"
         "  3    cannot connect to paddockd, or permission denied on its socket\n"
         "  run: the workload's exit code; 128+N when signal N killed it; 124 when --timeout "
         "passed\n"
         "\n"
         "The socket is --socket, else $PADDOCK_SOCKET, else /run/paddock/paddock.sock.\n"
         "Documentation: docs/cli.md";
}

}  // namespace paddock::cli
