#include "paddock/cli/requests.hpp"

namespace paddock::cli {

Result<std::pair<std::string, std::string>> parse_key_value(std::string_view text,
                                                            const std::string& option) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return make_error("usage", option + " expects KEY=VALUE, got '" + std::string(text) + "'",
                      option);
  }
  return std::make_pair(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
}

namespace {

Result<nlohmann::json> key_values(const std::vector<std::string>& items,
                                  const std::string& option) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& item : items) {
    auto kv = parse_key_value(item, option);
    if (!kv) return kv.error();
    out[kv->first] = kv->second;
  }
  return out;
}

}  // namespace

Result<nlohmann::json> start_request(const StartArgs& a) {
  nlohmann::json body = nlohmann::json::object();
  if (!a.name.empty()) body["name"] = a.name;
  if (!a.profile.empty()) body["profile"] = a.profile;
  if (!a.bundle.empty()) body["bundle"] = a.bundle;
  if (a.port) body["port"] = true;
  if (!a.restart.empty()) {
    if (a.restart != "never" && a.restart != "on-failure" && a.restart != "always") {
      return make_error("usage",
                        "--restart must be never, on-failure or always, got '" + a.restart + "'",
                        "--restart");
    }
    body["restart"] = a.restart;
  }
  if (!a.env.empty()) {
    auto env = key_values(a.env, "--env");
    if (!env) return env.error();
    body["env"] = *env;
  }
  if (!a.labels.empty()) {
    auto labels = key_values(a.labels, "--label");
    if (!labels) return labels.error();
    body["labels"] = *labels;
  }
  if (!a.command.empty()) body["command"] = a.command;
  return body;
}

Result<nlohmann::json> run_request(const RunArgs& a) {
  nlohmann::json body = nlohmann::json::object();
  if (!a.profile.empty()) body["profile"] = a.profile;
  if (!a.bundle.empty()) body["bundle"] = a.bundle;
  if (!a.network.empty()) body["network"] = a.network;
  if (a.timeout_seconds > 0) body["timeout_seconds"] = a.timeout_seconds;
  if (a.stdin_data) body["stdin_base64"] = base64_encode(*a.stdin_data);
  if (!a.env.empty()) {
    auto env = key_values(a.env, "--env");
    if (!env) return env.error();
    body["env"] = *env;
  }
  if (!a.files.empty()) {
    nlohmann::json files = nlohmann::json::object();
    for (const auto& [path, content] : a.files) {
      if (files.contains(path)) {
        return make_error("usage", "--file: '" + path + "' is given twice");
      }
      files[path] = {{"content_base64", base64_encode(content)}};
    }
    body["files"] = std::move(files);
  }
  if (!a.collect.empty()) body["collect"] = a.collect;
  if (!a.command.empty()) body["command"] = a.command;
  return body;
}

Result<std::pair<std::string, std::string>> file_argument(const std::string& arg) {
  const auto eq = arg.find('=');
  std::string local = eq == std::string::npos ? arg : arg.substr(0, eq);
  std::string remote;
  if (eq != std::string::npos) {
    remote = arg.substr(eq + 1);
  } else {
    while (local.size() > 1 && local.back() == '/') local.pop_back();
    const auto slash = local.rfind('/');
    remote = slash == std::string::npos ? local : local.substr(slash + 1);
  }
  if (local.empty() || remote.empty()) {
    return make_error("usage",
                      "--file takes LOCAL or LOCAL=REMOTE (a path in the run's working "
                      "directory), not '" +
                          arg + "'");
  }
  return std::make_pair(std::move(local), std::move(remote));
}

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string query_string(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    out += (out.empty() ? "?" : "&") + url_encode(k) + "=" + url_encode(v);
  }
  return out;
}

std::string worker_path(std::string_view id, std::string_view suffix) {
  return "/v1/workers/" + url_encode(id) + std::string(suffix);
}

}  // namespace paddock::cli
