#include "paddock/sandbox/warm.hpp"

#include <charconv>

namespace paddock::sandbox {

namespace {

void put_field(std::string& out, std::string_view s) {
  out.append(s);
  out.push_back('\0');
}

}  // namespace

std::string encode_warm_request(const std::vector<std::string>& command,
                                const std::map<std::string, std::string>& env) {
  std::string payload;
  put_field(payload, std::to_string(command.size()));
  for (const auto& a : command) put_field(payload, a);
  put_field(payload, std::to_string(env.size()));
  for (const auto& [k, v] : env) put_field(payload, k + "=" + v);
  std::string out(kWarmMagic);
  const auto n = static_cast<std::uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xffU));
  return out + payload;
}

Result<WarmRequest> decode_warm_request(std::string_view bytes) {
  auto bad = [](const std::string& why) { return make_error("invalid_request", why); };
  if (bytes.size() < kWarmMagic.size() + 4 || bytes.substr(0, kWarmMagic.size()) != kWarmMagic) {
    return bad("no warm request header");
  }
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) {
    n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[kWarmMagic.size() + i]))
         << (8 * i);
  }
  std::string_view payload = bytes.substr(kWarmMagic.size() + 4);
  if (n > kMaxWarmPayload || payload.size() != n) return bad("wrong payload length");
  auto field = [&payload](std::string_view& out) {
    const auto nul = payload.find('\0');
    if (nul == std::string_view::npos) return false;
    out = payload.substr(0, nul);
    payload.remove_prefix(nul + 1);
    return true;
  };
  auto count = [&](std::size_t& c) {
    std::string_view f;
    if (!field(f)) return false;
    const auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), c);
    return ec == std::errc{} && p == f.data() + f.size();
  };
  WarmRequest r;
  std::size_t argc = 0;
  if (!count(argc) || argc == 0) return bad("no command");
  for (std::size_t i = 0; i < argc; ++i) {
    std::string_view f;
    if (!field(f)) return bad("truncated command");
    r.command.emplace_back(f);
  }
  std::size_t envc = 0;
  if (!count(envc)) return bad("no environment count");
  for (std::size_t i = 0; i < envc; ++i) {
    std::string_view f;
    if (!field(f) || f.find('=') == std::string_view::npos) return bad("bad environment entry");
    r.env.emplace_back(f);
  }
  if (!payload.empty()) return bad("trailing bytes");
  return r;
}

std::string encode_warm_exit(int exit_code) {
  std::string out(kWarmExitMagic);
  const auto n = static_cast<std::uint32_t>(exit_code);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xffU));
  return out;
}

Result<int> decode_warm_exit(std::string_view bytes) {
  if (bytes.size() != kWarmExitBytes || bytes.substr(0, kWarmExitMagic.size()) != kWarmExitMagic) {
    return make_error("invalid_request", "not a warm exit report");
  }
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) {
    n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[kWarmExitMagic.size() + i]))
         << (8 * i);
  }
  if (n > 255) return make_error("invalid_request", "exit code out of range");
  return static_cast<int>(n);
}

bool same_sandbox(const SandboxPlan& parked, const SandboxPlan& run) {
  if (parked.fds.size() != run.fds.size()) return false;
  for (std::size_t i = 0; i < parked.fds.size(); ++i) {
    const auto& a = parked.fds[i];
    const auto& b = run.fds[i];
    if (a.target != b.target || a.role != b.role || a.data != b.data) return false;
  }
  return parked.worker_id == run.worker_id && parked.bwrap_path == run.bwrap_path &&
         parked.argv == run.argv && parked.exec_argv == run.exec_argv && parked.envp == run.envp &&
         parked.uid == run.uid && parked.gid == run.gid && parked.rlimits == run.rlimits &&
         parked.cwd == run.cwd && parked.sandbox_env == run.sandbox_env &&
         parked.command == run.command && parked.port == run.port &&
         parked.network == run.network && parked.slirp4netns_path == run.slirp4netns_path &&
         parked.bundle_path == run.bundle_path && parked.data_dir == run.data_dir &&
         parked.limits == run.limits;
}

}  // namespace paddock::sandbox
