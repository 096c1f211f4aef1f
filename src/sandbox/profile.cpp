#include "paddock/sandbox/profile.hpp"

#include <dirent.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "paddock/sandbox/env.hpp"
#include "paddock/sandbox/paths.hpp"
#include "paddock/util/strings.hpp"

namespace paddock::sandbox {

namespace {

const std::vector<std::string>& known_keys() {
  static const std::vector<std::string> keys{
      "description", "ro_paths", "ro_paths_try", "symlinks",     "bundle_mount",
      "data_mount",  "home",     "workdir",      "env",          "env_allow",
      "command",     "passwd",   "hostname",     "rlimit_as_mb", "rlimit_cpu_seconds"};
  return keys;
}

std::string where(const std::string& file, const toml::source_region& src) {
  return file + ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column);
}

Error profile_error(const std::string& file, const toml::source_region& src, const std::string& key,
                    const std::string& message) {
  return make_error("invalid_profile", where(file, src) + ": " + message, key);
}

bool valid_hostname(const std::string& h) {
  if (h.empty() || h.size() > 63 || h.front() == '-' || h.back() == '-') return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
  });
}

class Reader {
 public:
  Reader(const std::string& file, SandboxProfile& out) : file_(file), out_(out) {}

  Result<void> read(const toml::table& root) {
    for (auto&& [k, node] : root) {
      const std::string key(k.str());
      if (std::find(known_keys().begin(), known_keys().end(), key) == known_keys().end()) {
        const std::string best = util::closest_match(key, known_keys());
        return profile_error(file_, k.source(), key,
                             "unknown key '" + key + "' in sandbox profile" +
                                 (best.empty() ? "" : "; did you mean '" + best + "'?"));
      }
      auto r = read_key(key, node);
      if (!r) return r;
    }
    return {};
  }

 private:
  Result<void> read_key(const std::string& key, const toml::node& node) {
    const auto& src = node.source();
    if (key == "description") return str(key, node, out_.description);
    if (key == "hostname") {
      auto r = str(key, node, out_.hostname);
      if (r && !valid_hostname(out_.hostname)) {
        return profile_error(
            file_, src, key,
            "hostname '" + out_.hostname + "' must be 1-63 letters, digits or '-'");
      }
      return r;
    }
    if (key == "ro_paths") return paths(key, node, out_.ro_paths);
    if (key == "ro_paths_try") return paths(key, node, out_.ro_paths_try);
    if (key == "bundle_mount") return mount_point(key, node, out_.bundle_mount, false);
    if (key == "data_mount") return mount_point(key, node, out_.data_mount, true);
    if (key == "home") return mount_point(key, node, out_.home, false);
    if (key == "workdir") return mount_point(key, node, out_.workdir, true);
    if (key == "passwd") {
      if (!node.is_boolean()) return type_error(key, node, "a boolean (true or false)");
      out_.passwd = *node.value<bool>();
      return {};
    }
    if (key == "rlimit_as_mb") return positive(key, node, out_.rlimit_as_mb);
    if (key == "rlimit_cpu_seconds") return positive(key, node, out_.rlimit_cpu_seconds);
    if (key == "env_allow") {
      auto r = strings(key, node, out_.env_allow);
      if (!r) return r;
      for (const auto& name : out_.env_allow) {
        const std::string bare =
            !name.empty() && name.back() == '*' ? name.substr(0, name.size() - 1) : name;
        if (!is_valid_env_name(bare)) {
          return profile_error(file_, src, key,
                               "env_allow entry '" + name +
                                   "' is not a variable name (or a prefix followed by '*')");
        }
      }
      return {};
    }
    if (key == "command") {
      auto r = strings(key, node, out_.command);
      if (r && out_.command.empty()) {
        return profile_error(file_, src, key, "command must not be empty");
      }
      return r;
    }
    if (key == "env") {
      const auto* t = node.as_table();
      if (t == nullptr) return type_error(key, node, "a table of strings");
      for (auto&& [ek, ev] : *t) {
        const std::string name(ek.str());
        if (!is_valid_env_name(name)) {
          return profile_error(file_, ek.source(), key,
                               "'" + name + "' is not a valid environment variable name");
        }
        if (!ev.is_string()) {
          return profile_error(file_, ev.source(), key, "env." + name + " must be a string");
        }
        out_.env[name] = *ev.value<std::string>();
      }
      return {};
    }
    if (key == "symlinks") {
      const auto* t = node.as_table();
      if (t == nullptr) return type_error(key, node, "a table of \"/link\" = \"target\"");
      for (auto&& [lk, lv] : *t) {
        const std::string link(lk.str());
        if (!is_normal_absolute_path(link) || link == "/") {
          return profile_error(file_, lk.source(), key,
                               "symlink '" + link + "' must be a clean absolute path");
        }
        if (!lv.is_string() || lv.value<std::string>()->empty()) {
          return profile_error(file_, lv.source(), key,
                               "the target of symlink '" + link + "' must be a non-empty string");
        }
        out_.symlinks.emplace_back(*lv.value<std::string>(), link);
      }
      return {};
    }
    return {};
  }

  Result<void> type_error(const std::string& key, const toml::node& node, const char* want) {
    return profile_error(file_, node.source(), key, "'" + key + "' must be " + want);
  }

