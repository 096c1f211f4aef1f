#include "paddock/api/http.hpp"

namespace paddock::api {

std::optional<std::string> Request::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Request::query_param(const std::string& name) const {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

const char* to_string(StreamEndReason reason) {
  switch (reason) {
    case StreamEndReason::SlowReader:
      return "slow_reader";
    case StreamEndReason::Lifetime:
      return "lifetime";
    case StreamEndReason::Shutdown:
      return "shutdown";
  }
  return "unknown";
}

Response Response::json(unsigned status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.body.push_back('\n');
  return r;
}

Response Response::error(unsigned status, std::string code, std::string message,
                         std::string field) {
  nlohmann::json err{{"code", std::move(code)}, {"message", std::move(message)}};
  if (!field.empty()) err["field"] = std::move(field);
  return json(status, nlohmann::json{{"error", std::move(err)}});
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode(std::string_view in, std::string& out, bool plus_is_space) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return false;
    out.push_back(c);
  }
  return true;
}

}  // namespace

std::string Response::error_code() const {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return {};
  const auto& code = j["error"]["code"];
  return code.is_string() ? code.get<std::string>() : std::string();
}

bool parse_target(const std::string& target, std::string& path,
                  std::multimap<std::string, std::string>& query) {
  if (target.empty() || target[0] != '/') return false;
  const auto q = target.find('?');
  if (!decode(std::string_view(target).substr(0, q), path, false)) return false;
  query.clear();
  if (q == std::string::npos) return true;
  std::string_view rest = std::string_view(target).substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    std::string k, v;
    if (!decode(pair.substr(0, eq), k, true)) return false;
    if (eq != std::string_view::npos && !decode(pair.substr(eq + 1), v, true)) return false;
    query.emplace(std::move(k), std::move(v));
  }
  return true;
}

}  // namespace paddock::api
