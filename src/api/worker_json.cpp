#include "paddock/api/worker_json.hpp"

#include <csignal>
#include <cstring>

#include "paddock/api/json_body.hpp"

namespace paddock::api {

namespace {

using Required = FieldReader::Required;

void read_limits(FieldReader& r, sandbox::LimitsRequest& out) {
  auto limits = r.object("limits");
  if (!limits) return;
  if (auto v = limits->integer("memory_mb", 1, 1 << 24))
    out.memory_mb = static_cast<std::uint32_t>(*v);
  if (auto v = limits->number("cpus", 0.01, 1024)) out.cpus = *v;
  if (auto v = limits->integer("pids", 1, 1 << 22)) out.pids = static_cast<std::uint32_t>(*v);
  if (auto v = limits->integer("nofile", 16, 1 << 20)) out.nofile = static_cast<std::uint32_t>(*v);
  if (auto v = limits->integer("tmp_mb", 1, 1 << 20)) out.tmp_mb = static_cast<std::uint32_t>(*v);
  if (auto v = limits->integer("wall_seconds", 0, 0xffffffffLL)) {
    out.wall_seconds = static_cast<std::uint32_t>(*v);
  }
}

// Fields shared by workers and runs.
void read_common(FieldReader& r, sandbox::WorkerSpec& spec) {
  if (auto v = r.string("profile")) spec.profile = *v;
  if (auto v = r.string_array("command")) spec.command = *v;
  if (auto v = r.string_map("env")) spec.env = *v;
  if (auto v = r.string("bundle")) spec.bundle = *v;
  if (auto v = r.string_map("labels")) spec.labels = *v;
  read_limits(r, spec.limits);
}

Result<void> finish_common(FieldReader& r, const nlohmann::json& body, sandbox::WorkerSpec& spec) {
  if (auto done = r.finish(); !done) return done.error();
  if (body.contains("network")) {
    auto n = sandbox::parse_network_mode(body["network"].get<std::string>());
    if (!n) return n.error();
    spec.network = *n;
  }
  if (body.contains("command") && spec.command.empty()) {
    return make_error("invalid_field",
                      "command must not be empty; omit it to use the profile's default", "command");
  }
  return {};
}

/// "files": {"<path>": {"content": "..."} | {"content_base64": "..."}}; errors name
/// "files.<path>". The [runs] limits on count and size are the supervisor's.
Result<std::vector<runfiles::InputFile>> parse_run_files(const nlohmann::json& body) {
  std::vector<runfiles::InputFile> out;
  const auto it = body.find("files");
  if (it == body.end()) return out;
  if (!it->is_object()) {
    return make_error("not_an_object", "files must be an object of path -> {content}", "files");
  }
  const runfiles::Caps caps;
  for (const auto& [path, value] : it->items()) {
    const std::string field = "files." + path.substr(0, 128);
    if (auto ok = runfiles::check_relative_path(path, caps); !ok) {
      return make_error("invalid_field", ok.error().message, field);
    }
    if (!value.is_object()) {
      return make_error("not_an_object",
                        field + " must be {\"content\": ...} or {\"content_base64\": ...}", field);
    }
    FieldReader f(value, field);
    auto text = f.string("content");
    auto b64 = f.string("content_base64");
    if (auto done = f.finish(); !done) return done.error();
    if (text.has_value() == b64.has_value()) {
      return make_error("invalid_field", field + " needs exactly one of content, content_base64",
                        field);
    }
    runfiles::InputFile file{path, text.value_or("")};
    if (b64) {
      auto decoded = base64_decode(*b64);
      if (!decoded) {
        return make_error("invalid_base64", decoded.error().message, field + ".content_base64");
      }
      file.content = std::move(*decoded);
    }
    out.push_back(std::move(file));
  }
  return out;
}

/// "collect": ["out/*.png", ...]; errors name "collect[i]". A pattern that leaves the working
/// directory is not refused here: the answer has an error entry for it.
Result<std::vector<std::string>> parse_collect(const nlohmann::json& body) {
  std::vector<std::string> out;
  const auto it = body.find("collect");
  if (it == body.end()) return out;
  const runfiles::Caps caps;
  if (!it->is_array())
    return make_error("invalid_field", "collect must be a list of globs", "collect");
  if (it->size() > caps.max_collect_patterns) {
    return make_error(
        "invalid_field",
        "collect has more than " + std::to_string(caps.max_collect_patterns) + " patterns",
        "collect");
  }
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& p = (*it)[i];
    const std::string field = "collect[" + std::to_string(i) + "]";
    if (!p.is_string() || p.get<std::string>().empty()) {
      return make_error("invalid_field", field + " must be a non-empty string", field);
    }
    if (p.get<std::string>().size() > caps.max_path_length) {
      return make_error(
          "invalid_field",
          field + " is longer than " + std::to_string(caps.max_path_length) + " bytes", field);
    }
    out.push_back(p.get<std::string>());
  }
  return out;
}

}  // namespace

