#include "paddock/config/loader.hpp"

#include <unistd.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "paddock/util/hostport.hpp"
#include "paddock/util/strings.hpp"
#include "schema.hpp"

extern char** environ;  // NOLINT

namespace paddock::config {

using detail::KeySpec;
using detail::Type;
using detail::Value;

std::string SourcePos::to_string() const {
  if (file.empty()) return {};
  if (line == 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string Diagnostic::to_string() const {
  const std::string at = where.to_string();
  return at.empty() ? message : at + ": " + message;
}

std::vector<std::string> known_keys() {
  std::vector<std::string> keys;
  for (const auto& spec : detail::schema()) keys.push_back(spec.full());
  return keys;
}

namespace {

const KeySpec* find_spec(const std::string& section, const std::string& key) {
  for (const auto& spec : detail::schema()) {
    if (spec.section == section && spec.key == key) return &spec;
  }
  return nullptr;
}

std::vector<std::string> section_names() {
  std::vector<std::string> out;
  for (const auto& spec : detail::schema()) {
    if (std::find(out.begin(), out.end(), spec.section) == out.end()) out.push_back(spec.section);
  }
  return out;
}

std::vector<std::string> keys_of(const std::string& section) {
  std::vector<std::string> out;
  for (const auto& spec : detail::schema()) {
    if (spec.section == section) out.push_back(spec.key);
  }
  return out;
}

SourcePos pos_of(const toml::source_region& src, const std::string& file) {
  return SourcePos{file, src.begin.line, src.begin.column};
}

std::string suggestion(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string best = util::closest_match(word, candidates);
  return best.empty() ? std::string{} : "; did you mean '" + best + "'?";
}

std::optional<std::int64_t> parse_mode_string(const std::string& s) {
  if (s.empty() || s.size() > 4) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '7') return std::nullopt;
    v = v * 8 + (c - '0');
  }
  return v;
}

// Converts a TOML node to the spec's type; returns an error message on mismatch.
std::variant<Value, std::string> convert(const KeySpec& spec, const toml::node& node) {
  const std::string want =
      std::string("'") + spec.full() + "' must be " + detail::type_name(spec.type);
  switch (spec.type) {
    case Type::String:
      if (auto v = node.value<std::string>(); v && node.is_string()) return Value{*v};
      return want;
    case Type::Boolean:
      if (node.is_boolean()) return Value{*node.value<bool>()};
      return want;
    case Type::Float:
      if (node.is_floating_point() || node.is_integer()) return Value{*node.value<double>()};
      return want;
    case Type::Integer:
    case Type::FileMode: {
      std::int64_t v = 0;
      if (node.is_integer()) {
        v = *node.value<std::int64_t>();
      } else if (spec.type == Type::FileMode && node.is_string()) {
        auto m = parse_mode_string(*node.value<std::string>());
        if (!m) return want;
        v = *m;
      } else {
        return want;
      }
      if (v < spec.min || v > spec.max) {
        return "'" + spec.full() + "' = " + std::to_string(v) + " is out of range (" +
               std::to_string(spec.min) + ".." + std::to_string(spec.max) + ")";
      }
      return Value{v};
    }
    case Type::CountMap: {
      const auto* tbl = node.as_table();
      if (tbl == nullptr) return want;
      detail::CountMap out;
      for (auto&& [k, v] : *tbl) {
        const std::string name(k.str());
        if (!v.is_integer()) {
          return "'" + spec.full() + "." + name + "' must be an integer";
        }
        const auto n = *v.value<std::int64_t>();
        if (n < spec.min || n > spec.max) {
          return "'" + spec.full() + "." + name + "' = " + std::to_string(n) +
                 " is out of range (" + std::to_string(spec.min) + ".." + std::to_string(spec.max) +
                 ")";
        }
        out[name] = n;
      }
      return Value{std::move(out)};
    }
    case Type::StringArray: {
      const auto* arr = node.as_array();
      if (arr == nullptr) return want;
      std::vector<std::string> out;
      for (const auto& el : *arr) {
        if (!el.is_string()) return want;
        out.push_back(*el.value<std::string>());
      }
      return Value{std::move(out)};
    }
  }
  return want;
}

// Converts an environment string to the spec's type.
std::variant<Value, std::string> convert_env(const KeySpec& spec, const std::string& text) {
  const std::string want = "must be " + std::string(detail::type_name(spec.type));
  switch (spec.type) {
    case Type::String:
      return Value{text};
    case Type::StringArray:
      return Value{util::split_trimmed(text, ',')};
    case Type::CountMap: {
      detail::CountMap out;
      for (const auto& item : util::split_trimmed(text, ',')) {
        const auto eq = item.find('=');
        std::int64_t n = 0;
        const char* end = item.data() + item.size();
        if (eq == std::string::npos || eq == 0 ||
            std::from_chars(item.data() + eq + 1, end, n).ptr != end) {
          return want + " (name=count,...); '" + item + "' is not name=count";
        }
        if (n < spec.min || n > spec.max) {
          return "'" + item + "' is out of range (" + std::to_string(spec.min) + ".." +
                 std::to_string(spec.max) + ")";
        }
        out[item.substr(0, eq)] = n;
      }
      return Value{std::move(out)};
    }
    case Type::Boolean: {
      std::string t = text;
      std::transform(t.begin(), t.end(), t.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      if (t == "true" || t == "1" || t == "yes" || t == "on") return Value{true};
      if (t == "false" || t == "0" || t == "no" || t == "off") return Value{false};
      return want;
    }
    case Type::Float: {
      try {
        std::size_t used = 0;
        const double d = std::stod(text, &used);
        if (used != text.size()) return want;
        return Value{d};
      } catch (const std::exception&) {
        return want;
      }
    }
    case Type::Integer:
    case Type::FileMode: {
      std::int64_t v = 0;
      if (spec.type == Type::FileMode) {
        auto m = parse_mode_string(text);
        if (!m) return want;
        v = *m;
      } else {
        const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc{} || ptr != text.data() + text.size()) return want;
      }
      if (v < spec.min || v > spec.max) {
        return "= " + std::to_string(v) + " is out of range (" + std::to_string(spec.min) + ".." +
               std::to_string(spec.max) + ")";
      }
      return Value{v};
    }
  }
  return want;
}

std::string env_name(const KeySpec& spec) {
  std::string name = "PADDOCK_" + spec.section + "_" + spec.key;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return name;
}

// "relative/x" in /etc/paddock/paddock.toml means /etc/paddock/relative/x; "" stays "".
void resolve_paths(Value& value, const std::string& file) {
  const auto slash = file.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string(".") : file.substr(0, slash);
  auto fix = [&](std::string& p) {
    if (p.empty() || p[0] == '/') return;
    std::string base = dir;
    if (base.empty() || base[0] != '/') {
      char cwd[4096];
      if (::getcwd(cwd, sizeof cwd) != nullptr) base = std::string(cwd) + "/" + base;
    }
    std::string joined = base + "/" + p;
    // Lexically drop "./" and "x/../" so messages and mounts show clean paths.
    std::vector<std::string> parts;
    for (const auto& part : util::split_trimmed(joined, '/')) {
      if (part == ".") continue;
      if (part == ".." && !parts.empty()) {
        parts.pop_back();
        continue;
      }
      parts.push_back(part);
    }
    p.clear();
    for (const auto& part : parts) p += "/" + part;
    if (p.empty()) p = "/";
  };
  if (auto* s = std::get_if<std::string>(&value)) fix(*s);
  if (auto* v = std::get_if<std::vector<std::string>>(&value)) {
    for (auto& s : *v) fix(s);
  }
}

void apply_table(const toml::table& root, const std::string& file, Config& cfg,
                 std::vector<Diagnostic>& errors) {
  const auto sections = section_names();
  for (auto&& [skey, snode] : root) {
    const std::string section(skey.str());
    if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
      errors.push_back({pos_of(skey.source(), file), section,
                        "unknown section [" + section + "]" + suggestion(section, sections)});
      continue;
    }
    const auto* table = snode.as_table();
    if (table == nullptr) {
      errors.push_back({pos_of(skey.source(), file), section,
                        "'" + section + "' must be a table: write [" + section + "]"});
      continue;
    }
    for (auto&& [kkey, knode] : *table) {
      const std::string key(kkey.str());
      const KeySpec* spec = find_spec(section, key);
      if (spec == nullptr) {
        errors.push_back(
            {pos_of(kkey.source(), file), section + "." + key,
             "unknown key '" + key + "' in [" + section + "]" + suggestion(key, keys_of(section))});
        continue;
      }
      auto converted = convert(*spec, knode);
      if (auto* msg = std::get_if<std::string>(&converted)) {
        errors.push_back({pos_of(knode.source(), file), spec->full(), *msg});
        continue;
      }
      Value value = std::get<Value>(std::move(converted));
      if (spec->is_path) resolve_paths(value, file);
      spec->set(cfg, value);
      cfg.origins[spec->full()] = pos_of(knode.source(), file);
    }
  }
}

void apply_env(const Environment& env, Config& cfg, std::vector<Diagnostic>& errors) {
  std::vector<std::string> names;
  for (const auto& spec : detail::schema()) names.push_back(env_name(spec));
  for (const auto& spec : detail::schema()) {
    const std::string name = env_name(spec);
    auto it = env.find(name);
    if (it == env.end()) continue;
    SourcePos where{"env " + name, 0, 0};
    auto converted = convert_env(spec, it->second);
    if (auto* msg = std::get_if<std::string>(&converted)) {
      errors.push_back({where, spec.full(), name + " " + *msg});
      continue;
    }
    spec.set(cfg, std::get<Value>(converted));
    cfg.origins[spec.full()] = where;
  }
  // A PADDOCK_<SECTION>_* variable that matches no key is almost always a typo.
  for (const auto& [name, value] : env) {
    (void)value;
    for (const auto& section : section_names()) {
      std::string prefix = "PADDOCK_" + section + "_";
      std::transform(prefix.begin(), prefix.end(), prefix.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      if (util::starts_with(name, prefix) &&
          std::find(names.begin(), names.end(), name) == names.end()) {
        errors.push_back(
            {SourcePos{"env " + name, 0, 0},
             {},
             "environment variable " + name + " matches no config key" + suggestion(name, names)});
      }
    }
  }
}

}  // namespace

Environment current_environment() {
  Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos || !util::starts_with(entry, "PADDOCK_")) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

std::vector<HostFacts::Account> parse_passwd(const std::string& text) {
  std::vector<HostFacts::Account> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (int i = 0; i < 3; ++i) {
      const auto colon = line.find(':', start);
      if (colon == std::string::npos) break;
      fields.push_back(line.substr(start, colon - start));
      start = colon + 1;
    }
    if (fields.size() < 3) continue;
    std::uint32_t uid = 0;
    const auto& u = fields[2];
    const auto [ptr, ec] = std::from_chars(u.data(), u.data() + u.size(), uid);
    if (ec != std::errc{} || ptr != u.data() + u.size()) continue;
    out.push_back({fields[0], uid});
  }
  return out;
}