  Result<void> str(const std::string& key, const toml::node& node, std::string& dst) {
    if (!node.is_string()) return type_error(key, node, "a string");
    dst = *node.value<std::string>();
    return {};
  }

  Result<void> strings(const std::string& key, const toml::node& node,
                       std::vector<std::string>& dst) {
    const auto* arr = node.as_array();
    if (arr == nullptr) return type_error(key, node, "an array of strings");
    dst.clear();
    for (const auto& el : *arr) {
      if (!el.is_string()) return type_error(key, el, "an array of strings");
      dst.push_back(*el.value<std::string>());
    }
    return {};
  }

  Result<void> paths(const std::string& key, const toml::node& node,
                     std::vector<std::string>& dst) {
    auto r = strings(key, node, dst);
    if (!r) return r;
    for (const auto& p : dst) {
      if (!is_normal_absolute_path(p)) {
        return profile_error(file_, node.source(), key,
                             "'" + p + "' must be a clean absolute path (no '..', '.', '//')");
      }
      if (p == "/") {
        return profile_error(file_, node.source(), key,
                             "the host root '/' is never mounted; list the directories needed");
      }
    }
    return {};
  }

  Result<void> mount_point(const std::string& key, const toml::node& node, std::string& dst,
                           bool allow_empty) {
    auto r = str(key, node, dst);
    if (!r) return r;
    if (dst.empty() && allow_empty) return {};
    if (!is_normal_absolute_path(dst) || dst == "/") {
      return profile_error(file_, node.source(), key,
                           "'" + dst + "' must be a clean absolute path other than /");
    }
    return {};
  }

  Result<void> positive(const std::string& key, const toml::node& node,
                        std::optional<std::uint64_t>& dst) {
    if (!node.is_integer() || *node.value<std::int64_t>() <= 0) {
      return type_error(key, node, "a positive integer");
    }
    dst = static_cast<std::uint64_t>(*node.value<std::int64_t>());
    return {};
  }

  const std::string& file_;
  SandboxProfile& out_;
};

}  // namespace

Result<SandboxProfile> load_profile_string(const std::string& toml_text, const std::string& name,
                                           const std::string& file_name) {
  SandboxProfile profile;
  profile.name = name;
  profile.source_file = file_name;
  toml::table root;
  try {
    root = toml::parse(toml_text, file_name);
  } catch (const toml::parse_error& e) {
    return make_error("invalid_profile", where(file_name, e.source()) + ": TOML syntax error: " +
                                             std::string(e.description()));
  }
  Reader reader(file_name, profile);
  auto r = reader.read(root);
  if (!r) return r.error();
  if (profile.command.empty()) {
    return make_error("invalid_profile",
                      file_name + ": 'command' is required (the default command of the profile)",
                      "command");
  }
  if (profile.home != "/tmp" && profile.home != profile.data_mount) {
    return make_error("invalid_profile",
                      file_name + ": home '" + profile.home +
                          "' must be \"/tmp\" or the data_mount (the only writable places)",
                      "home");
  }
  for (const auto& reserved : reserved_env_names()) {
    if (profile.env.count(reserved) != 0 || env_allowed(reserved, profile.env_allow)) {
      return make_error(
          "invalid_profile",
          file_name + ": " + reserved + " is set by the daemon; remove it from env and env_allow",
          "env");
    }
  }
  return profile;
}

Result<SandboxProfile> load_profile(const std::string& dir, const std::string& name) {
  if (!is_plain_name(name)) {
    return make_error("unknown_profile",
                      "sandbox profile name '" + name + "' must be letters, digits, '_' or '-'",
                      "profile");
  }
  const std::string path = dir + "/" + name + ".toml";
  std::ifstream in(path);
  if (!in) {
    const int err = errno;
    std::string present;
    if (DIR* d = ::opendir(dir.c_str()); d != nullptr) {
      while (const dirent* e = ::readdir(d)) {
        std::string f(e->d_name);
        if (f.size() > 5 && f.substr(f.size() - 5) == ".toml") {
          present += (present.empty() ? "" : ", ") + f.substr(0, f.size() - 5);
        }
      }
      ::closedir(d);
    }
    return make_error("unknown_profile",
                      "sandbox profile '" + name + "' cannot be read from " + path + " (" +
                          std::strerror(err) +
                          "); available: " + (present.empty() ? "(none)" : present),
                      "profile");
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return load_profile_string(text, name, path);
}

Result<std::map<std::string, SandboxProfile>> load_profiles_dir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    const int err = errno;
    return make_error("invalid_profile", "cannot list sandbox profiles in " + dir + ": " +
                                             std::strerror(err) +
                                             "; check [process] sandbox_profiles_dir");
  }
  while (const dirent* e = ::readdir(d)) {
    std::string f(e->d_name);
    if (f.size() > 5 && f.substr(f.size() - 5) == ".toml")
      names.push_back(f.substr(0, f.size() - 5));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  std::map<std::string, SandboxProfile> out;
  for (const auto& n : names) {
    auto p = load_profile(dir, n);
    if (!p) return p.error();
    out.emplace(n, std::move(p.value()));
  }
  return out;
}

}  // namespace paddock::sandbox