Result<sandbox::WorkerSpec> parse_worker_spec(const nlohmann::json& body) {
  sandbox::WorkerSpec spec;
  FieldReader r(body);
  read_common(r, spec);
  if (auto v = r.string("name")) spec.name = *v;
  if (auto v = r.boolean("port")) spec.port = *v;
  if (auto v = r.integer("idle_timeout_seconds", 0, 0xffffffffLL)) {
    spec.idle_timeout_seconds = static_cast<std::uint32_t>(*v);
  }
  if (auto v = r.integer("max_lifetime_seconds", 0, 0xffffffffLL)) {
    spec.max_lifetime_seconds = static_cast<std::uint32_t>(*v);
  }
  auto restart = r.string("restart");
  (void)r.string("network");
  if (auto done = finish_common(r, body, spec); !done) return done.error();
  if (restart) {
    auto p = sandbox::parse_restart_policy(*restart);
    if (!p) return p.error();
    spec.restart = *p;
  }
  if (spec.name.size() > 128) {
    return make_error("invalid_field", "name is longer than 128 characters", "name");
  }
  return spec;
}

nlohmann::json spec_to_json(const sandbox::WorkerSpec& spec) {
  nlohmann::json j = nlohmann::json::object();
  if (!spec.name.empty()) j["name"] = spec.name;
  if (!spec.profile.empty()) j["profile"] = spec.profile;
  if (!spec.command.empty()) j["command"] = spec.command;
  if (!spec.env.empty()) j["env"] = spec.env;
  if (!spec.bundle.empty()) j["bundle"] = spec.bundle;
  if (!spec.labels.empty()) j["labels"] = spec.labels;
  j["port"] = spec.port;
  j["restart"] = std::string(sandbox::to_string(spec.restart));
  if (spec.idle_timeout_seconds != 0) j["idle_timeout_seconds"] = spec.idle_timeout_seconds;
  if (spec.max_lifetime_seconds != 0) j["max_lifetime_seconds"] = spec.max_lifetime_seconds;
  if (spec.network) j["network"] = std::string(sandbox::to_string(*spec.network));
  nlohmann::json limits = nlohmann::json::object();
  const auto& l = spec.limits;
  if (l.memory_mb) limits["memory_mb"] = *l.memory_mb;
  if (l.cpus) limits["cpus"] = *l.cpus;
  if (l.pids) limits["pids"] = *l.pids;
  if (l.nofile) limits["nofile"] = *l.nofile;
  if (l.tmp_mb) limits["tmp_mb"] = *l.tmp_mb;
  if (l.wall_seconds) limits["wall_seconds"] = *l.wall_seconds;
  if (!limits.empty()) j["limits"] = std::move(limits);
  return j;
}

Result<supervisor::RunSpec> parse_run_spec(const nlohmann::json& body) {
  supervisor::RunSpec run;
  FieldReader r(body);
  read_common(r, run.spec);
  auto stdin_text = r.string("stdin");
  auto stdin_b64 = r.string("stdin_base64");
  if (auto v = r.integer("timeout_seconds", 1, 86400))
    run.timeout_seconds = static_cast<std::uint32_t>(*v);
  (void)r.string("network");
  r.accept("files");
  r.accept("collect");
  if (auto done = finish_common(r, body, run.spec); !done) return done.error();
  if (auto files = parse_run_files(body); !files) {
    return files.error();
  } else {
    run.files = std::move(*files);
  }
  if (auto collect = parse_collect(body); !collect) {
    return collect.error();
  } else {
    run.collect = std::move(*collect);
  }
  if (stdin_text && stdin_b64) {
    return make_error("invalid_field", "give stdin or stdin_base64, not both", "stdin_base64");
  }
  if (stdin_text) run.stdin_data = *stdin_text;
  if (stdin_b64) {
    auto decoded = base64_decode(*stdin_b64);
    if (!decoded) return make_error("invalid_field", decoded.error().message, "stdin_base64");
    run.stdin_data = std::move(*decoded);
  }
  return run;
}