HostFacts HostFacts::from_system() {
  HostFacts facts;
  std::ifstream in("/etc/passwd");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  facts.accounts = parse_passwd(text);
  facts.check_executables = false;  // validate() asks access(2) directly for the real host
  return facts;
}

namespace {

bool is_executable(const HostFacts& host, const std::string& path) {
  if (!host.check_executables) return ::access(path.c_str(), X_OK) == 0;
  return std::find(host.executables.begin(), host.executables.end(), path) !=
         host.executables.end();
}

}  // namespace

namespace {

/// Why `name` cannot be [server] user ("" when it can): a system account name as useradd and
/// systemd-sysusers accept it, and not root.
std::string daemon_user_problem(const std::string& name) {
  if (name.empty()) {
    return "server.user is empty; name the system user the daemon drops to (default "
           "\"paddock\")";
  }
  bool ok = name.size() <= 32 &&
            (std::isalpha(static_cast<unsigned char>(name[0])) != 0 || name[0] == '_');
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) == 0 && c != '_' && c != '-' && c != '.') ok = false;
  }
  if (!ok) {
    return "server.user '" + name +
           "' is not a valid user name (a letter or _ first, then letters, digits, _ - ., at "
           "most 32 characters)";
  }
  if (name == "root") {
    return "server.user must not be root: the HTTP-facing daemon drops to an unprivileged system "
           "user (default \"paddock\")";
  }
  return {};
}

}  // namespace

