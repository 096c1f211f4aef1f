#include "paddock/seccomp/profile.hpp"

#include <seccomp.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "paddock/util/strings.hpp"

namespace paddock::seccomp {

namespace {

using nlohmann::json;

/// errno values the kernel accepts in SECCOMP_RET_ERRNO (MAX_ERRNO).
constexpr std::uint64_t kMaxErrno = 4095;

struct NamedAction {
  const char* name;
  ActionKind kind;
};
constexpr NamedAction kActions[] = {
    {"SCMP_ACT_ALLOW", ActionKind::Allow},
    {"SCMP_ACT_ERRNO", ActionKind::Errno},
    {"SCMP_ACT_KILL", ActionKind::KillThread},
    {"SCMP_ACT_KILL_THREAD", ActionKind::KillThread},
    {"SCMP_ACT_KILL_PROCESS", ActionKind::KillProcess},
    {"SCMP_ACT_TRAP", ActionKind::Trap},
    {"SCMP_ACT_TRACE", ActionKind::Trace},
    {"SCMP_ACT_LOG", ActionKind::Log},
};

struct NamedOp {
  const char* name;
  Op op;
};
constexpr NamedOp kOps[] = {
    {"SCMP_CMP_NE", Op::NotEqual},           {"SCMP_CMP_LT", Op::LessThan},
    {"SCMP_CMP_LE", Op::LessEqual},          {"SCMP_CMP_EQ", Op::Equal},
    {"SCMP_CMP_GE", Op::GreaterEqual},       {"SCMP_CMP_GT", Op::GreaterThan},
    {"SCMP_CMP_MASKED_EQ", Op::MaskedEqual},
};

/// Go architecture names Docker uses in includes/excludes.arches.
const std::vector<std::string>& go_arches() {
  static const std::vector<std::string> v{
      "386",    "amd64",    "x32",       "arm",         "arm64",   "mips",   "mipsle",
      "mips64", "mips64le", "mips64n32", "mips64len32", "ppc",     "ppc64",  "ppc64le",
      "s390",   "s390x",    "parisc",    "parisc64",    "riscv64", "loong64"};
  return v;
}

Error fail(const std::string& path, const std::string& what) {
  return make_error("invalid_profile", path + ": " + what, path);
}

std::string type_of(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a number with a fraction";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "an unsupported value";
  }
}

Error wrong_type(const std::string& path, const json& j, const char* expected) {
  return fail(path, std::string("expected ") + expected + ", got " + type_of(j));
}

std::string join_names(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

/// Rejects keys not in `allowed`, suggesting the closest known one.
Result<void> check_keys(const json& obj, const std::string& path,
                        const std::vector<std::string>& allowed) {
  for (const auto& [key, value] : obj.items()) {
    (void)value;
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    const std::string p = path.empty() ? key : path + "." + key;
    std::string msg = "unknown key '" + key + "'";
    const auto near = util::closest_match(key, allowed);
    if (!near.empty())
      msg += " (did you mean '" + near + "'?)";
    else
      msg += " (known keys: " + join_names(allowed) + ")";
    return fail(p, msg);
  }
  return {};
}

Result<std::string> get_string(const json& j, const std::string& path) {
  if (!j.is_string()) return wrong_type(path, j, "a string");
  return j.get<std::string>();
}

Result<std::uint64_t> get_u64(const json& j, const std::string& path) {
  if (j.is_number_unsigned()) return j.get<std::uint64_t>();
  if (j.is_number_integer()) {
    const auto v = j.get<std::int64_t>();
    if (v < 0) return fail(path, "expected a non-negative integer, got " + std::to_string(v));
    return static_cast<std::uint64_t>(v);
  }
  return wrong_type(path, j, "a non-negative integer");
}

Result<std::uint32_t> get_errno(const json& j, const std::string& path) {
  auto v = get_u64(j, path);
  if (!v) return v.error();
  if (*v > kMaxErrno) {
    return fail(path, std::to_string(*v) + " is out of range (an errno is 0.." +
                          std::to_string(kMaxErrno) + ")");
  }
  return static_cast<std::uint32_t>(*v);
}

Result<std::vector<std::string>> get_string_array(const json& j, const std::string& path) {
  if (!j.is_array()) return wrong_type(path, j, "an array of strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    auto s = get_string(j[i], path + "[" + std::to_string(i) + "]");
    if (!s) return s.error();
    out.push_back(std::move(*s));
  }
  return out;
}

Result<ActionKind> parse_action_name(const json& j, const std::string& path) {
  auto s = get_string(j, path);
  if (!s) return s.error();
  for (const auto& a : kActions) {
    if (*s == a.name) return a.kind;
  }
  if (*s == "SCMP_ACT_NOTIFY") {
    return fail(path, "SCMP_ACT_NOTIFY is not supported (a bwrap sandbox has no seccomp listener)");
  }
  std::vector<std::string> names;
  for (const auto& a : kActions) names.emplace_back(a.name);
  return fail(path, "unknown action '" + *s + "' (expected one of " + join_names(names) + ")");
}

Result<Op> parse_op(const json& j, const std::string& path) {
  auto s = get_string(j, path);
  if (!s) return s.error();
  for (const auto& o : kOps) {
    if (*s == o.name) return o.op;
  }
  std::vector<std::string> names;
  for (const auto& o : kOps) names.emplace_back(o.name);
  return fail(path, "unknown op '" + *s + "' (expected one of " + join_names(names) + ")");
}

/// "SCMP_ARCH_X86_64" -> "x86_64", checked against libseccomp's list.
Result<std::string> parse_arch(const json& j, const std::string& path) {
  auto s = get_string(j, path);
  if (!s) return s.error();
  const std::string prefix = "SCMP_ARCH_";
  if (!util::starts_with(*s, prefix) || s->size() == prefix.size()) {
    return fail(path, "unknown architecture '" + *s + "' (expected a name like SCMP_ARCH_X86_64)");
  }
  std::string name = s->substr(prefix.size());
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (seccomp_arch_resolve_name(name.c_str()) == 0) {
    return fail(path, "unknown architecture '" + *s + "'");
  }
  return name;
}

Result<RuleFilter> parse_filter(const json& j, const std::string& path) {
  if (!j.is_object()) return wrong_type(path, j, "an object");
  if (auto r = check_keys(j, path, {"caps", "arches", "minKernel"}); !r) return r.error();
  RuleFilter f;
  if (j.contains("caps")) {
    auto v = get_string_array(j["caps"], path + ".caps");
    if (!v) return v.error();
    for (std::size_t i = 0; i < v->size(); ++i) {
      if (!util::starts_with((*v)[i], "CAP_")) {
        return fail(path + ".caps[" + std::to_string(i) + "]",
                    "'" + (*v)[i] + "' is not a capability name (expected CAP_...)");
      }
    }
    f.caps = std::move(*v);
  }
  if (j.contains("arches")) {
    auto v = get_string_array(j["arches"], path + ".arches");
    if (!v) return v.error();
    for (std::size_t i = 0; i < v->size(); ++i) {
      const auto& a = (*v)[i];
      if (std::find(go_arches().begin(), go_arches().end(), a) == go_arches().end()) {
        return fail(
            path + ".arches[" + std::to_string(i) + "]",
            "unknown architecture '" + a + "' (expected one of " + join_names(go_arches()) + ")");
      }
    }
    f.arches = std::move(*v);
  }
  if (j.contains("minKernel")) {
    auto s = get_string(j["minKernel"], path + ".minKernel");
    if (!s) return s.error();
    unsigned major = 0;
    unsigned minor = 0;
    char tail = 0;
    if (std::sscanf(s->c_str(), "%u.%u%c", &major, &minor, &tail) != 2) {
      return fail(path + ".minKernel",
                  "'" + *s + "' is not a kernel version (expected MAJOR.MINOR, e.g. \"5.8\")");
    }
    f.min_kernel = *s;
  }
  return f;
}

Result<ArgCondition> parse_arg(const json& j, const std::string& path) {
  if (!j.is_object()) return wrong_type(path, j, "an object");
  if (auto r = check_keys(j, path, {"index", "value", "valueTwo", "op"}); !r) return r.error();
  for (const char* k : {"index", "value", "op"}) {
    if (!j.contains(k)) return fail(path, std::string("missing '") + k + "'");
  }
  ArgCondition a;
  auto idx = get_u64(j["index"], path + ".index");
  if (!idx) return idx.error();
  if (*idx > 5) {
    return fail(path + ".index", std::to_string(*idx) + " is out of range (arguments are 0..5)");
  }
  a.index = static_cast<unsigned>(*idx);
  auto value = get_u64(j["value"], path + ".value");
  if (!value) return value.error();
  a.value = *value;
  if (j.contains("valueTwo")) {
    auto v2 = get_u64(j["valueTwo"], path + ".valueTwo");
    if (!v2) return v2.error();
    a.value_two = *v2;
  }
  auto op = parse_op(j["op"], path + ".op");
  if (!op) return op.error();
  a.op = *op;
  if (a.op == Op::MaskedEqual && (a.value_two & ~a.value) != 0) {
    return fail(path,
                "SCMP_CMP_MASKED_EQ: valueTwo has bits outside the mask in value, so the "
                "comparison can never match");
  }
  return a;
}

Result<SyscallRule> parse_rule(const json& j, const std::string& path) {
  if (!j.is_object()) return wrong_type(path, j, "an object");
  if (auto r = check_keys(
          j, path,
          {"names", "name", "action", "errnoRet", "args", "comment", "includes", "excludes"});
      !r) {
    return r.error();
  }
  SyscallRule rule;
  rule.path = path;
  if (j.contains("names")) {
    auto v = get_string_array(j["names"], path + ".names");
    if (!v) return v.error();
    rule.names = std::move(*v);
  }
  if (j.contains("name")) {
    auto s = get_string(j["name"], path + ".name");
    if (!s) return s.error();
    rule.names.push_back(std::move(*s));
  }
  if (!j.contains("names") && !j.contains("name")) return fail(path, "missing 'names'");
  if (rule.names.empty()) return fail(path + ".names", "empty list of system calls");
  for (std::size_t i = 0; i < rule.names.size(); ++i) {
    if (rule.names[i].empty()) {
      return fail(path + ".names[" + std::to_string(i) + "]", "empty system call name");
    }
  }
  if (!j.contains("action")) return fail(path, "missing 'action'");
  auto kind = parse_action_name(j["action"], path + ".action");
  if (!kind) return kind.error();
  rule.action.kind = *kind;
  if (j.contains("errnoRet")) {
    auto e = get_errno(j["errnoRet"], path + ".errnoRet");
    if (!e) return e.error();
    rule.action.ret = *e;
  }
  if (j.contains("args")) {
    const auto& args = j["args"];
    if (args.is_null()) {
      // Docker writes "args": null for rules without conditions.
    } else if (!args.is_array()) {
      return wrong_type(path + ".args", args, "an array");
    } else {
      for (std::size_t i = 0; i < args.size(); ++i) {
        auto a = parse_arg(args[i], path + ".args[" + std::to_string(i) + "]");
        if (!a) return a.error();
        rule.args.push_back(*a);
      }
    }
  }
  for (const char* k : {"includes", "excludes"}) {
    if (!j.contains(k)) continue;
    auto f = parse_filter(j[k], path + "." + k);
    if (!f) return f.error();
    (std::string(k) == "includes" ? rule.includes : rule.excludes) = std::move(*f);
  }
  if (j.contains("comment") && !j["comment"].is_string()) {
    return wrong_type(path + ".comment", j["comment"], "a string");
  }
  return rule;
}

Result<void> parse_extension(const json& j, Profile& p) {
  const std::string path = "paddock";
  if (!j.is_object()) return wrong_type(path, j, "an object");
  if (auto r = check_keys(j, path,
                          {"badArchAction", "badArchErrnoRet", "filterNonNativeArches",
                           "unknownSyscallErrnoRet", "comment"});
      !r) {
    return r;
  }
  if (j.contains("badArchAction")) {
    auto k = parse_action_name(j["badArchAction"], path + ".badArchAction");
    if (!k) return k.error();
    if (*k == ActionKind::Allow || *k == ActionKind::Log || *k == ActionKind::Trace) {
      return fail(path + ".badArchAction",
                  action_name(*k) +
                      " would let non-native system calls run unfiltered; use "
                      "\"filterNonNativeArches\": true to filter them instead");
    }
    p.arch_policy.bad_arch_action.kind = *k;
  }
  if (j.contains("badArchErrnoRet")) {
    auto e = get_errno(j["badArchErrnoRet"], path + ".badArchErrnoRet");
    if (!e) return e.error();
    if (p.arch_policy.bad_arch_action.kind != ActionKind::Errno) {
      return fail(path + ".badArchErrnoRet", "only meaningful with badArchAction SCMP_ACT_ERRNO");
    }
    p.arch_policy.bad_arch_action.ret = *e;
  }
  if (j.contains("filterNonNativeArches")) {
    const auto& f = j["filterNonNativeArches"];
    if (!f.is_boolean()) return wrong_type(path + ".filterNonNativeArches", f, "a boolean");
    p.arch_policy.filter_non_native = f.get<bool>();
  }
  if (j.contains("unknownSyscallErrnoRet")) {
    auto e = get_errno(j["unknownSyscallErrnoRet"], path + ".unknownSyscallErrnoRet");
    if (!e) return e.error();
    if (*e == 0) {
      return fail(path + ".unknownSyscallErrnoRet",
                  "errno 0 would make unknown system calls report success; use 38 (ENOSYS)");
    }
    p.unknown_syscall_errno = *e;
  }
  return {};
}

std::string position_of(std::string_view text, std::size_t byte) {
  std::size_t line = 1;
  std::size_t col = 1;
  for (std::size_t i = 0; i < text.size() && i + 1 < byte; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

}  // namespace

std::string action_name(ActionKind kind) {
  for (const auto& a : kActions) {
    if (a.kind == kind && std::string_view(a.name) != "SCMP_ACT_KILL") return a.name;
  }
  return "?";
}

std::string op_name(Op op) {
  for (const auto& o : kOps) {
    if (o.op == op) return o.name;
  }
  return "?";
}

Result<Profile> parse_profile(std::string_view json_text) {
  json root;
  try {
    root = json::parse(json_text.begin(), json_text.end());
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    // nlohmann's message: "[json.exception.parse_error.101] parse error at line 1, ...: detail"
    const auto colon = what.rfind(": ");
    const std::string detail = colon == std::string::npos ? what : what.substr(colon + 2);
    return make_error("invalid_profile",
                      "invalid JSON at " + position_of(json_text, e.byte) + ": " + detail, "");
  } catch (const json::exception& e) {
    // out_of_range 406: a number too large for a double (e.g. 7e020000); no byte offset.
    std::string what = e.what();
    const auto close = what.find("] ");
    return make_error(
        "invalid_profile",
        "invalid JSON: " + (close == std::string::npos ? what : what.substr(close + 2)), "");
  }
  if (!root.is_object()) return wrong_type("(top level)", root, "an object");
  if (auto r =
          check_keys(root, "",
                     {"defaultAction", "defaultErrnoRet", "architectures", "archMap", "syscalls",
                      "flags", "comment", "paddock", "listenerPath", "listenerMetadata"});
      !r) {
    return r.error();
  }
  Profile p;
  if (!root.contains("defaultAction")) {
    return fail("defaultAction", "missing (e.g. \"defaultAction\": \"SCMP_ACT_ERRNO\")");
  }
  auto def = parse_action_name(root["defaultAction"], "defaultAction");
  if (!def) return def.error();
  p.default_action.kind = *def;
  if (root.contains("defaultErrnoRet")) {
    auto e = get_errno(root["defaultErrnoRet"], "defaultErrnoRet");
    if (!e) return e.error();
    p.default_action.ret = *e;
  }
  if (root.contains("architectures") && !root["architectures"].is_null()) {
    const auto& a = root["architectures"];
    if (!a.is_array()) return wrong_type("architectures", a, "an array of SCMP_ARCH_* names");
    for (std::size_t i = 0; i < a.size(); ++i) {
      auto name = parse_arch(a[i], "architectures[" + std::to_string(i) + "]");
      if (!name) return name.error();
      p.architectures.push_back(*name);
    }
  }
  if (root.contains("archMap") && !root["archMap"].is_null()) {
    const auto& m = root["archMap"];
    if (!m.is_array()) return wrong_type("archMap", m, "an array");
    for (std::size_t i = 0; i < m.size(); ++i) {
      const std::string path = "archMap[" + std::to_string(i) + "]";
      const auto& e = m[i];
      if (!e.is_object()) return wrong_type(path, e, "an object");
      if (auto r = check_keys(e, path, {"architecture", "subArchitectures"}); !r) return r.error();
      if (!e.contains("architecture")) return fail(path, "missing 'architecture'");
      auto main = parse_arch(e["architecture"], path + ".architecture");
      if (!main) return main.error();
      std::vector<std::string> subs;
      if (e.contains("subArchitectures") && !e["subArchitectures"].is_null()) {
        const auto& s = e["subArchitectures"];
        if (!s.is_array()) return wrong_type(path + ".subArchitectures", s, "an array");
        for (std::size_t k = 0; k < s.size(); ++k) {
          auto sub = parse_arch(s[k], path + ".subArchitectures[" + std::to_string(k) + "]");
          if (!sub) return sub.error();
          subs.push_back(*sub);
        }
      }
      p.arch_map.emplace_back(*main, std::move(subs));
    }
  }
  if (root.contains("syscalls") && !root["syscalls"].is_null()) {
    const auto& s = root["syscalls"];
    if (!s.is_array()) return wrong_type("syscalls", s, "an array");
    for (std::size_t i = 0; i < s.size(); ++i) {
      auto rule = parse_rule(s[i], "syscalls[" + std::to_string(i) + "]");
      if (!rule) return rule.error();
      p.syscalls.push_back(std::move(*rule));
    }
  }
  if (root.contains("flags")) {
    auto f = get_string_array(root["flags"], "flags");
    if (!f) return f.error();
    if (!f->empty()) {
      p.warnings.push_back("flags: ignored (bwrap installs the filter with its own flags)");
    }
  }
  for (const char* k : {"listenerPath", "listenerMetadata"}) {
    if (root.contains(k)) {
      if (!root[k].is_string()) return wrong_type(k, root[k], "a string");
      if (!root[k].get<std::string>().empty()) {
        p.warnings.push_back(std::string(k) + ": ignored (no seccomp listener in a bwrap sandbox)");
      }
    }
  }
  if (root.contains("comment") && !root["comment"].is_string()) {
    return wrong_type("comment", root["comment"], "a string");
  }
  if (root.contains("paddock")) {
    if (auto r = parse_extension(root["paddock"], p); !r) return r.error();
  }
  return p;
}

Result<Profile> load_profile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error("invalid_profile",
                      "cannot read seccomp profile " + path + ": " + std::strerror(errno), path);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  auto p = parse_profile(ss.str());
  if (!p) {
    Error e = p.error();
    e.message = path + ": " + e.message;
    return e;
  }
  return p;
}

}  // namespace paddock::seccomp