namespace {

nlohmann::json opt_time(const std::optional<supervisor::WallTime>& t) {
  return t ? nlohmann::json(supervisor::format_time(*t)) : nlohmann::json(nullptr);
}
template <class T>
nlohmann::json opt(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json enforcement_json(const cgroup::Enforcement& e) {
  return nlohmann::json{{"memory", e.memory}, {"cpus", e.cpus}, {"pids", e.pids},
                        {"nofile", e.nofile}, {"tmp", e.tmp},   {"wall", e.wall}};
}

nlohmann::json usage_json(const std::optional<cgroup::Usage>& u) {
  if (!u) return nullptr;
  return nlohmann::json{{"memory_bytes", opt(u->memory_bytes)},
                        {"cpu_usec", opt(u->cpu_usec)},
                        {"pids", opt(u->pids)},
                        {"oom_kills", opt(u->oom_kills)}};
}

}  // namespace

nlohmann::json to_json(const supervisor::WorkerSnapshot& w) {
  nlohmann::json limits{{"memory_mb", w.limits.memory_mb}, {"cpus", w.limits.cpus},
                        {"pids", w.limits.pids},           {"nofile", w.limits.nofile},
                        {"tmp_mb", w.limits.tmp_mb},       {"wall_seconds", w.limits.wall_seconds}};
  return nlohmann::json{{"id", w.id},
                        {"kind", w.kind},
                        {"name", w.name.empty() ? nlohmann::json(nullptr) : nlohmann::json(w.name)},
                        {"state", std::string(supervisor::to_string(w.state))},
                        {"reason", w.reason},
                        {"uid", opt(w.uid)},
                        {"pid", opt(w.pid)},
                        {"port", opt(w.port)},
                        {"profile", w.profile},
                        {"command", w.command},
                        {"created_at", supervisor::format_time(w.created_at)},
                        {"started_at", opt_time(w.started_at)},
                        {"exited_at", opt_time(w.exited_at)},
                        {"exit_code", opt(w.exit_code)},
                        {"signal", opt(w.signal)},
                        {"restarts", w.restarts},
                        {"restart", std::string(sandbox::to_string(w.restart))},
                        {"network", std::string(sandbox::to_string(w.network))},
                        {"labels", w.labels},
                        {"limits", limits},
                        {"enforcement", enforcement_json(w.enforcement)},
                        {"usage", usage_json(w.usage)},
                        {"dropped_log_bytes", w.dropped_log_bytes}};
}

nlohmann::json to_json(const supervisor::RunResult& r) {
  nlohmann::json j{
      {"id", r.worker.id},
      {"state", std::string(supervisor::to_string(r.worker.state))},
      {"finished", r.finished},
      {"uid", opt(r.worker.uid)},
      {"exit_code", opt(r.worker.exit_code)},
      {"signal", opt(r.worker.signal)},
      {"timed_out", r.timed_out},
      {"stdout_truncated", r.stdout_truncated},
      {"stderr_truncated", r.stderr_truncated},
      {"duration_ms", r.finished ? nlohmann::json(r.duration_ms) : nlohmann::json(nullptr)},
      {"created_at", supervisor::format_time(r.worker.created_at)},
      {"reason", r.worker.reason}};
  // Output is bytes; JSON strings are UTF-8, so invalid sequences are sent as U+FFFD.
  j["stdout"] = nlohmann::json(r.stdout_data);
  j["stderr"] = nlohmann::json(r.stderr_data);
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : r.files) {
    nlohmann::json e = nlohmann::json::object();
    if (!f.path.empty()) e["path"] = f.path;
    if (!f.pattern.empty()) e["pattern"] = f.pattern;
    if (!f.error.empty()) {
      e["error"] = f.error;
    } else {
      e["size"] = f.size;
      e["truncated"] = f.truncated;
      e["content_base64"] = base64_encode(f.content);
    }
    files.push_back(std::move(e));
  }
  j["files"] = std::move(files);
  return j;
}

nlohmann::json to_json(const supervisor::Event& e) {
  return nlohmann::json{{"id", e.id},
                        {"worker_id", e.worker_id},
                        {"kind", e.kind},
                        {"from", std::string(supervisor::to_string(e.from))},
                        {"to", std::string(supervisor::to_string(e.to))},
                        {"at", supervisor::format_time(e.at)},
                        {"reason", e.reason}};
}

nlohmann::json to_json(const supervisor::LogLine& l) {
  return nlohmann::json{{"seq", l.seq},
                        {"stream", std::string(supervisor::to_string(l.stream))},
                        {"at", supervisor::format_time(l.at)},
                        {"line", l.text}};
}

Result<int> parse_signal(const std::string& text) {
  static const std::pair<const char*, int> kSignals[] = {
      {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"KILL", SIGKILL},
      {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM},   {"CONT", SIGCONT},
      {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"WINCH", SIGWINCH}, {"ALRM", SIGALRM}};
  std::string name = text;
  if (name.rfind("SIG", 0) == 0) name = name.substr(3);
  for (auto [n, v] : kSignals) {
    if (name == n) return v;
  }
  for (auto [n, v] : kSignals) {
    if (text == std::to_string(v)) return v;
  }
  return make_error("invalid_field",
                    "unknown signal '" + text +
                        "'; use one of HUP INT QUIT KILL USR1 USR2 TERM CONT STOP TSTP WINCH ALRM",
                    "signal");
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int v = value(c);
    if (v < 0) return make_error("invalid_base64", "stdin_base64 is not valid base64");
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace paddock::api