/// (uid_t)-1 and (gid_t)-1: "leave unchanged" for setresuid/setresgid.
constexpr std::uint32_t kNoId = 0xffffffffU;

std::vector<Diagnostic> validate(const Config& cfg, const HostFacts& host) {
  std::vector<Diagnostic> out;
  auto where = [&](const std::string& key) {
    auto it = cfg.origins.find(key);
    if (it != cfg.origins.end()) return it->second;
    return SourcePos{cfg.source_file, 0, 0};
  };
  auto err = [&](const std::string& key, std::string msg) {
    out.push_back({where(key), key, std::move(msg)});
  };

  const auto& p = cfg.process;
  if (p.worker_uid_range_start > p.worker_uid_range_end) {
    err("process.worker_uid_range_start",
        "worker_uid_range_start (" + std::to_string(p.worker_uid_range_start) +
            ") is greater than worker_uid_range_end (" + std::to_string(p.worker_uid_range_end) +
            "); swap them or fix the range");
  } else {
    if (p.worker_uid_range_start < 1000) {
      err("process.worker_uid_range_start",
          "worker_uid_range " + std::to_string(p.worker_uid_range_start) + ".." +
              std::to_string(p.worker_uid_range_end) +
              " includes system users (0-999); choose a range above 10000 that no account in "
              "/etc/passwd uses (default 60000-60999)");
    }
    if (p.worker_uid_range_end >= 65534 && p.worker_uid_range_start <= 65534) {
      err("process.worker_uid_range_end",
          "worker_uid_range includes 65534 (nobody); end the range below it");
    }
    for (const auto& acct : host.accounts) {
      if (acct.uid >= p.worker_uid_range_start && acct.uid <= p.worker_uid_range_end &&
          p.worker_uid_range_start >= 1000) {
        err("process.worker_uid_range_start",
            "worker_uid_range " + std::to_string(p.worker_uid_range_start) + ".." +
                std::to_string(p.worker_uid_range_end) + " includes the account '" + acct.name +
                "' (uid " + std::to_string(acct.uid) +
                ") from /etc/passwd; workers would share its files: choose a range no account "
                "uses");
      }
    }
  }
  if (p.worker_gid == 0) {
    err("process.worker_gid",
        "worker_gid 0 is root's group; use an unprivileged group such as 65534 (nogroup)");
  }
  if (p.worker_gid == kNoId) {
    err("process.worker_gid",
        "worker_gid 4294967295 is (gid_t)-1, which setresgid reads as \"leave unchanged\" (the "
        "worker would keep the daemon's group); use an unprivileged group such as 65534 "
        "(nogroup)");
  }
  if (p.worker_uid_range_end == kNoId && p.worker_uid_range_start <= p.worker_uid_range_end) {
    err("process.worker_uid_range_end",
        "worker_uid_range includes 4294967295, which is (uid_t)-1: setresuid reads it as "
        "\"leave unchanged\"; end the range below it");
  }
  auto check_port = [&](const std::string& key, std::uint32_t port) {
    if (port < 1024 || port > 65535) {
      err(key, key.substr(key.find('.') + 1) + " = " + std::to_string(port) +
                   " is outside 1024-65535; workers cannot bind privileged ports");
    }
  };
  check_port("process.port_range_start", p.port_range_start);
  check_port("process.port_range_end", p.port_range_end);
  if (p.port_range_start > p.port_range_end) {
    err("process.port_range_start", "port_range_start (" + std::to_string(p.port_range_start) +
                                        ") is greater than port_range_end (" +
                                        std::to_string(p.port_range_end) + ")");
  }
  if (p.bwrap_path.empty() || p.bwrap_path[0] != '/') {
    err("process.bwrap_path", "bwrap_path must be an absolute path (usually /usr/bin/bwrap)");
  } else if (!is_executable(host, p.bwrap_path)) {
    err("process.bwrap_path", "bwrap_path " + p.bwrap_path +
                                  " is missing or not executable; install it with "
                                  "'apt-get install bubblewrap' or set the right path");
  }
  auto check_abs = [&](const std::string& key, const std::string& path, bool allow_empty) {
    if (path.empty() && allow_empty) return;
    if (path.empty() || path[0] != '/')
      err(key, key + " must be an absolute path, got '" + path + "'");
  };
  check_abs("process.seccomp_profile", p.seccomp_profile, false);
  check_abs("process.sandbox_profiles_dir", p.sandbox_profiles_dir, false);
  check_abs("process.state_dir", p.state_dir, false);
  check_abs("process.data_root", p.data_root, false);
  check_abs("bundles.dir", cfg.bundles.dir, false);
  check_abs("server.socket", cfg.server.socket, true);
  check_abs("server.token_file", cfg.server.token_file, false);
  check_abs("log.audit_log", cfg.log.audit_log, true);
  check_abs("log.worker_log_dir", cfg.log.worker_log_dir, true);
  check_abs("preflight.probe_path", cfg.preflight.probe_path, true);
  if (p.bundle_roots.empty()) {
    err("process.bundle_roots", "bundle_roots is empty; list at least one directory");
  }
  for (const auto& root : p.bundle_roots) {
    if (root.empty() || root[0] != '/' || root == "/") {
      err("process.bundle_roots",
          "bundle_roots entry '" + root + "' must be an absolute directory other than /");
    }
  }
  if (p.cgroup != "auto" && p.cgroup != "off") {
    err("process.cgroup", "process.cgroup '" + p.cgroup + "' must be \"auto\" or \"off\"");
  }
  for (const auto& [key, value] :
       {std::pair<const char*, const std::string&>{"process.default_network", p.default_network},
        {"runs.default_network", cfg.runs.default_network}}) {
    if (value != "private" && value != "none" && value != "host") {
      err(key, std::string(key) + " '" + value + "' must be \"private\", \"none\" or \"host\"");
    } else if (value == "host" && !p.allow_host_network) {
      err(key, std::string(key) +
                   " is \"host\" but allow_host_network is false; set allow_host_network = true "
                   "to let workers use the host's network, or choose \"private\" or \"none\"");
    }
  }
  check_abs("process.slirp4netns_path", p.slirp4netns_path, false);
  if (p.default_profile.empty() || p.default_profile.find('/') != std::string::npos) {
    err("process.default_profile", "default_profile must be a profile name such as 'shell'");
  }

  std::uint64_t warm_total = 0;
  for (const auto& [name, n] : cfg.pool.warm) {
    if (name.empty() || name.find('/') != std::string::npos || name.front() == '.') {
      err("pool.warm", "pool.warm: '" + name + "' is not a profile name such as 'shell'");
    }
    warm_total += n;
  }
  if (p.worker_uid_range_end >= p.worker_uid_range_start &&
      warm_total * 2 > std::uint64_t{p.worker_uid_range_end} - p.worker_uid_range_start + 1) {
    err("pool.warm", "pool.warm parks " + std::to_string(warm_total) +
                         " sandboxes, each holding a worker UID; that is more than half of "
                         "[process] worker_uid_range: lower the counts or widen the range");
  }
  check_abs("pool.helper_path", cfg.pool.helper_path, true);

  if (auto msg = daemon_user_problem(cfg.server.user); !msg.empty()) err("server.user", msg);
  if (cfg.server.listen.empty() && cfg.server.socket.empty()) {
    err("server.listen", "neither server.listen nor server.socket is set; nothing would be served");
  }
  for (const auto& l : cfg.server.listen) {
    auto hp = util::parse_host_port(l);
    if (!hp) err("server.listen", "server.listen: " + hp.error().message);
  }

  const auto& f = cfg.preflight;
  if (!f.skip_metadata_check) {
    auto hp = util::parse_host_port(f.metadata_endpoint);
    if (!hp)
      err("preflight.metadata_endpoint", "preflight.metadata_endpoint: " + hp.error().message);
  }
  for (const auto& [key, value] : {std::pair{"preflight.vault_addr", f.vault_addr},
                                   std::pair{"preflight.database_addr", f.database_addr}}) {
    if (value.empty()) continue;
    auto hp = util::parse_host_port(value);
    if (!hp) err(key, std::string(key) + ": " + hp.error().message);
  }
  for (const auto& url : f.redis_urls) {
    if (!util::starts_with(url, "redis://") && !util::starts_with(url, "rediss://")) {
      err("preflight.redis_urls",
          "redis_urls entry '" + url + "' must start with redis:// or rediss://");
    }
  }

  const auto& lg = cfg.log;
  static const std::vector<std::string> levels{"trace", "debug",    "info", "warn",
                                               "error", "critical", "off"};
  if (std::find(levels.begin(), levels.end(), lg.level) == levels.end()) {
    err("log.level", "log.level '" + lg.level +
                         "' is not one of trace, debug, info, warn, error, critical, off" +
                         suggestion(lg.level, levels));
  }
  if (lg.format != "auto" && lg.format != "text" && lg.format != "json") {
    err("log.format", "log.format '" + lg.format + "' must be \"text\", \"json\" or \"auto\"");
  }
  if (cfg.limits.cpus <= 0.0 || cfg.limits.cpus > 1024.0) {
    err("limits.cpus", "limits.cpus must be greater than 0 (e.g. 0.5 or 2)");
  }
  return out;
}

LoadResult load_from_string(const std::string& toml_text, const std::string& file_name,
                            const Environment& env, const HostFacts& host) {
  LoadResult result;
  Config cfg;
  cfg.source_file = file_name;
  try {
    const toml::table root = toml::parse(toml_text, file_name);
    apply_table(root, file_name, cfg, result.errors);
  } catch (const toml::parse_error& e) {
    result.errors.push_back({pos_of(e.source(), file_name),
                             {},
                             std::string("TOML syntax error: ") + std::string(e.description())});
    return result;
  }
  apply_env(env, cfg, result.errors);
  if (!result.errors.empty()) return result;
  result.errors = validate(cfg, host);
  if (result.errors.empty()) result.config = std::move(cfg);
  return result;
}

LoadResult load_file(const std::string& path, const Environment& env, const HostFacts& host) {
  std::ifstream in(path);
  if (!in) {
    LoadResult result;
    const int e = errno;
    result.errors.push_back({SourcePos{path, 0, 0},
                             {},
                             std::string("cannot read config file: ") + std::strerror(e) +
                                 "; create it (config/paddock.toml documents every key) or "
                                 "pass --config PATH"});
    return result;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return load_from_string(text, path, env, host);
}

}  // namespace paddock::config
